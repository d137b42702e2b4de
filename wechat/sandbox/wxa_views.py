"""The sandbox's mini-program API, answered the way WeChat does.

  POST /wechat-sandbox/api/wxa/getwxacodeunlimit?access_token=...
       {scene, page?, width?, auto_color?, line_color?, is_hyaline?}

On success the body is the image itself (a real PNG: a QR code of "wxacode:<scene>" drawn
`width` pixels wide; WeChat draws its round mini-program code); errors are HTTP 200 with a
JSON errcode, as WeChat answers them: 40001/42001 bad or expired token, 47001 bad JSON,
40169 bad scene, 41030 bad page, 40097 bad width. Fault: "wxa.getwxacodeunlimit"
(timeout / fail / http_error, see wechat.sandbox.faults).
"""
from __future__ import annotations

import io

import qrcode
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from PIL import Image

from .models.mp import TokenKind
from .mp_views import _fault, _json_body, _token_lookup, _wx_error

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


wxa_urlpatterns = [
    path("api/wxa/getwxacodeunlimit", wxa_getwxacodeunlimit, name="sandbox-wxa-getwxacodeunlimit"),
]
