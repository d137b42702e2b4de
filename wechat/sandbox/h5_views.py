"""The sandbox's browser pages for the H5 shop (h5/), played the way WeChat's own screens behave.

  GET/POST /wechat-sandbox/connect/oauth2/authorize?appid=&redirect_uri=&response_type=code&scope=&state=
      WeChat's web-authorisation step. A page to pick an existing test identity (the openids the
      sandbox has issued codes for, then the shop's users with an openid, e.g. the demo's; newest
      first) or create one (openid, nickname); the choice
      issues a one-time code and redirects to redirect_uri?code=…&state=… as WeChat does.
      redirect_uri must point at this server's host (or one of ALLOWED_HOSTS).
  GET  /wechat-sandbox/pay/{prepay_id}/sheet/?return=/h5/...
      WeChat's pay sheet: the amount, the merchant and what is paid for; "confirm" POSTs
      /wechat-sandbox/pay/{prepay_id}/confirm/ (which sends the signed payment notification to our
      notify URL) and then goes to `return` (a path on this site); "cancel" goes to `return` with
      `cancelled=1` added.

WeChat's API, as wechatpy calls it:
  GET  /wechat-sandbox/api/cgi-bin/ticket/getticket?access_token=&type=jsapi   the JS-SDK ticket
      (fault endpoint "mp.ticket": timeout / fail / http_error)
"""

from __future__ import annotations

import hashlib
import re
import secrets
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from .models.mp import SandboxOAuthCode, TokenKind
from .models.pay import SandboxPrepay
from .mp_views import TOKEN_LIFETIME, _fault, _token_lookup, _wx_error, _wx_ok

_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
RECENT_IDENTITIES = 30


def _allowed_hosts(request) -> set[str]:
    hosts = {request.get_host()}
    hosts.update(h for h in settings.ALLOWED_HOSTS if h and "*" not in h and not h.startswith("."))
    return hosts


def _recent_identities() -> list[dict]:
    """The test identities to pick: the openids the sandbox issued codes for and the shop's users
    who have an openid (e.g. load_demo's), newest first, each once."""
    seen: dict[str, dict] = {}
    rows = SandboxOAuthCode.objects.filter(appid=settings.WECHAT_APPID).order_by("-created_at", "-pk")
    for row in rows.values("openid", "nickname", "avatar_url", "unionid")[:500]:
        seen.setdefault(row["openid"], row)
        if len(seen) >= RECENT_IDENTITIES:
            return list(seen.values())
    users = get_user_model().objects.filter(openid__isnull=False, is_staff=False).exclude(openid="")
    for row in users.order_by("-date_joined", "-pk").values("openid", "nickname", "avatar_url", "unionid")[:100]:
        seen.setdefault(row["openid"], row)
        if len(seen) >= RECENT_IDENTITIES:
            break
    return list(seen.values())


def _identity(openid: str) -> dict:
    """What the sandbox knows of `openid` (its last code, else the shop's user): nickname, avatar, unionid."""
    fields = ("nickname", "avatar_url", "unionid")
    row = (
        SandboxOAuthCode.objects.filter(appid=settings.WECHAT_APPID, openid=openid)
        .order_by("-created_at", "-pk")
        .values(*fields)
        .first()
    )
    return row or get_user_model().objects.filter(openid=openid).values(*fields).first() or {}


def _error_page(request, message: str, status: int = 400) -> HttpResponse:
    return render(request, "wechat_sandbox/error.html", {"message": message}, status=status)


@csrf_exempt  # WeChat's page, not ours: no CSRF cookie (ours is Secure-only, the sandbox runs over http)
@require_http_methods(["GET", "POST"])
def oauth_authorize(request):
    q = request.GET
    appid, redirect_uri = q.get("appid", ""), q.get("redirect_uri", "")
    scope, state = q.get("scope", ""), q.get("state", "")
    if appid != settings.WECHAT_APPID:
        return _error_page(request, "appid 参数错误 (invalid appid)")
    if q.get("response_type") != "code":
        return _error_page(request, "response_type 参数错误 (response_type must be code)")
    if scope not in ("snsapi_userinfo", "snsapi_base"):
        return _error_page(request, "scope 参数错误 (invalid scope)")
    if len(state) > 128:
        return _error_page(request, "state 参数错误 (state too long)")
    if (
        not redirect_uri
        or not url_has_allowed_host_and_scheme(redirect_uri, allowed_hosts=_allowed_hosts(request), require_https=False)
        or not redirect_uri.startswith(("http://", "https://"))
    ):
        return _error_page(request, "redirect_uri 参数错误 (redirect_uri must be an absolute URL on this site)")

    error = ""
    form = {"openid": "", "nickname": ""}
    if request.method == "POST":
        openid = (request.POST.get("openid") or "").strip()
        nickname = (request.POST.get("nickname") or "").strip()
        form = {"openid": openid, "nickname": nickname}
        if not _ID_RE.fullmatch(openid):
            error = "openid: 1-64 characters of A-Z a-z 0-9 _ -"
        elif len(nickname) > 64:
            error = "nickname: at most 64 characters"
        else:
            known = _identity(openid)
            code = SandboxOAuthCode.objects.create(
                code=secrets.token_hex(16),
                appid=appid,
                openid=openid,
                nickname=nickname or known.get("nickname", ""),
                unionid=known.get("unionid", ""),
                avatar_url=known.get("avatar_url", ""),
                scope=scope,
            )
            sep = "&" if "?" in redirect_uri else "?"
            target = f"{redirect_uri}{sep}code={code.code}"
            if state:
                target += f"&state={quote(state, safe='')}"
            return HttpResponseRedirect(target)
    context = {
        "identities": _recent_identities(),
        "suggested_openid": f"o-test-{secrets.token_hex(4)}",
        "form": form,
        "error": error,
        "scope": scope,
        "redirect_host": redirect_uri.split("/")[2],
    }
    return render(request, "wechat_sandbox/authorize.html", context, status=400 if error else 200)


@require_GET
def pay_sheet(request, prepay_id: str):
    prepay = SandboxPrepay.objects.filter(prepay_id=prepay_id).first()
    if prepay is None:
        return _error_page(request, "没有这笔支付 (no such prepay_id)", status=404)
    back = request.GET.get("return", "")
    if (
        not back.startswith("/")
        or back.startswith("//")
        or not url_has_allowed_host_and_scheme(back, allowed_hosts=_allowed_hosts(request))
    ):
        back = ""
    fen = int(prepay.total_fee)
    context = {
        "prepay": prepay,
        "amount": f"¥{fen // 100}.{fen % 100:02d}",
        "merchant": getattr(settings, "SHOP_NAME", "") or f"商户 {prepay.mch_id}",
        "back": back,
        # "cancel" tells the page it came back to that the person closed the sheet unpaid
        "cancel": f"{back}{'&' if '?' in back else '?'}cancelled=1" if back else "",
    }
    return render(request, "wechat_sandbox/pay_sheet.html", context)


@require_GET
def cgi_ticket_getticket(request):
    if (fault := _fault("mp.ticket")) is not None:
        return fault
    token, error = _token_lookup(request.GET.get("access_token", ""), kind=TokenKind.MP)
    if error is not None:
        return error
    if request.GET.get("type", "jsapi") != "jsapi":
        return _wx_error(40097, "invalid args: type")
    ticket = hashlib.sha256(f"jsapi:{token.token}".encode()).hexdigest()
    return _wx_ok({"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": TOKEN_LIFETIME})


h5_urlpatterns = [
    path("connect/oauth2/authorize", oauth_authorize, name="sandbox-oauth-authorize"),
    path("pay/<str:prepay_id>/sheet/", pay_sheet, name="sandbox-pay-sheet"),
    path("api/cgi-bin/ticket/getticket", cgi_ticket_getticket, name="sandbox-ticket-getticket"),
]
