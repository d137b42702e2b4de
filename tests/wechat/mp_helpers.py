"""Plain helpers for official-account tests: WeChat's signature, signed queries, message XML,
posting to our endpoint and pushing through the sandbox. Fixtures are in conftest.py."""
from __future__ import annotations

import hashlib
import time

import requests

MP = "/api/v1/wechat/mp/"


def sign(token: str, *parts: str) -> str:
    return hashlib.sha1("".join(sorted((token, *parts))).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def query(settings, *, ts: int | None = None, nonce: str = "leaked1", token: str | None = None) -> str:
    """A signed query string (signature, timestamp, nonce) for our message endpoint."""
    ts_s = str(int(time.time()) if ts is None else ts)
    return f"signature={sign(token or settings.WECHAT_MP_TOKEN, ts_s, nonce)}&timestamp={ts_s}&nonce={nonce}"


def text_xml(openid: str, content: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_sandbox]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{abs(hash((openid, content))) % 10**12}</MsgId></xml>"
    ).encode()


def scan_xml(openid: str, key: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_sandbox]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>"
    ).encode()


def post(client, q: str, body: bytes):
    """POST a message to our endpoint through the test client."""
    return client.generic("POST", f"{MP}?{q}", body, content_type="text/xml")


def push(sandbox, **payload) -> dict:
    """Act out a user's action through the sandbox (real HTTP both ways)."""
    res = requests.post(f"{sandbox.url}/wechat-sandbox/mp/push/", json=payload, timeout=10)
    assert res.status_code == 200, res.text
    return res.json()
