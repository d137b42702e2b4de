"""WeChat's web-page side for the H5 pages (h5/): the OAuth authorize URL and the JS-SDK config.

* `oauth_authorize_url(redirect_uri=..., state=...)`: where to send the browser so WeChat asks
  the user and comes back to `redirect_uri?code=…&state=…` (wechatpy's `WeChatOAuth.authorize_url`).
  Live mode: https://open.weixin.qq.com/connect/oauth2/authorize; sandbox mode: the sandbox's
  identity picker, `/wechat-sandbox/connect/oauth2/authorize` on this same server (a path, so it
  works on whatever host and port the browser reached us at).
* `jssdk_config(url=...)`: what `wx.config()` needs for a page at `url` (appId, timestamp,
  nonceStr, signature) — the jsapi_ticket from `cgi-bin/ticket/getticket` through wechatpy's
  `WeChatJSAPI` (cached in Django's cache by wechatpy's session storage), signed with
  `get_jsapi_signature`. The sandbox answers getticket the way WeChat does.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from django.conf import settings
from wechatpy import WeChatOAuth

from .mp import _translated, mp_client

LIVE_OAUTH_BASE_URL = "https://open.weixin.qq.com/connect/"
SANDBOX_OAUTH_PATH = "/wechat-sandbox/connect/"
SCOPES = ("snsapi_userinfo", "snsapi_base")
MAX_STATE = 128


def oauth_authorize_url(*, redirect_uri: str, state: str = "", scope: str = "snsapi_userinfo") -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("redirect_uri must be an absolute http(s) URL")
    if len(state) > MAX_STATE:
        raise ValueError(f"state must be at most {MAX_STATE} characters")
    oauth = WeChatOAuth(
        settings.WECHAT_APPID, settings.WECHAT_SECRET, redirect_uri=redirect_uri, scope=scope, state=state
    )
    oauth.OAUTH_BASE_URL = LIVE_OAUTH_BASE_URL if settings.WECHAT_MODE == "live" else SANDBOX_OAUTH_PATH
    return oauth.authorize_url


def jssdk_config(*, url: str) -> dict:
    """{appId, timestamp, nonceStr, signature, url} for `wx.config()` on the page at `url`
    (the page's full URL without the #fragment). WechatError / WechatTimeout when WeChat fails."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 1024:
        raise ValueError("url must be an absolute http(s) URL")
    url = url.split("#", 1)[0]
    client = mp_client()
    try:
        with _translated("jsapi_ticket"):
            ticket = client.jsapi.get_jsapi_ticket()
    finally:
        client.close()
    nonce = secrets.token_hex(8)
    timestamp = int(time.time())
    signature = client.jsapi.get_jsapi_signature(nonce, ticket, timestamp, url)
    return {
        "appId": settings.WECHAT_APPID,
        "timestamp": timestamp,
        "nonceStr": nonce,
        "signature": signature,
        "url": url,
    }
