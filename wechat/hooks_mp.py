"""Hooks for official-account events that higher apps react to.

The official account lives in `wechat/` (the lowest layer), but what a QR scene *means*
belongs to higher apps: e.g. `distributors` issues QR codes whose scene is
"dist:<code>" and binds whoever subscribes through one to the distributor. Such apps
register a handler for their scene prefix in their `AppConfig.ready()` (one handler per
prefix; registering a prefix again replaces it; the longest matching prefix wins):

    from wechat.hooks_mp import register_scene_handler
    register_scene_handler("dist:", bind_follower_from_scene)

A handler is called as `fn(openid=..., scene=..., event=..., message=...)` where
`event` is "subscribe" (scanned and followed) or "scan" (already a follower), `scene`
is the full scene string and `message` the wechatpy event. It may return a text to
reply to the user instead of the default welcome. WeChat may deliver one event up to
three times; the message endpoint drops repeats it has seen, but handlers should still
be idempotent.

Text messages: `register_text_handler(name, fn, order=100)` adds `fn(openid=...,
content=..., message=...)`; handlers are asked by `order` (lower first), then in
registration order, and the first that returns a non-empty text answers the user (None:
not mine); registering a name again replaces its handler. Without an answer the default reply is
sent. Text handlers are asked again when WeChat repeats a message, so they must only read
or make idempotent changes.

Both are `core.hooks.Hook`s ("wechat.mp_scene" keyed by prefix, one handler each;
"wechat.mp_text"); they run outside any database transaction of their own.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.hooks import Hook

SceneHandler = Callable[..., Any]
TextHandler = Callable[..., Any]

mp_scene = Hook(
    "wechat.mp_scene", keyed=True, single=True,
    doc="An official-account QR scene (subscribe or scan); keyed by scene prefix, one handler each; "
        "fn(openid=, scene=, event=, message=) -> reply text or None.",
)
mp_text = Hook(
    "wechat.mp_text",
    doc="A text message to the official account; fn(openid=, content=, message=) -> reply text or None "
        "(the first text answers).",
)


class _Held:
    """What a hook holds for a registered handler: the handler itself and, for text
    handlers, its name (the handler is returned as registered, whatever it is)."""

    __slots__ = ("fn", "name")

    def __init__(self, fn: Any, name: str = ""):
        self.fn, self.name = fn, name

    def __call__(self, **kwargs: Any) -> Any:
        return self.fn(**kwargs)


def register_scene_handler(prefix: str, fn: SceneHandler) -> SceneHandler:
    """Route scenes starting with `prefix` to `fn` (the longest matching prefix wins)."""
    if not isinstance(prefix, str) or not prefix:
        raise ValueError("a scene prefix must be a non-empty string")
    mp_scene.register(_Held(fn), key=prefix)
    return fn


def unregister_scene_handler(prefix: str) -> None:
    mp_scene.unregister(key=prefix)


def scene_handler_for(scene: str) -> tuple[str, SceneHandler] | None:
    """The (prefix, handler) registered for `scene`, or None."""
    matches = [p for p in mp_scene.keys() if scene.startswith(p)]
    if not matches:
        return None
    prefix = max(matches, key=len)
    held = mp_scene.one(prefix)
    return (prefix, held.fn) if held is not None else None


def register_text_handler(name: str, fn: TextHandler, *, order: int = 100) -> TextHandler:
    """Ask `fn` about every text message (registering a name again replaces its handler)."""
    if not isinstance(name, str) or not name:
        raise ValueError("a text handler needs a non-empty name")
    unregister_text_handler(name)
    mp_text.register(_Held(fn, name), order=order)
    return fn


def unregister_text_handler(name: str) -> None:
    for held in mp_text.subscribers():
        if held.name == name:
            mp_text.unregister(held)


def text_handlers() -> list[tuple[str, TextHandler]]:
    """The registered (name, handler) pairs, in the order they are asked."""
    return [(held.name, held.fn) for held in mp_text.subscribers()]
