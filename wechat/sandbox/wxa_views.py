"""The sandbox's mini-program API, answered the way WeChat does.

  POST /wechat-sandbox/api/wxa/getwxacodeunlimit?access_token=...
       {scene, page?, width?, auto_color?, line_color?, is_hyaline?}

On success the body is the image itself (a real PNG: a QR code of "wxacode:<scene>" drawn
`width` pixels wide; WeChat draws its round mini-program code); errors are HTTP 200 with a
JSON errcode, as WeChat answers them: 40001/42001 bad or expired token, 47001 bad JSON,
40169 bad scene, 41030 bad page, 40097 bad width. Fault: "wxa.getwxacodeunlimit"
(timeout / fail / http_error, see wechat.sandbox.faults).

  POST /wechat-sandbox/api/wxa/msg_sec_check?access_token=...
       v2: {content, version: 2, scene (1-4), openid}   v1: {content}

The text content check (msgSecCheck). A content containing any word of
`WECHAT_SANDBOX_FLAGGED_WORDS` (case-insensitive) is risky: v2 answers errcode 0 with
result {suggest: "risky", label: 20006} (and a keyword `detail`), v1 errcode 87014 "risky
content"; anything else passes (v2 suggest "pass", label 100; v1 errcode 0). Errors: the
token as above, 47001 bad JSON or content not text, 40003 v2 with an empty or malformed
openid, 40097 bad version / scene. Fault: "wxa.msg_sec_check".
"""
from __future__ import annotations

import io
import secrets

import qrcode
from django.conf import settings
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from PIL import Image

from .models.mp import TokenKind
from .mp_views import _ID_RE, _fault, _json_body, _token_lookup, _wx_error, _wx_ok

SCENE_CHARS = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$&'()*+,/:;=?@-._~")
PAGE_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./")


@csrf_exempt
@require_POST
def wxa_getwxacodeunlimit(request):
    if (fault := _fault("wxa.getwxacodeunlimit")) is not None:
        return fault
    _, error = _token_lookup(request.GET.get("access_token", ""), kind=TokenKind.MP)
    if error is not None:
        return error
    data = _json_body(request)
    if data is None:
        return _wx_error(47001, "data format error")
    scene = data.get("scene")
    if not isinstance(scene, str) or not 1 <= len(scene) <= 32 or not set(scene) <= SCENE_CHARS:
        return _wx_error(40169, "invalid length for scene, or the data is not json string")
    page = data.get("page")
    if page is not None and (
        not isinstance(page, str) or not page or page.startswith("/") or not set(page) <= PAGE_CHARS
    ):
        return _wx_error(41030, "invalid page hint")
    width = data.get("width", 430)
    if isinstance(width, bool) or not isinstance(width, int) or not 280 <= width <= 1280:
        return _wx_error(40097, "invalid args: width")

    image = qrcode.make(f"wxacode:{scene}", border=2).get_image().convert("RGB")
    image = image.resize((width, width), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return HttpResponse(buffer.getvalue(), content_type="image/png")


LABEL_NORMAL, LABEL_ILLEGAL = 100, 20006  # WeChat's labels: 100 normal, 20006 违法犯罪
HIT_SUGGEST = "risky"  # v2's suggest for a flagged word (tests set "review" to see it refused too)


def _flagged_word(content: str) -> str | None:
    """The first configured word `content` contains (case-insensitive), or None."""
    folded = content.casefold()
    for word in settings.WECHAT_SANDBOX_FLAGGED_WORDS:
        word = str(word).strip()
        if word and word.casefold() in folded:
            return word
    return None


@csrf_exempt
@require_POST
def wxa_msg_sec_check(request):
    if (fault := _fault("wxa.msg_sec_check")) is not None:
        return fault
    _, error = _token_lookup(request.GET.get("access_token", ""), kind=TokenKind.MP)
    if error is not None:
        return error
    data = _json_body(request)
    if data is None or not isinstance(data.get("content"), str):
        return _wx_error(47001, "data format error")
    content = data["content"]
    version = data.get("version", 1)
    if isinstance(version, bool) or version not in (1, 2):
        return _wx_error(40097, "invalid args: version")
    word = _flagged_word(content)
    if version == 1:
        if word is not None:
            return _wx_error(87014, "risky content")
        return _wx_ok({"errcode": 0, "errmsg": "ok"})

    scene = data.get("scene")
    if isinstance(scene, bool) or scene not in (1, 2, 3, 4):
        return _wx_error(40097, "invalid args: scene")
    openid = data.get("openid")
    if not isinstance(openid, str) or not _ID_RE.fullmatch(openid):
        return _wx_error(40003, "invalid openid")
    suggest, label = (HIT_SUGGEST, LABEL_ILLEGAL) if word is not None else ("pass", LABEL_NORMAL)
    keyword = {"strategy": "keyword", "errcode": 0, "suggest": suggest, "label": label}
    if word is not None:
        keyword.update(level=90, keyword=word)
    return _wx_ok({
        "errcode": 0,
        "errmsg": "ok",
        "result": {"suggest": suggest, "label": label},
        "detail": [keyword],
        "trace_id": secrets.token_hex(12),
    })


wxa_urlpatterns = [
    path("api/wxa/getwxacodeunlimit", wxa_getwxacodeunlimit, name="sandbox-wxa-getwxacodeunlimit"),
    path("api/wxa/msg_sec_check", wxa_msg_sec_check, name="sandbox-wxa-msg-sec-check"),
]
