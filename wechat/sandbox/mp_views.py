"""The sandbox's side of OAuth and the official account, answered the way WeChat does.

Our own helpers (not WeChat's):
  POST /wechat-sandbox/oauth/code/   {openid, nickname?, avatar?, unionid?, scope?} -> {code}
  POST /wechat-sandbox/mp/push/      {openid, event|text, event_key?} -> what our endpoint answered
      (tests may also set timestamp, nonce, repeat (1-5 identical deliveries, as WeChat
      retries), compatible (plaintext fields beside Encrypt, plain_openid to forge the
      plaintext part) and tamper: "body" (another message's Encrypt under this one's
      msg_signature) or "msg_signature")

WeChat's API, as wechatpy calls it (under /wechat-sandbox/api/):
  GET  sns/oauth2/access_token       GET  sns/userinfo
  GET  cgi-bin/token                 POST cgi-bin/qrcode/create
  GET  cgi-bin/showqrcode?ticket=    POST cgi-bin/message/template/send

Faults (wechat.sandbox.faults): "oauth.access_token", "oauth.userinfo", "mp.token",
"mp.qrcode", "mp.template_send" act out timeout / fail (WeChat errcode, default -1) /
http_error; "mp.push" with bad_signature signs the pushed message with a wrong token.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import secrets
import threading
import time
from datetime import timedelta
from urllib.parse import urlencode

import qrcode
import requests
import xmltodict
from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from wechatpy.crypto import WeChatCrypto

from .faults import fault_take, sleep_past_client_timeout
from .models.common import FaultMode
from .models.mp import SandboxAccessToken, SandboxOAuthCode, SandboxQrTicket, SandboxTemplateMessage, TokenKind

logger = logging.getLogger(__name__)

TOKEN_LIFETIME = 7200
MP_ORIGINAL_ID = "gh_sandbox00001"
_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
QR_ACTIONS = {"QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"}
PUSH_EVENTS = {"subscribe", "unsubscribe", "SCAN", "CLICK", "VIEW"}
PUSH_TIMEOUT_SECONDS = 5.0  # WeChat waits 5 seconds for the message endpoint's answer


def _wx_error(errcode: int, errmsg: str) -> JsonResponse:
    """WeChat answers errors with HTTP 200 and a JSON errcode."""
    return JsonResponse({"errcode": errcode, "errmsg": errmsg}, json_dumps_params={"ensure_ascii": False})


def _wx_ok(payload: dict) -> JsonResponse:
    return JsonResponse(payload, json_dumps_params={"ensure_ascii": False})


_sleepers = 0
_sleepers_done = threading.Condition()


class _AfterTimeoutResponse(HttpResponse):
    """The answer to a call the client has already given up on. Once it is fully closed
    (request_finished has run), the sleeper counts as done: see `sandbox_wait_idle`."""

    def close(self):
        global _sleepers
        try:
            super().close()
        finally:
            with _sleepers_done:
                _sleepers -= 1
                _sleepers_done.notify_all()


def sandbox_wait_idle(timeout: float = 30.0) -> bool:
    """Wait until every timeout the sandbox is acting out has finished its request, so a
    test can end without a late request touching the next test's database."""
    with _sleepers_done:
        return _sleepers_done.wait_for(lambda: _sleepers == 0, timeout=timeout)


def _fault(endpoint: str) -> HttpResponse | None:
    """Act out an armed fault. A timeout sleeps past the client's timeout and then answers
    504 without doing the work (so a late answer changes nothing)."""
    global _sleepers
    fault = fault_take(endpoint)
    if fault is None:
        return None
    if fault.mode == FaultMode.TIMEOUT:
        with _sleepers_done:
            _sleepers += 1
        sleep_past_client_timeout()
        return _AfterTimeoutResponse("sandbox timeout", status=504, content_type="text/plain")
    if fault.mode == FaultMode.FAIL:
        code = int(fault.err_code) if fault.err_code.lstrip("-").isdigit() else -1
        return _wx_error(code, "system error (sandbox fault)")
    if fault.mode == FaultMode.HTTP_ERROR:
        return HttpResponse("sandbox fault", status=500, content_type="text/plain")
    return None


def _bad_request(message: str) -> JsonResponse:
    return JsonResponse({"code": "invalid", "message": message, "extra": {}}, status=400)


def _json_body(request) -> dict | None:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _token_lookup(raw: str, *, kind: str) -> tuple[SandboxAccessToken | None, JsonResponse | None]:
    token = SandboxAccessToken.objects.filter(token=raw or "", kind=kind).first()
    if token is None or token.appid != settings.WECHAT_APPID:
        return None, _wx_error(40001, "invalid credential, access_token is invalid or not latest")
    if token.expires_at <= timezone.now():
        return None, _wx_error(42001, "access_token expired")
    return token, None


# --- our helpers ---------------------------------------------------------------------


@csrf_exempt
@require_POST
def oauth_code_issue(request):
    """What WeChat does when a user authorises our page: a one-time code for that user."""
    data = _json_body(request)
    if data is None:
        return _bad_request("Send a JSON object.")
    openid = data.get("openid")
    if not isinstance(openid, str) or not _ID_RE.fullmatch(openid):
        return _bad_request("openid must be 1-64 characters of [A-Za-z0-9_-].")
    unionid = data.get("unionid") or ""
    if not isinstance(unionid, str) or (unionid and not _ID_RE.fullmatch(unionid)):
        return _bad_request("unionid must be 1-64 characters of [A-Za-z0-9_-].")
    nickname, avatar = data.get("nickname") or "", data.get("avatar") or ""
    if not isinstance(nickname, str) or len(nickname) > 64 or not isinstance(avatar, str) or len(avatar) > 512:
        return _bad_request("nickname (<=64) and avatar (<=512) must be strings.")
    scope = data.get("scope") or "snsapi_userinfo"
    if scope not in ("snsapi_userinfo", "snsapi_base"):
        return _bad_request("scope must be snsapi_userinfo or snsapi_base.")
    code = SandboxOAuthCode.objects.create(
        code=secrets.token_hex(16),
        appid=settings.WECHAT_APPID,
        openid=openid,
        unionid=unionid,
        nickname=nickname,
        avatar_url=avatar,
        scope=scope,
    )
    return JsonResponse({"code": code.code, "expires_in": SandboxOAuthCode.LIFETIME_SECONDS}, status=201)


def _push_xml(*, openid: str, data: dict) -> tuple[str, str] | str:
    """The XML WeChat would send for the user's action, and a description; or an error message."""
    now = int(time.time())
    head = (
        f"<ToUserName><![CDATA[{MP_ORIGINAL_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{now}</CreateTime>"
    )
    if data.get("text") is not None:
        text = data["text"]
        if not isinstance(text, str) or not text or len(text) > 2048 or "]]>" in text:
            return "text must be a non-empty string."
        msg_id = secrets.randbelow(10**18)
        return f"<xml>{head}<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>" \
            f"<MsgId>{msg_id}</MsgId></xml>", "text"
    event = data.get("event")
    if event not in PUSH_EVENTS:
        return f"event must be one of {sorted(PUSH_EVENTS)} (or send text)."
    key = data.get("event_key") or ""
    if not isinstance(key, str) or len(key) > 128 or "]]>" in key:
        return "event_key must be a string of at most 128 characters."
    extra = ""
    if key:
        ticket = SandboxQrTicket.objects.filter(scene_str=key).order_by("-pk").first()
        if event == "subscribe":
            extra = f"<EventKey><![CDATA[qrscene_{key}]]></EventKey>"
        else:
            extra = f"<EventKey><![CDATA[{key}]]></EventKey>"
        if ticket is not None and event in ("subscribe", "SCAN"):
            extra += f"<Ticket><![CDATA[{ticket.ticket}]]></Ticket>"
    elif event == "SCAN":
        return "SCAN needs an event_key (the QR scene)."
    return f"<xml>{head}<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{extra}</xml>", event


def _sign(token: str, *parts: str) -> str:
    return hashlib.sha1("".join(sorted((token, *parts))).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


@csrf_exempt
@require_POST
def mp_push(request):
    """Act out a user's action in the official account: build the signed XML WeChat would
    POST to our message endpoint, POST it (real HTTP) and return what we answered."""
    data = _json_body(request)
    if data is None:
        return _bad_request("Send a JSON object.")
    openid = data.get("openid")
    if not isinstance(openid, str) or not _ID_RE.fullmatch(openid):
        return _bad_request("openid must be 1-64 characters of [A-Za-z0-9_-].")
    built = _push_xml(openid=openid, data=data)
    if isinstance(built, str):
        return _bad_request(built)
    xml, kind = built

    options = _push_options(data)
    if isinstance(options, str):
        return _bad_request(options)
    fault = fault_take("mp.push")
    token = settings.WECHAT_MP_TOKEN
    if fault is not None and fault.mode == FaultMode.BAD_SIGNATURE:
        token = "not-" + token
    timestamp, nonce = options["timestamp"], options["nonce"]
    params = {"signature": _sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, "openid": openid}
    body = xml
    crypto = None
    if settings.WECHAT_MP_AES_KEY:
        crypto = WeChatCrypto(token, settings.WECHAT_MP_AES_KEY, settings.WECHAT_APPID)
        body = crypto.encrypt_message(xml, nonce, timestamp)
        envelope = xmltodict.parse(body)["xml"]
        params["encrypt_type"] = "aes"
        params["msg_signature"] = envelope["MsgSignature"]
        encrypt = envelope["Encrypt"]
        if options["tamper"] == "body":
            # another message, encrypted with the right key, under this message's msg_signature
            other = xml.replace(f"<![CDATA[{openid}]]>", "<![CDATA[o-tampered]]>")
            encrypt = xmltodict.parse(crypto.encrypt_message(other, nonce, timestamp))["xml"]["Encrypt"]
        elif options["tamper"] == "msg_signature":
            params["msg_signature"] = "0" * 40
        if options["compatible"]:
            # compatible mode: the plaintext fields beside Encrypt (optionally claiming someone else)
            plain = re.sub(r"^<xml>|</xml>$", "", xml)
            if options["plain_openid"]:
                plain = plain.replace(f"<![CDATA[{openid}]]>", f"<![CDATA[{options['plain_openid']}]]>")
        else:
            plain = f"<ToUserName><![CDATA[{MP_ORIGINAL_ID}]]></ToUserName>"
        body = f"<xml>{plain}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"

    url = f"{settings.PUBLIC_BASE_URL}/api/v1/wechat/mp/?{urlencode(params)}"
    answers = []
    for _ in range(options["repeat"]):
        try:
            res = requests.post(
                url, data=body.encode("utf-8"), headers={"Content-Type": "text/xml"}, timeout=PUSH_TIMEOUT_SECONDS
            )
        except requests.RequestException as exc:
            return JsonResponse({"sent": kind, "error": type(exc).__name__}, status=502)
        answers.append({"status": res.status_code, "body": res.text, "reply": _read_reply(crypto, res)})
    return JsonResponse({"sent": kind, **answers[0], "answers": answers})


def _push_options(data: dict) -> dict | str:
    """The test-only knobs of a push, checked; or an error message."""
    timestamp = data.get("timestamp", str(int(time.time())))
    nonce = data.get("nonce", secrets.token_hex(8))
    if not isinstance(timestamp, str) or not 1 <= len(timestamp) <= 32:
        return "timestamp must be a string."
    if not isinstance(nonce, str) or not _ID_RE.fullmatch(nonce):
        return "nonce must be 1-64 characters of [A-Za-z0-9_-]."
    repeat = data.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 5:
        return "repeat must be an integer from 1 to 5."
    tamper = data.get("tamper") or ""
    if tamper not in ("", "body", "msg_signature"):
        return "tamper must be 'body' or 'msg_signature'."
    if tamper and not settings.WECHAT_MP_AES_KEY:
        return "tamper needs safe mode (WECHAT_MP_AES_KEY)."
    compatible = data.get("compatible", False)
    plain_openid = data.get("plain_openid") or ""
    if not isinstance(compatible, bool) or (compatible and not settings.WECHAT_MP_AES_KEY):
        return "compatible must be a boolean, and needs safe mode (WECHAT_MP_AES_KEY)."
    if not isinstance(plain_openid, str) or (plain_openid and not _ID_RE.fullmatch(plain_openid)):
        return "plain_openid must be 1-64 characters of [A-Za-z0-9_-]."
    return {"timestamp": timestamp, "nonce": nonce, "repeat": repeat, "tamper": tamper,
            "compatible": compatible, "plain_openid": plain_openid}


def _read_reply(crypto, res) -> str | None:
    """Our endpoint's answer as the user would see it (decrypted in safe mode)."""
    if crypto is None or res.status_code != 200 or "<Encrypt>" not in res.text:
        return res.text
    parsed = xmltodict.parse(res.text)["xml"]
    try:
        return crypto.decrypt_message(res.text, parsed["MsgSignature"], parsed["TimeStamp"], parsed["Nonce"])
    except Exception:  # noqa: BLE001 - report what we could not read
        return None


# --- WeChat's API --------------------------------------------------------------------


@require_GET
def sns_oauth2_access_token(request):
    if (fault := _fault("oauth.access_token")) is not None:
        return fault
    q = request.GET
    if q.get("appid") != settings.WECHAT_APPID:
        return _wx_error(40013, "invalid appid")
    if not secrets.compare_digest(str(q.get("secret", "")).encode(), settings.WECHAT_SECRET.encode()):
        return _wx_error(40125, "invalid appsecret")
    if q.get("grant_type") != "authorization_code":
        return _wx_error(40002, "invalid grant_type")
    now = timezone.now()
    with transaction.atomic():
        code = SandboxOAuthCode.objects.filter(code=q.get("code") or "", appid=settings.WECHAT_APPID).first()
        if code is None:
            return _wx_error(40029, "invalid code")
        if code.created_at <= now - timedelta(seconds=SandboxOAuthCode.LIFETIME_SECONDS):
            return _wx_error(40029, "invalid code, code expired")
        # Used once: a conditional UPDATE, so two concurrent exchanges cannot both win.
        if not SandboxOAuthCode.objects.filter(pk=code.pk, used_at__isnull=True).update(used_at=now):
            return _wx_error(40163, "code been used")
        token = SandboxAccessToken.objects.create(
            token=secrets.token_urlsafe(48),
            kind=TokenKind.OAUTH,
            appid=code.appid,
            openid=code.openid,
            scope=code.scope,
            oauth_code=code,
            expires_at=now + timedelta(seconds=TOKEN_LIFETIME),
        )
    payload = {
        "access_token": token.token,
        "expires_in": TOKEN_LIFETIME,
        "refresh_token": secrets.token_urlsafe(48),
        "openid": code.openid,
        "scope": code.scope,
    }
    if code.unionid:
        payload["unionid"] = code.unionid
    return _wx_ok(payload)


@require_GET
def sns_userinfo(request):
    if (fault := _fault("oauth.userinfo")) is not None:
        return fault
    token, error = _token_lookup(request.GET.get("access_token", ""), kind=TokenKind.OAUTH)
    if error is not None:
        return error
    if request.GET.get("openid") != token.openid:
        return _wx_error(40003, "invalid openid")
    if token.scope != "snsapi_userinfo":
        return _wx_error(48001, "api unauthorized")
    code = token.oauth_code
    payload = {
        "openid": token.openid,
        "nickname": code.nickname if code else "",
        "sex": 0,
        "province": "",
        "city": "",
        "country": "",
        "headimgurl": code.avatar_url if code else "",
        "privilege": [],
    }
    if code and code.unionid:
        payload["unionid"] = code.unionid
    return _wx_ok(payload)


@require_GET
def cgi_token(request):
    if (fault := _fault("mp.token")) is not None:
        return fault
    q = request.GET
    if q.get("grant_type") != "client_credential":
        return _wx_error(40002, "invalid grant_type")
    if q.get("appid") != settings.WECHAT_APPID:
        return _wx_error(40013, "invalid appid")
    if not secrets.compare_digest(str(q.get("secret", "")).encode(), settings.WECHAT_SECRET.encode()):
        return _wx_error(40125, "invalid appsecret")
    token = SandboxAccessToken.objects.create(
        token=secrets.token_urlsafe(48),
        kind=TokenKind.MP,
        appid=settings.WECHAT_APPID,
        expires_at=timezone.now() + timedelta(seconds=TOKEN_LIFETIME),
    )
    return _wx_ok({"access_token": token.token, "expires_in": TOKEN_LIFETIME})


@csrf_exempt
@require_POST
def cgi_qrcode_create(request):
    if (fault := _fault("mp.qrcode")) is not None:
        return fault
    _, error = _token_lookup(request.GET.get("access_token", ""), kind=TokenKind.MP)
    if error is not None:
        return error
    data = _json_body(request)
    if data is None:
        return _wx_error(47001, "data format error")
    action = data.get("action_name")
    if action not in QR_ACTIONS:
        return _wx_error(40097, "invalid args: action_name")
    scene = (data.get("action_info") or {}).get("scene") or {}
    scene_str, scene_id = scene.get("scene_str"), scene.get("scene_id")
    if action.endswith("STR_SCENE"):
        if not isinstance(scene_str, str) or not 1 <= len(scene_str) <= 64:
            return _wx_error(40097, "invalid args: scene_str")
        scene_id = None
    else:
        if isinstance(scene_id, bool) or not isinstance(scene_id, int) or scene_id <= 0:
            return _wx_error(40097, "invalid args: scene_id")
        scene_str = ""
    expire = None
    if not action.startswith("QR_LIMIT"):
        expire = data.get("expire_seconds", 60)
        if isinstance(expire, bool) or not isinstance(expire, int) or expire <= 0:
            return _wx_error(40097, "invalid args: expire_seconds")
        expire = min(expire, 2592000)
    ticket = SandboxQrTicket.objects.create(
        ticket=secrets.token_urlsafe(48),
        action_name=action,
        scene_str=scene_str,
        scene_id=scene_id,
        url=f"http://weixin.qq.com/q/{secrets.token_urlsafe(16)}",
        expire_seconds=expire,
    )
    payload = {"ticket": ticket.ticket, "url": ticket.url}
    if expire is not None:
        payload["expire_seconds"] = expire
    return _wx_ok(payload)


@require_GET
def cgi_showqrcode(request):
    ticket = SandboxQrTicket.objects.filter(ticket=request.GET.get("ticket") or "").first()
    if ticket is None:
        return HttpResponse("ticket not found", status=404, content_type="text/plain")
    if ticket.expire_seconds is not None and ticket.created_at + timedelta(seconds=ticket.expire_seconds) < (
        timezone.now()
    ):
        return HttpResponse("ticket expired", status=404, content_type="text/plain")
    image = qrcode.make(ticket.url)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    response = HttpResponse(buffer.getvalue(), content_type="image/png")
    response["Cache-Control"] = "public, max-age=3600"
    return response


@csrf_exempt
@require_POST
def cgi_template_send(request):
    if (fault := _fault("mp.template_send")) is not None:
        return fault
    _, error = _token_lookup(request.GET.get("access_token", ""), kind=TokenKind.MP)
    if error is not None:
        return error
    data = _json_body(request)
    if data is None:
        return _wx_error(47001, "data format error")
    touser, template_id = data.get("touser"), data.get("template_id")
    if not isinstance(touser, str) or not _ID_RE.fullmatch(touser):
        return _wx_error(40003, "invalid openid")
    if not isinstance(template_id, str) or not template_id:
        return _wx_error(40037, "invalid template_id")
    fields = data.get("data")
    if not isinstance(fields, dict):
        return _wx_error(47001, "data format error")
    url = data.get("url") or ""
    message = SandboxTemplateMessage.objects.create(
        touser=touser, template_id=template_id, url=url if isinstance(url, str) else "", data=fields
    )
    return _wx_ok({"errcode": 0, "errmsg": "ok", "msgid": message.pk})


mp_urlpatterns = [
    path("oauth/code/", oauth_code_issue, name="sandbox-oauth-code"),
    path("mp/push/", mp_push, name="sandbox-mp-push"),
    path("api/sns/oauth2/access_token", sns_oauth2_access_token, name="sandbox-sns-access-token"),
    path("api/sns/userinfo", sns_userinfo, name="sandbox-sns-userinfo"),
    path("api/cgi-bin/token", cgi_token, name="sandbox-cgi-token"),
    path("api/cgi-bin/qrcode/create", cgi_qrcode_create, name="sandbox-qrcode-create"),
    path("api/cgi-bin/showqrcode", cgi_showqrcode, name="sandbox-showqrcode"),
    path("api/cgi-bin/message/template/send", cgi_template_send, name="sandbox-template-send"),
]
