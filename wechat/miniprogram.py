"""The mini-program (小程序) through wechatpy: the unlimited mini-program code (小程序码,
`wxa/getwxacodeunlimit`), whose `scene` the mini-program page reads when it is opened.

`MiniProgramClient` is `wechat.mp.MpClient` (base URL following `WECHAT_MODE`, access token
in Django's cache, timeouts on every call) with the mini-program's credentials
(`WECHAT_MINIPROGRAM_APPID` / `_SECRET`, by default the official account's) and wechatpy's
`wxa` API pointed at the same base URL (wechatpy hardcodes https://api.weixin.qq.com/ there).
In sandbox mode the sandbox answers `wxa/getwxacodeunlimit` with a real PNG.
"""
from __future__ import annotations

import io
import logging
import re

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from core.errors import InvalidInput

from .errors import WechatError
from .mp import MpClient, _translated

logger = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# WeChat's rules for `scene`: at most 32 visible characters of these.
SCENE_RE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")
PAGE_RE = re.compile(r"[A-Za-z0-9_\-./]{1,128}")
MIN_WIDTH, MAX_WIDTH = 280, 1280
MAX_IMAGE_BYTES = 2 * 1024 * 1024


class MiniProgramClient(MpClient):
    def __init__(self):
        super().__init__()
        self.appid = settings.WECHAT_MINIPROGRAM_APPID
        self.secret = settings.WECHAT_MINIPROGRAM_SECRET
        self.wxa.API_BASE_URL = self.API_BASE_URL[: -len("cgi-bin/")]


def miniprogram_client() -> MiniProgramClient:
    """A client for the current mode; close() it when done (its HTTP session)."""
    return MiniProgramClient()


def _as_png(content: bytes) -> bytes:
    """WeChat answers a JPEG or PNG; we always hand out PNG (converted when needed)."""
    if content.startswith(PNG_SIGNATURE):
        return content
    with Image.open(io.BytesIO(content)) as image:
        image.load()
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def wxacode_unlimited(*, scene: str, page: str = "", width: int = 430) -> bytes:
    """The mini-program code for `scene` as PNG bytes. `page` ("" = the home page) must be a
    published page of the mini-program, without a leading slash.

    Raises InvalidInput for a bad scene/page/width, WechatError / WechatTimeout when WeChat
    fails or answers something that is not an image."""
    if not isinstance(scene, str) or not SCENE_RE.fullmatch(scene):
        raise InvalidInput("scene must be 1 to 32 of WeChat's allowed characters.", extra={"field": "scene"})
    if page and (not isinstance(page, str) or not PAGE_RE.fullmatch(page) or page.startswith("/")):
        raise InvalidInput("page must be a mini-program page path without a leading '/'.", extra={"field": "page"})
    if isinstance(width, bool) or not isinstance(width, int) or not MIN_WIDTH <= width <= MAX_WIDTH:
        raise InvalidInput(f"width must be {MIN_WIDTH} to {MAX_WIDTH}.", extra={"field": "width"})
    client = miniprogram_client()
    try:
        with _translated("wxa.getwxacodeunlimit"):
            res = client.wxa.get_wxa_code_unlimited(scene, width=width, page=page or None)
    finally:
        client.close()
    content = getattr(res, "content", None)
    if not isinstance(content, bytes) or not content or len(content) > MAX_IMAGE_BYTES:
        logger.warning("wechat wxa.getwxacodeunlimit: no image in the answer")
        raise WechatError("WeChat answered something we do not understand.", extra={"call": "wxa.getwxacodeunlimit"})
    try:
        return _as_png(content)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        logger.warning("wechat wxa.getwxacodeunlimit: the answer is not an image")
        raise WechatError(
            "WeChat answered something we do not understand.", extra={"call": "wxa.getwxacodeunlimit"}
        ) from None
