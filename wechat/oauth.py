"""WeChat OAuth (H5 web authorisation) through wechatpy's `WeChatOAuth`.

`oauth_identity_from_code(code=...)` turns the one-time `code` WeChat appended to our
redirect URL into the user's identity: code -> OAuth access token + openid (+ unionid)
-> user info (nickname, avatar). Base URL and timeout are read from settings at call
time, so `WECHAT_MODE=sandbox` (and tests that move the sandbox) just work.

Errors leave as domain errors: a bad/used/expired code is `InvalidOAuthCode` (400
`invalid_code`), a timeout `WechatTimeout` (504), anything else `WechatError` (502) with
WeChat's errcode/errmsg in `extra` (never the app secret).
"""
from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from django.conf import settings
from wechatpy import WeChatOAuth
from wechatpy.exceptions import WeChatException

from .errors import InvalidOAuthCode, WechatError, WechatTimeout

logger = logging.getLogger(__name__)

LIVE_API_BASE_URL = "https://api.weixin.qq.com/"
SANDBOX_API_PATH = "/wechat-sandbox/api/"

# WeChat's answers for a code that cannot be exchanged.
CODE_ERRCODES = {
    40029: "invalid code",
    40163: "code been used",
    42003: "code expired",
}
# The user only granted snsapi_base (or the token is not allowed to read the profile).
SCOPE_ERRCODES = {48001}

_CODE_RE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_OPENID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@dataclass(frozen=True)
class WechatIdentity:
    openid: str
    unionid: str = ""
    nickname: str = ""
    avatar_url: str = ""


def api_base_url() -> str:
    """Where WeChat's API lives in the current mode (with a trailing slash)."""
    if settings.WECHAT_MODE == "live":
        return LIVE_API_BASE_URL
    return settings.WECHAT_SANDBOX_BASE_URL.rstrip("/") + SANDBOX_API_PATH


class _OAuth(WeChatOAuth):
    """wechatpy's OAuth client with a per-instance base URL and a timeout on every call
    (wechatpy itself sets none)."""

    def __init__(self, *, base_url: str, timeout: float):
        super().__init__(settings.WECHAT_APPID, settings.WECHAT_SECRET, redirect_uri="", scope="snsapi_userinfo")
        self.API_BASE_URL = base_url
        self._timeout = timeout

    def _request(self, method, url_or_endpoint, **kwargs):
        kwargs.setdefault("timeout", self._timeout)
        return super()._request(method, url_or_endpoint, **kwargs)


@contextmanager
def _translated(step: str):
    """Turn transport and WeChat failures of one OAuth call into our domain errors."""
    try:
        yield
    except requests.Timeout:
        logger.warning("wechat oauth %s: timed out", step)
        raise WechatTimeout(extra={"step": step}) from None
    except requests.RequestException as exc:
        logger.warning("wechat oauth %s: transport error %s", step, type(exc).__name__)
        raise WechatError("WeChat could not be reached.", extra={"step": step}) from None
    except WeChatException as exc:
        errcode, errmsg = exc.errcode, str(exc.errmsg or "")
        if errcode in CODE_ERRCODES:
            raise InvalidOAuthCode(extra={"errcode": errcode, "errmsg": errmsg}) from None
        if errcode is None:  # an HTTP error status
            response = getattr(exc, "response", None)
            status = getattr(response, "status_code", None)
            logger.warning("wechat oauth %s: HTTP %s", step, status)
            raise WechatError(extra={"step": step, "http_status": status}) from None
        logger.warning("wechat oauth %s: errcode %s %s", step, errcode, errmsg)
        raise WechatError(extra={"step": step, "errcode": errcode, "errmsg": errmsg}) from None
    except (ValueError, KeyError, TypeError):  # not JSON, or JSON without the fields WeChat always sends
        logger.warning("wechat oauth %s: malformed answer", step, exc_info=True)
        raise WechatError("WeChat answered something we do not understand.", extra={"step": step}) from None


def _clean_url(value) -> str:
    if isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= 512:
        return value
    return ""


def _clean_text(value, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def oauth_identity_from_code(*, code: str) -> WechatIdentity:
    """Exchange a one-time OAuth `code` for the user's identity (openid, unionid, nickname, avatar)."""
    if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
        raise InvalidOAuthCode(extra={"reason": "malformed"})

    oauth = _OAuth(base_url=api_base_url(), timeout=float(settings.WECHAT_HTTP_TIMEOUT))
    try:
        return _identity(oauth, code)
    finally:
        oauth._http.close()


def _identity(oauth: _OAuth, code: str) -> WechatIdentity:
    with _translated("access_token"):
        token = oauth.fetch_access_token(code)
        openid, access_token = token["openid"], token["access_token"]
    if not isinstance(openid, str) or not _OPENID_RE.fullmatch(openid) or not isinstance(access_token, str):
        logger.warning("wechat oauth: unusable openid/access_token in the token answer")
        raise WechatError("WeChat answered something we do not understand.", extra={"step": "access_token"})
    unionid = _clean_text(token.get("unionid"), 64)

    info: dict = {}
    scopes = str(token.get("scope", "snsapi_userinfo")).split(",")
    if "snsapi_userinfo" in scopes:
        try:
            with _translated("userinfo"):
                info = oauth.get_user_info(openid=openid, access_token=access_token)
                if not isinstance(info, dict):
                    raise ValueError("userinfo is not an object")
        except WechatError as exc:
            if exc.extra.get("errcode") not in SCOPE_ERRCODES:
                raise
            logger.info("wechat oauth: no userinfo scope (errcode %s); openid only", exc.extra.get("errcode"))
            info = {}
        if info.get("openid") not in (None, openid):
            logger.warning("wechat oauth: userinfo answered for another openid")
            raise WechatError("WeChat answered for another user.", extra={"step": "userinfo"})

    return WechatIdentity(
        openid=openid,
        unionid=_clean_text(info.get("unionid"), 64) or unionid,
        nickname=_clean_text(info.get("nickname"), 64),
        avatar_url=_clean_url(info.get("headimgurl")),
    )
