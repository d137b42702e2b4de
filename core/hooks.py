"""One way to offer a hook: how a lower app lets higher apps react without importing them.

An app that offers hooks declares them in its own `hooks.py` as `Hook` objects and wraps
each in plain functions with one shape:

    # mall/hooks.py (the offerer)
    order_moment = Hook("mall.order_moment", keyed=True, doc="...")

    def register_order_handler(moment, fn, *, order=100): order_moment.register(fn, key=moment, order=order)
    def unregister_order_handler(moment, fn): order_moment.unregister(fn, key=moment)

Subscribers register in their `AppConfig.ready()` and nowhere else (not at import time,
not from a service module). `order` makes the running order explicit (lower first; ties
in registration order) instead of leaning on INSTALLED_APPS. A single-slot hook
(`single=True`: the mall's attributor, the refund-window default) holds at most one
subscriber; registering another replaces it.

Every Hook is listed by `hooks_all()`; docs/architecture.md lists each one with its
offerer, subscribers and the transaction it runs in, and a test keeps the two in step.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

_registry: dict[str, Hook] = {}
_registry_lock = threading.Lock()


@dataclass(order=True, frozen=True)
class _Subscriber:
    order: int
    seq: int
    fn: Callable[..., Any] = field(compare=False)


class Hook:
    """A named list of subscribers, one list per key when `keyed` (a payment purpose, an
    order moment, a QR scene prefix)."""

    def __init__(self, name: str, *, doc: str, keyed: bool = False, single: bool = False):
        if not name or not doc:
            raise ValueError("a hook needs a name and a doc line")
        self.name, self.doc, self.keyed, self.single = name, doc, keyed, single
        self._subs: dict[Hashable, list[_Subscriber]] = {}
        self._seq = 0
        self._lock = threading.Lock()
        with _registry_lock:
            if name in _registry:
                raise ValueError(f"hook {name!r} is declared twice")
            _registry[name] = self

    def _key(self, key: Hashable | None) -> Hashable | None:
        if self.keyed and key is None:
            raise ValueError(f"hook {self.name} needs a key")
        if not self.keyed and key is not None:
            raise ValueError(f"hook {self.name} takes no key")
        return key

    def register(self, fn: Callable[..., Any], *, key: Hashable | None = None, order: int = 100) -> Callable[..., Any]:
        """Subscribe `fn` (again: it moves to `order`, never runs twice)."""
        if not callable(fn):
            raise TypeError(f"hook {self.name}: {fn!r} is not callable")
        key = self._key(key)
        with self._lock:
            subs = [] if self.single else [s for s in self._subs.get(key, []) if s.fn != fn]
            self._seq += 1
            subs.append(_Subscriber(order=order, seq=self._seq, fn=fn))
            self._subs[key] = sorted(subs)
        return fn

    def unregister(self, fn: Callable[..., Any] | None = None, *, key: Hashable | None = None) -> None:
        """Remove `fn` (or, with fn=None, every subscriber of `key`)."""
        key = self._key(key)
        with self._lock:
            if fn is None:
                self._subs.pop(key, None)
            else:
                self._subs[key] = [s for s in self._subs.get(key, []) if s.fn != fn]

    def replace(self, old: Callable[..., Any], new: Callable[..., Any], *, key: Hashable | None = None) -> None:
        """Put `new` in `old`'s place (same order, same position): for instrumentation, e.g.
        the bench's timer around a subscriber. KeyError when `old` is not subscribed."""
        if not callable(new):
            raise TypeError(f"hook {self.name}: {new!r} is not callable")
        key = self._key(key)
        with self._lock:
            subs = self._subs.get(key, [])
            for i, sub in enumerate(subs):
                if sub.fn == old:
                    subs[i] = _Subscriber(order=sub.order, seq=sub.seq, fn=new)
                    return
        raise KeyError(f"hook {self.name}: {old!r} is not subscribed")

    def subscribers(self, key: Hashable | None = None) -> list[Callable[..., Any]]:
        """The subscribers of `key`, in running order."""
        key = self._key(key)
        with self._lock:
            return [s.fn for s in self._subs.get(key, [])]

    def one(self, key: Hashable | None = None) -> Callable[..., Any] | None:
        """A single-slot hook's subscriber, or None."""
        subs = self.subscribers(key)
        return subs[-1] if subs else None

    def keys(self) -> list[Hashable]:
        with self._lock:
            return [k for k, subs in self._subs.items() if subs]

    def __repr__(self) -> str:
        return f"Hook({self.name!r})"


def hooks_all() -> list[Hook]:
    """Every declared hook, by name (its module must have been imported: apps' hooks.py are
    imported by their subscribers' ready())."""
    with _registry_lock:
        return sorted(_registry.values(), key=lambda h: h.name)
