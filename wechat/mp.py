"""The official account (公众号) through wechatpy: the message endpoint, parametric QR
tickets and template messages.

* `mp_check_signature` / `mp_message_handle`: what /api/v1/wechat/mp/ calls. GET is
  WeChat's URL verification (echo `echostr`); POST is a message or event. Subscribe and
  SCAN events that carry a QR scene go to the handler registered for the scene's prefix
  in `wechat.hooks_mp`. Safe mode (`encrypt_type=aes`) is required when
  `WECHAT_MP_AES_KEY` is set; otherwise plaintext.
* Freshness and replay: the signature covers token, timestamp and nonce only (not the
  body, in plain mode), and every push puts that triple in a URL. A timestamp more than
  `WECHAT_MP_MAX_AGE_SECONDS` old (or more than `MP_FUTURE_SKEW_SECONDS` ahead) is refused;
  an accepted (timestamp, nonce) is remembered with a digest of its message for as long
  as the timestamp could pass (Redis `SET NX EX`, or the `MpNonce` table without Redis).
  The same triple with the same message is WeChat's redelivery (answered again, scene
  handlers not run again); with another message it is refused (`replayed_message`).
* `qr_ticket_create`, `template_message_send`: server-to-WeChat calls through
  `MpClient`, a `WeChatClient` whose base URL follows `WECHAT_MODE` and whose access
  token lives in Django's cache (Redis when present), shared by every process.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from wechatpy import WeChatClient, create_reply, parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import WeChatException
from wechatpy.session import SessionStorage

from core.cache import cache_redis_client
from core.errors import InvalidInput

from .errors import (
    EncryptionRequired,
    InvalidSignature,
    ReplayedMessage,
    StaleMessage,
    WechatError,
    WechatTimeout,
)
from .hooks_mp import scene_handler_for, text_handlers
from .models import MpNonce
from .oauth import api_base_url

logger = logging.getLogger(__name__)

LIVE_SHOWQRCODE_URL = "https://mp.weixin.qq.com/cgi-bin/showqrcode"
MAX_BODY_BYTES = 64 * 1024
MAX_SCENE_STR = 64
MAX_TEMP_QR_SECONDS = 30 * 24 * 3600
TOKEN_SAFETY_MARGIN_SECONDS = 300
DEDUP_SECONDS = 60
MP_FUTURE_SKEW_SECONDS = 60  # how far ahead of our clock WeChat's timestamp may be (clock skew)
# ASCII digits only (int() also reads "١٧٠٠"), and no leading zero: WeChat never sends one, and
# "0" + ts is the same moment with another spelling, so a leaked (ts, "…0") re-split as
# ("0" + ts, "…") signs alike (the signature hashes the concatenation) and looks unused.
_TIMESTAMP_RE = re.compile(r"[1-9][0-9]{0,11}")
NONCE_KEY_PREFIX = "wechat:mp:nonce:"
DEFAULT_WELCOME = "欢迎关注！"
DEFAULT_TEXT_REPLY = "您好，消息已收到。"


# --- access token storage and client --------------------------------------------------


class DjangoCacheStorage(SessionStorage):
    """wechatpy session storage on Django's cache, so every process shares one token."""

    def get(self, key, default=None):
        return cache.get(key, default)

    def set(self, key, value, ttl=None):
        cache.set(key, value, timeout=ttl)

    def delete(self, key):
        cache.delete(key)


class MpClient(WeChatClient):
    """wechatpy's official-account client, pointed at the current mode's API.

    wechatpy hardcodes https://api.weixin.qq.com/cgi-bin/token in `fetch_access_token`
    and calls it without a timeout; both are overridden here. The token is cached a
    few minutes short of its lifetime; on 40001/42001 wechatpy fetches a new one and
    retries once (its `auto_retry`)."""

    def __init__(self):
        base = api_base_url()
        super().__init__(
            settings.WECHAT_APPID,
            settings.WECHAT_SECRET,
            session=DjangoCacheStorage(),
            timeout=float(settings.WECHAT_HTTP_TIMEOUT),
        )
        self.API_BASE_URL = base + "cgi-bin/"
        self._base_tag = hashlib.sha1(base.encode()).hexdigest()[:10]  # noqa: S324 - a cache-key tag

    @property
    def access_token_key(self):
        return f"wechat:mp:{self._base_tag}:{self.appid}:access_token"

    @property
    def access_token(self):
        token = self.session.get(self.access_token_key)
        if token:
            return token
        return self.fetch_access_token()["access_token"]

    def fetch_access_token(self):
        res = self._http.get(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            timeout=self.timeout,
        )
        res.raise_for_status()
        result = res.json()
        if result.get("errcode"):
            raise WeChatException(int(result["errcode"]), result.get("errmsg", ""))
        token = result["access_token"]
        expires_in = int(result.get("expires_in", 7200))
        ttl = max(expires_in - TOKEN_SAFETY_MARGIN_SECONDS, min(60, expires_in))
        self.session.set(self.access_token_key, token, ttl)
        self.expires_at = int(time.time()) + expires_in
        return result


    def close(self) -> None:
        self._http.close()


def mp_client() -> MpClient:
    """A client for the current mode; close() it when done (its HTTP session)."""
    return MpClient()


@contextmanager
def _translated(call: str):
    try:
        yield
    except requests.Timeout:
        logger.warning("wechat mp %s: timed out", call)
        raise WechatTimeout(extra={"call": call}) from None
    except requests.HTTPError as exc:
        status = getattr(exc.response, "status_code", None)
        logger.warning("wechat mp %s: HTTP %s", call, status)
        raise WechatError(extra={"call": call, "http_status": status}) from None
    except requests.RequestException as exc:
        logger.warning("wechat mp %s: transport error %s", call, type(exc).__name__)
        raise WechatError("WeChat could not be reached.", extra={"call": call}) from None
    except WeChatException as exc:
        if exc.errcode is None:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            logger.warning("wechat mp %s: HTTP %s", call, status)
            raise WechatError(extra={"call": call, "http_status": status}) from None
        logger.warning("wechat mp %s: errcode %s %s", call, exc.errcode, exc.errmsg)
        raise WechatError(extra={"call": call, "errcode": exc.errcode, "errmsg": str(exc.errmsg or "")}) from None
    except (ValueError, KeyError, TypeError):
        logger.warning("wechat mp %s: malformed answer", call, exc_info=True)
        raise WechatError("WeChat answered something we do not understand.", extra={"call": call}) from None


# --- QR tickets and template messages ------------------------------------------------


def qr_image_url(*, ticket: str) -> str:
    if settings.WECHAT_MODE == "live":
        base = LIVE_SHOWQRCODE_URL
    else:
        base = api_base_url() + "cgi-bin/showqrcode"
    return f"{base}?ticket={quote(ticket, safe='')}"


def qr_ticket_create(*, scene_str: str, expire_seconds: int | None = None) -> dict:
    """A parametric QR code for `scene_str`: temporary (QR_STR_SCENE, `expire_seconds`,
    at most 30 days) or permanent (QR_LIMIT_STR_SCENE, `expire_seconds=None`).
    Returns {ticket, url, expire_seconds, image_url}."""
    if not isinstance(scene_str, str) or not 1 <= len(scene_str) <= MAX_SCENE_STR:
        raise InvalidInput(f"scene_str must be 1 to {MAX_SCENE_STR} characters.", extra={"field": "scene_str"})
    if expire_seconds is None:
        payload = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene_str}}}
    else:
        if isinstance(expire_seconds, bool) or not isinstance(expire_seconds, int) or not (
            60 <= expire_seconds <= MAX_TEMP_QR_SECONDS
        ):
            raise InvalidInput(
                f"expire_seconds must be an integer from 60 to {MAX_TEMP_QR_SECONDS}.",
                extra={"field": "expire_seconds"},
            )
        payload = {
            "expire_seconds": expire_seconds,
            "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene_str}},
        }
    client = mp_client()
    try:
        with _translated("qrcode.create"):
            res = client.qrcode.create(payload)
            ticket, url = res["ticket"], res["url"]
            if not isinstance(ticket, str) or not ticket:
                raise ValueError("empty ticket")
    finally:
        client.close()
    return {
        "ticket": ticket,
        "url": url,
        "expire_seconds": res.get("expire_seconds") if expire_seconds is not None else None,
        "image_url": qr_image_url(ticket=ticket),
    }


def _template_data(data) -> dict:
    if not isinstance(data, Mapping) or not data:
        raise InvalidInput("data must be a non-empty object of fields.", extra={"field": "data"})
    out = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput("template data keys must be strings.", extra={"field": "data"})
        if isinstance(value, str):
            value = {"value": value}
        if not isinstance(value, Mapping) or not isinstance(value.get("value"), str):
            raise InvalidInput(f"data.{key} must be a string or {{value, color?}}.", extra={"field": "data"})
        out[key] = {k: v for k, v in value.items() if k in ("value", "color")}
    return out


def template_message_send(*, openid: str, template_id: str, data: Mapping, url: str | None = None) -> int:
    """Send a template message to a follower; returns WeChat's msgid."""
    if not isinstance(openid, str) or not 1 <= len(openid) <= 64:
        raise InvalidInput("openid is required.", extra={"field": "openid"})
    if not isinstance(template_id, str) or not 1 <= len(template_id) <= 128:
        raise InvalidInput("template_id is required.", extra={"field": "template_id"})
    if url is not None and (not isinstance(url, str) or not url.startswith(("https://", "http://"))):
        raise InvalidInput("url must be an http(s) URL.", extra={"field": "url"})
    payload = _template_data(data)
    client = mp_client()
    try:
        with _translated("message.template.send"):
            res = client.message.send_template(openid, template_id, payload, url=url)
            return int(res["msgid"])
    finally:
        client.close()


# --- the message endpoint -------------------------------------------------------------


def _sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def mp_check_signature(*, signature: str, timestamp: str, nonce: str) -> bool:
    """True when `signature` is WeChat's SHA-1 over our token, timestamp and nonce (constant time)."""
    if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in (signature, timestamp, nonce)):
        return False
    expected = _sha1_signature(settings.WECHAT_MP_TOKEN, timestamp, nonce)
    return hmac.compare_digest(expected.encode(), signature.lower().encode())


def _crypto() -> WeChatCrypto:
    return WeChatCrypto(settings.WECHAT_MP_TOKEN, settings.WECHAT_MP_AES_KEY, settings.WECHAT_APPID)


def _decrypt_body(*, body: bytes, params: Mapping[str, str]) -> str:
    """Safe mode: check msg_signature over the Encrypt element (constant time), then decrypt."""
    import xmltodict

    try:
        encrypt = xmltodict.parse(body.decode("utf-8"))["xml"]["Encrypt"]
    except Exception:  # noqa: BLE001 - any parse failure is bad input
        raise InvalidInput("The encrypted message is malformed.") from None
    msg_signature = params.get("msg_signature") or ""
    expected = _sha1_signature(settings.WECHAT_MP_TOKEN, params["timestamp"], params["nonce"], encrypt)
    if not isinstance(encrypt, str) or not hmac.compare_digest(expected.encode(), str(msg_signature).encode()):
        raise InvalidSignature()
    crypto = _crypto()
    try:
        return PrpCrypto(crypto.key).decrypt(encrypt, settings.WECHAT_APPID)
    except Exception:  # noqa: BLE001 - wrong key, padding or app id
        raise InvalidSignature("The encrypted message could not be decrypted.") from None


def _max_age() -> int:
    return int(settings.WECHAT_MP_MAX_AGE_SECONDS)


def _check_fresh(timestamp: str) -> None:
    """Refuse a timestamp older than the window, ahead of our clock by more than the skew,
    or not a plain number."""
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        raise StaleMessage("The timestamp is not a number of seconds.")
    age = int(time.time()) - int(timestamp)
    if age > _max_age():
        raise StaleMessage(f"The message is {age} seconds old (at most {_max_age()} are accepted).")
    if age < -MP_FUTURE_SKEW_SECONDS:
        raise StaleMessage(f"The message is dated {-age} seconds in the future.")


def _remember_seconds() -> int:
    """How long a triple must be remembered: as long as its timestamp could still pass."""
    return _max_age() + MP_FUTURE_SKEW_SECONDS


def _triple_record(*, timestamp: str, nonce: str, signature: str, fingerprint: str) -> bool:
    """Remember an accepted triple with its message's digest. True the first time, False
    for WeChat's redelivery of the same message; ReplayedMessage when the triple was
    already used for another message.

    The store is keyed on the signature, not on the (timestamp, nonce) strings: the
    signature hashes their sorted concatenation, so any re-split of a leaked triple (moving
    characters between timestamp and nonce) has the same signature and is caught here
    too, whatever the freshness check lets through."""
    signature = signature.lower()
    client = cache_redis_client()
    if client is not None:
        full_key = cache.make_and_validate_key(NONCE_KEY_PREFIX + signature)
        if client.set(full_key, fingerprint, nx=True, ex=_remember_seconds()):
            return True
        seen = client.get(full_key)
        seen = seen.decode() if isinstance(seen, bytes) else seen
    else:
        try:
            with transaction.atomic():
                MpNonce.objects.create(signature=signature, timestamp=timestamp, nonce=nonce,
                                       fingerprint=fingerprint)
            return True
        except IntegrityError:
            seen = MpNonce.objects.filter(signature=signature).values_list("fingerprint", flat=True).first()
    if seen is not None and hmac.compare_digest(str(seen).encode(), fingerprint.encode()):
        return False
    raise ReplayedMessage()


def mp_nonces_purge() -> int:
    """Delete remembered triples whose timestamps can no longer pass; returns how many.
    (Only the database store needs it: Redis expires its keys.)"""
    cutoff = timezone.now() - timedelta(seconds=_remember_seconds())
    deleted, _ = MpNonce.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _first_seen(message) -> bool:
    """False when WeChat already delivered this message (it retries up to 3 times)."""
    ident = getattr(message, "id", None) or f"{message.source}:{message.create_time}:{message.type}:" + str(
        message._data.get("Event", "")
    ) + ":" + str(message._data.get("EventKey", ""))
    key = "wechat:mp:seen:" + hashlib.sha1(str(ident).encode()).hexdigest()  # noqa: S324
    return cache.add(key, 1, timeout=DEDUP_SECONDS)


def _dispatch_scene(*, message, event: str) -> str | None:
    scene = message.scene_id or ""
    if not scene:
        return None
    found = scene_handler_for(scene)
    if found is None:
        logger.info("wechat mp: no handler for scene %r", scene)
        return None
    prefix, handler = found
    try:
        reply = handler(openid=message.source, scene=scene, event=event, message=message)
    except Exception:  # noqa: BLE001 - a broken handler must not break the user's subscription
        logger.exception("wechat mp: scene handler for %r failed", prefix)
        return None
    return reply if isinstance(reply, str) and reply else None


def _dispatch_text(*, message) -> str | None:
    content = getattr(message, "content", "") or ""
    for name, handler in text_handlers():
        try:
            reply = handler(openid=message.source, content=content, message=message)
        except Exception:  # noqa: BLE001 - a broken handler must not break the conversation
            logger.exception("wechat mp: text handler %r failed", name)
            continue
        if isinstance(reply, str) and reply:
            return reply
    return None


def _reply_for(message, *, first: bool) -> str | None:
    """The reply text for a parsed message, or None for an empty "success". `first` is False
    for a redelivery of a request already handled (the same signed triple and message):
    no handler is asked again and only the default, impersonal replies are given. A
    handler's reply can be personal (a user's orders, their poster), and whoever holds a
    copy of the request (URL and body, e.g. from a proxy log) could otherwise replay it
    within the window to read them."""
    if message.type == "event":
        event = message.event
        if event in ("subscribe_scan", "scan"):
            kind = "subscribe" if event == "subscribe_scan" else "scan"
            custom = _dispatch_scene(message=message, event=kind) if first and _first_seen(message) else None
            if kind == "subscribe":
                return custom or getattr(settings, "WECHAT_MP_WELCOME_TEXT", DEFAULT_WELCOME)
            return custom
        if event == "subscribe":
            return getattr(settings, "WECHAT_MP_WELCOME_TEXT", DEFAULT_WELCOME)
        return None
    if message.type == "text":
        custom = _dispatch_text(message=message) if first else None
        return custom or getattr(settings, "WECHAT_MP_TEXT_REPLY", DEFAULT_TEXT_REPLY)
    return None


def mp_message_handle(*, method: str, params: Mapping[str, str], body: bytes = b"") -> str:
    """Handle one request to the message endpoint; returns the text to answer with.

    Nothing is done when the request is refused: InvalidSignature (signature or, in safe
    mode, msg_signature wrong), StaleMessage (timestamp outside the window),
    EncryptionRequired (plaintext while safe mode is configured), ReplayedMessage (the
    signed triple already carried another message), InvalidInput (a body we cannot read)."""
    timestamp, nonce = params.get("timestamp") or "", params.get("nonce") or ""
    signature = params.get("signature") or ""
    if not mp_check_signature(signature=signature, timestamp=timestamp, nonce=nonce):
        raise InvalidSignature()
    _check_fresh(timestamp)
    if method == "GET":
        echostr = params.get("echostr") or ""
        if not echostr or len(echostr) > 256:
            raise InvalidInput("echostr is missing.")
        digest = _fingerprint(b"GET\n" + echostr.encode())
        _triple_record(timestamp=timestamp, nonce=nonce, signature=signature, fingerprint=digest)
        return echostr
    if len(body) > MAX_BODY_BYTES:
        raise InvalidInput("The message is too large.")

    encrypted = params.get("encrypt_type") == "aes"
    if settings.WECHAT_MP_AES_KEY and not encrypted:
        raise EncryptionRequired()
    if encrypted and not settings.WECHAT_MP_AES_KEY:
        raise InvalidInput("Safe mode is not configured (WECHAT_MP_AES_KEY).")
    # In safe (and compatible) mode only the signed, encrypted part counts.
    xml = _decrypt_body(body=body, params=params) if encrypted else body.decode("utf-8", "replace")
    try:
        message = parse_message(xml)
    except Exception:  # noqa: BLE001 - malformed XML from a signed sender
        logger.warning("wechat mp: unreadable message body")
        raise InvalidInput("The message is not valid WeChat XML.") from None
    if message is None:
        raise InvalidInput("The message is empty.")
    digest = _fingerprint(xml.encode("utf-8"))
    first = _triple_record(timestamp=timestamp, nonce=nonce, signature=signature, fingerprint=digest)

    text = _reply_for(message, first=first)
    if not text:
        return "success"
    reply = create_reply(text, message=message, render=True)
    if encrypted:
        return _crypto().encrypt_message(reply, nonce, timestamp)
    return reply
