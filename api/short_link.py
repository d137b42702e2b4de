"""`GET /s/{code}` — the short link, the hottest endpoint of the product.

A plain Django view (no DRF): it reads the bearer token (api.auth.bearer_user: a missing,
expired or unknown token is simply an anonymous visit) and the `fx_vid` cookie, asks
distributors.services.short_links.short_link_visit what to answer (the counting, the
attribution and binding rule are there), and answers 302 with the cookies it names
(httponly, SameSite=Lax, Secure over HTTPS).

Unknown code: 404 with a small HTML page (people open short links in a browser, not an API
client). HEAD answers like GET without counting, setting cookies or binding (link previews).
"""
from __future__ import annotations

from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect

from api.auth import bearer_user
from distributors.services.clicks.visitors import VISITOR_COOKIE
from distributors.services.short_links import short_link_visit

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


def short_link_view(request, code: str):
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    answer = short_link_visit(
        code=code,
        visitor_token=request.COOKIES.get(VISITOR_COOKIE),
        user_get=lambda: bearer_user(request),
        preview=request.method == "HEAD",
    )
    if answer.redirect_url is None:
        return _not_found()
    res = HttpResponseRedirect(answer.redirect_url)
    res["Cache-Control"] = "no-store"
    secure = request.is_secure()
    for cookie in answer.cookies:
        res.set_cookie(cookie.name, cookie.value, max_age=cookie.max_age, httponly=True, samesite="Lax",
                       secure=secure)
    return res
