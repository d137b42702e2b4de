"""`GET /s/{code}` — the short link, the hottest endpoint of the product.

A plain Django view (no DRF): it normalises the code (anything that cannot be one of our
codes is a 404 before Redis or the database is touched), identifies the visitor, counts the
click (distributors.services.clicks: one Redis round trip on a cache hit), and answers 302 to
`H5_BASE_URL + <target path> + ?sc=<code>` with:

* `fx_vid` — a signed, long-lived, first-party visitor id (set on the first visit; a
  logged-in visitor's cookie is pinned to their user, so later anonymous visits from the same
  browser are the same visitor);
* `fx_attr` — the signed attribution cookie (link id + time), max-age = the binding days; only
  for an approved distributor's link, and not on the distributor's own click.

A logged-in visitor (`Authorization: Bearer`) is also bound to the distributor by the binding
rules. A missing, expired or unknown token is simply an anonymous visit (a redirect must not
fail on a stale login).

Unknown code: 404 with a small HTML page (people open short links in a browser, not an API
client). HEAD answers like GET without counting, setting cookies or binding (link previews).
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect

from accounts.selectors import token_get_active
from distributors.codes import code_normalise
from distributors.services import clicks
from distributors.services.attribution import (
    ATTRIBUTION_COOKIE,
    attribution_max_age_seconds,
    attribution_token_make,
)
from distributors.services.binding import binding_bind

logger = logging.getLogger(__name__)

NOT_FOUND_HTML = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width,initial-scale=1"><title>链接不存在</title></head>'
    '<body style="font-family:sans-serif;text-align:center;padding-top:20vh;color:#333">'
    "<h1>链接不存在或已失效</h1><p>This link does not exist.</p></body></html>"
)


def _not_found() -> HttpResponse:
    res = HttpResponse(NOT_FOUND_HTML, status=404, content_type="text/html; charset=utf-8")
    res["Cache-Control"] = "no-store"
    return res


def _bearer_user(request):
    header = request.META.get("HTTP_AUTHORIZATION")
    if not header:
        return None
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    token = token_get_active(raw=parts[1])
    if token is None or not token.user.is_active:
        return None
    return token.user


def _target_url(path: str, code: str) -> str:
    return f"{settings.H5_BASE_URL}{path}{'&' if '?' in path else '?'}sc={code}"


def short_link_view(request, code: str):
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    code = code_normalise(code)
    if code is None:
        return _not_found()
    if request.method == "HEAD":
        entry = clicks.link_entry_get(code=code)
        return _redirect(entry.path, code) if entry is not None else _not_found()

    user = _bearer_user(request)
    cookie_visitor = clicks.visitor_token_read(token=request.COOKIES.get(clicks.VISITOR_COOKIE))
    if user is not None:
        visitor = clicks.visitor_for_user(user_id=user.pk)
    else:
        visitor = cookie_visitor or clicks.visitor_new()

    result = clicks.click_record(code=code, visitor=visitor)
    if result is None:
        return _not_found()
    entry = result.entry
    res = _redirect(entry.path, code)
    secure = request.is_secure()
    if visitor != cookie_visitor:
        res.set_cookie(clicks.VISITOR_COOKIE, clicks.visitor_token_make(visitor=visitor),
                       max_age=clicks.VISITOR_COOKIE_MAX_AGE, httponly=True, samesite="Lax", secure=secure)
    if entry.active and result.counted:
        res.set_cookie(ATTRIBUTION_COOKIE, attribution_token_make(link_id=entry.link_id),
                       max_age=attribution_max_age_seconds(), httponly=True, samesite="Lax", secure=secure)
        if user is not None:
            try:
                binding_bind(customer=user, link=clicks.share_link_ref(entry=entry), source="click")
            except Exception:  # noqa: BLE001 - the visitor still gets where they were going
                logger.exception("short link %s: binding user %s failed", code, user.pk)
    return res


def _redirect(path: str, code: str) -> HttpResponseRedirect:
    res = HttpResponseRedirect(_target_url(path, code))
    res["Cache-Control"] = "no-store"
    return res
