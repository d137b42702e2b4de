"""Hooks for official-account events that higher apps react to.

The official account lives in `wechat/` (the lowest layer), but what a QR scene *means*
belongs to higher apps: e.g. `distributors` issues QR codes whose scene is
"dist:<code>" and binds whoever subscribes through one to the distributor. Such apps
register a handler for their scene prefix in their `AppConfig.ready()`:

    from wechat.hooks_mp import register_scene_handler
    register_scene_handler("dist:", bind_follower_from_scene)

A handler is called as `fn(openid=..., scene=..., event=..., message=...)` where
`event` is "subscribe" (scanned and followed) or "scan" (already a follower), `scene`
is the full scene string and `message` the wechatpy event. It may return a text to
reply to the user instead of the default welcome. WeChat may deliver one event up to
three times; the message endpoint drops repeats it has seen, but handlers should still
be idempotent.

Text messages: `register_text_handler(name, fn)` adds `fn(openid=..., content=...,
message=...)`; handlers are asked in registration order and the first that returns a
non-empty text answers the user (None: not mine). Without an answer the default reply is
sent. Text handlers are asked again when WeChat repeats a message, so they must only read
or make idempotent changes.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

SceneHandler = Callable[..., Any]

_lock = threading.Lock()
_handlers: dict[str, SceneHandler] = {}


def register_scene_handler(prefix: str, fn: SceneHandler) -> SceneHandler:
    """Route scenes starting with `prefix` to `fn` (the longest matching prefix wins)."""
    if not isinstance(prefix, str) or not prefix:
        raise ValueError("a scene prefix must be a non-empty string")
    with _lock:
        _handlers[prefix] = fn
    return fn


def unregister_scene_handler(prefix: str) -> None:
    with _lock:
        _handlers.pop(prefix, None)


def scene_handler_for(scene: str) -> tuple[str, SceneHandler] | None:
    """The (prefix, handler) registered for `scene`, or None."""
    with _lock:
        matches = [(p, fn) for p, fn in _handlers.items() if scene.startswith(p)]
    if not matches:
        return None
    return max(matches, key=lambda item: len(item[0]))


TextHandler = Callable[..., Any]
_text_handlers: dict[str, TextHandler] = {}


def register_text_handler(name: str, fn: TextHandler) -> TextHandler:
    """Ask `fn` about every text message (registering a name again replaces its handler)."""
    if not isinstance(name, str) or not name:
        raise ValueError("a text handler needs a non-empty name")
    with _lock:
        _text_handlers[name] = fn
    return fn


def unregister_text_handler(name: str) -> None:
    with _lock:
        _text_handlers.pop(name, None)


def text_handlers() -> list[tuple[str, TextHandler]]:
    """The registered (name, handler) pairs, in registration order."""
    with _lock:
        return list(_text_handlers.items())
