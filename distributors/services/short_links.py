"""`GET /s/{code}`: what to answer a visit of a short link, in one call.

`short_link_visit` normalises the code (anything that cannot be one of our codes is "not
found" before Redis or the database is touched), identifies the visitor, counts the click
(clicks/record.py: no I/O in write-behind mode, one Redis round trip synchronously) and says
where to redirect (`H5_BASE_URL + <target path> + ?sc=<code>`) and which cookies to set:

* `fx_vid` — the signed visitor id, when the visitor has none yet (or another one: a
  logged-in visitor's cookie is pinned to their user, so later anonymous visits from the same
  browser are the same visitor);
* `fx_attr` — the signed attribution cookie (link id + time), max-age = the binding days.

The rule: attribution (the `fx_attr` cookie) and binding happen only when the link is
active (an approved distributor's) and the click counted (not the distributor's own). A
logged-in visitor is then bound to the distributor by the binding rules (source "click"); a
failed binding is logged and the visitor still gets where they were going.

`preview=True` (HEAD, link previews) resolves the code without counting, setting cookies or
binding. No database query on the hot path (the entry is cached; see clicks/entries.py).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from ..codes import code_normalise
from .attribution import ATTRIBUTION_COOKIE, attribution_max_age_seconds, attribution_token_make
from .binding import binding_bind
from .clicks.entries import link_entry_get, share_link_ref
from .clicks.record import click_record
from .clicks.visitors import (
    VISITOR_COOKIE,
    VISITOR_COOKIE_MAX_AGE,
    visitor_for_user,
    visitor_new,
    visitor_token_make,
    visitor_token_read,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Cookie:
    name: str
    value: str
    max_age: int


@dataclass(frozen=True, slots=True)
class ShortLinkAnswer:
    """Where to send the visitor (None: the code is unknown, answer 404) and the cookies to set."""

    redirect_url: str | None
    cookies: tuple[Cookie, ...] = ()


NOT_FOUND = ShortLinkAnswer(redirect_url=None)


def short_link_target_url(*, path: str, code: str) -> str:
    return f"{settings.H5_BASE_URL}{path}{'&' if '?' in path else '?'}sc={code}"


def short_link_visit(*, code: str, visitor_token: str | None = None, user_get: Callable[[], Any] | None = None,
                     preview: bool = False) -> ShortLinkAnswer:
    """A visit of `/s/{code}` with the `fx_vid` cookie value `visitor_token`; see the module
    docstring. `user_get()` returns the logged-in visitor (an active user) or None; it is
    called only for a well-formed code, so a malformed one costs no token lookup."""
    code = code_normalise(code)
    if code is None:
        return NOT_FOUND
    if preview:
        entry = link_entry_get(code=code)
        return NOT_FOUND if entry is None else ShortLinkAnswer(short_link_target_url(path=entry.path, code=code))

    user = user_get() if user_get is not None else None
    cookie_visitor = visitor_token_read(token=visitor_token)
    if user is not None:
        visitor = visitor_for_user(user_id=user.pk)
    else:
        visitor = cookie_visitor or visitor_new()

    result = click_record(code=code, visitor=visitor)
    if result is None:
        return NOT_FOUND
    entry = result.entry
    cookies = []
    if visitor != cookie_visitor:
        cookies.append(Cookie(VISITOR_COOKIE, visitor_token_make(visitor=visitor), VISITOR_COOKIE_MAX_AGE))
    if entry.active and result.counted:
        cookies.append(Cookie(ATTRIBUTION_COOKIE, attribution_token_make(link_id=entry.link_id),
                              attribution_max_age_seconds()))
        if user is not None:
            try:
                binding_bind(customer=user, link=share_link_ref(entry=entry), source="click")
            except Exception:  # noqa: BLE001 - the visitor still gets where they were going
                logger.exception("short link %s: binding user %s failed", code, user.pk)
    return ShortLinkAnswer(short_link_target_url(path=entry.path, code=code), tuple(cookies))
