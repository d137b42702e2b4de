"""WeChat Pay APIv3: a thin client on `cryptography` (docs/wechat.md, "APIv3").

Why our own and not a library: `wechatpayv3` (2.0.4, the most used Python client) fixes its
gateway in a private attribute, verifies only 2xx answers (an unsigned error answer — which we
read as "nothing was paid" — is believed), never checks an answer's or a callback's timestamp
(a replay verifies), and raises bare Exceptions; aiowechatpayv3 is asyncio-only. APIv3 is four
primitives and one HTTP shape; owning them lets us point every call at the sandbox, put a
timeout on every call, and check *every* answer's signature and freshness — success and error
alike — before believing any field of it (docs/wechat.md, "APIv3", has the comparison).

The primitives (WeChat Pay's "签名生成 / 签名验证 / 回调报文解密 / 敏感信息加密"):

* Requests are signed with RSA-SHA256 (PKCS#1 v1.5) by the merchant's API certificate key:
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``, sent as
  ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"``.
* Answers and callbacks are signed by WeChat: ``TIMESTAMP\\nNONCE\\nBODY\\n`` in the headers
  Wechatpay-Timestamp / -Nonce / -Signature, with Wechatpay-Serial naming the key: a platform
  certificate's serial (downloaded from /v3/certificates, decrypted with the APIv3 key) or a
  "WeChat Pay public key" id (``PUB_KEY_ID_…``, configured: WECHAT_PAY_PUBLIC_KEY(_ID)).
  A timestamp more than 5 minutes off is refused (a replay).
* Callbacks carry their content AES-256-GCM encrypted with the APIv3 key (32 bytes); the GCM
  tag makes a tampered ciphertext fail to open.
* Sensitive request fields (`user_name` of a transfer bill) are RSA-OAEP (SHA-1, MGF1-SHA-1)
  encrypted with WeChat's public key, and the request names that key in Wechatpay-Serial.

Sandbox mode: with no merchant key configured, a development key pair is generated once
into WECHAT_SANDBOX_KEY_DIR (shared by every process through the file) and the sandbox,
which reads the same settings, knows its public key — as WeChat knows a merchant's API
certificate. The sandbox has its own platform key pair (wechat/sandbox/v3.py).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from core.errors import InvalidInput

from .errors import InvalidSignature, WechatError, WechatTimeout

logger = logging.getLogger(__name__)

LIVE_BASE_URL = "https://api.mch.weixin.qq.com"
SCHEMA = "WECHATPAY2-SHA256-RSA2048"
MAX_SKEW_SECONDS = 300
CALLBACK_MAX_BYTES = 64 * 1024
CERTIFICATES_PATH = "/v3/certificates"
# A platform key we do not know yet makes us fetch /v3/certificates again, at most this often.
CERTIFICATE_REFRESH_SECONDS = 60
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"

# --- keys --------------------------------------------------------------------------------


def _pem_bytes(value: str) -> bytes:
    """A PEM given inline (starts with -----BEGIN) or as the path of a file holding it."""
    text = (value or "").strip()
    if text.startswith("-----BEGIN"):
        return text.replace("\\n", "\n").encode()
    return Path(text).expanduser().read_bytes()


_lock = threading.Lock()
_private_keys: dict[str, rsa.RSAPrivateKey] = {}
_public_keys: dict[str, rsa.RSAPublicKey] = {}


def private_key_load(value: str) -> rsa.RSAPrivateKey:
    with _lock:
        key = _private_keys.get(value)
    if key is None:
        key = serialization.load_pem_private_key(_pem_bytes(value), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("not an RSA private key")
        with _lock:
            _private_keys[value] = key
    return key


def public_key_load(value: str) -> rsa.RSAPublicKey:
    """An RSA public key from a PEM public key or certificate (inline or a path)."""
    with _lock:
        key = _public_keys.get(value)
    if key is None:
        raw = _pem_bytes(value)
        if b"CERTIFICATE" in raw:
            key = x509.load_pem_x509_certificate(raw).public_key()
        else:
            key = serialization.load_pem_public_key(raw)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("not an RSA public key")
        with _lock:
            _public_keys[value] = key
    return key


def key_dir() -> Path:
    return Path(getattr(settings, "WECHAT_SANDBOX_KEY_DIR", "") or Path(tempfile.gettempdir()) / "fenxiao-wechat-keys")


def generated_key_file(name: str) -> Path:
    """The path of an RSA-2048 key made once for the sandbox and shared by every process:
    written to a temporary file and hard-linked into place, so two processes starting at
    once both end up with the first one's key."""
    directory = key_dir()
    path = directory / name
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return path


def key_serial(public_key: rsa.RSAPublicKey) -> str:
    """A stable 40-hex "serial" for a generated key (WeChat's serials are 40 hex digits)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - an identifier, not a security property


def _sandbox_generated() -> bool:
    return settings.WECHAT_MODE == "sandbox" and not settings.WECHAT_MCH_PRIVATE_KEY


def merchant_private_key() -> rsa.RSAPrivateKey:
    """The merchant's API certificate key (apiclient_key.pem) that signs our requests."""
    if _sandbox_generated():
        return private_key_load(str(generated_key_file("merchant_apiclient_key.pem")))
    if not settings.WECHAT_MCH_PRIVATE_KEY:
        raise WechatError("WECHAT_MCH_PRIVATE_KEY is not configured (the merchant API certificate key).",
                          code="wechat_not_configured")
    return private_key_load(settings.WECHAT_MCH_PRIVATE_KEY)


def merchant_public_key() -> rsa.RSAPublicKey:
    return merchant_private_key().public_key()


def merchant_serial() -> str:
    """The merchant API certificate's serial number (WECHAT_MCH_CERT_SERIAL)."""
    if settings.WECHAT_MCH_CERT_SERIAL:
        return settings.WECHAT_MCH_CERT_SERIAL
    if _sandbox_generated():
        return key_serial(merchant_public_key())
    raise WechatError("WECHAT_MCH_CERT_SERIAL is not configured.", code="wechat_not_configured")


def apiv3_key() -> bytes:
    key = (settings.WECHAT_PAY_APIV3_KEY or "").encode()
    if len(key) != 32:
        raise WechatError("WECHAT_PAY_APIV3_KEY must be the merchant's 32-character APIv3 key.",
                          code="wechat_not_configured")
    return key


# --- primitives ------------------------------------------------------------------------

def rsa_sign(private_key: rsa.RSAPrivateKey, message: str | bytes) -> str:
    data = message.encode() if isinstance(message, str) else message
    return base64.b64encode(private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(public_key: rsa.RSAPublicKey, message: str | bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64 or "", validate=True)
    except (ValueError, TypeError):
        return False
    data = message.encode() if isinstance(message, str) else message
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except _CryptoInvalidSignature:
        return False
    return True


def aes_gcm_encrypt(key: bytes, *, nonce: str, plaintext: bytes, associated_data: str = "") -> str:
    return base64.b64encode(AESGCM(key).encrypt(nonce.encode(), plaintext, associated_data.encode())).decode()


def aes_gcm_decrypt(key: bytes, *, nonce: str, ciphertext: str, associated_data: str = "") -> bytes:
    """Open an AEAD_AES_256_GCM resource; raises InvalidSignature when it does not open with our
    key (tampered, or sealed with another key)."""
    try:
        raw = base64.b64decode(ciphertext or "", validate=True)
        return AESGCM(key).decrypt((nonce or "").encode(), raw, (associated_data or "").encode())
    except (InvalidTag, ValueError, TypeError):
        raise InvalidSignature("The encrypted resource does not open with our APIv3 key.") from None


def oaep_encrypt(public_key: rsa.RSAPublicKey, text: str) -> str:
    pad = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303
    return base64.b64encode(public_key.encrypt(text.encode(), pad)).decode()


def oaep_decrypt(private_key: rsa.RSAPrivateKey, ciphertext_b64: str) -> str:
    pad = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303
    return private_key.decrypt(base64.b64decode(ciphertext_b64), pad).decode()


def nonce_str(n: int = 32) -> str:
    return secrets.token_hex(n // 2).upper()


def request_message(method: str, path: str, timestamp: str, nonce: str, body: str) -> str:
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{body}\n"


def answer_message(timestamp: str, nonce: str, body: str | bytes) -> bytes:
    text = body if isinstance(body, bytes) else body.encode()
    return f"{timestamp}\n{nonce}\n".encode() + text + b"\n"


def authorization(method: str, path: str, body: str, *, mchid: str, serial: str, key: rsa.RSAPrivateKey,
                  timestamp: str | None = None, nonce: str | None = None) -> str:
    ts = timestamp or str(int(time.time()))
    nc = nonce or nonce_str()
    signature = rsa_sign(key, request_message(method, path, ts, nc, body))
    return (f'{SCHEMA} mchid="{mchid}",nonce_str="{nc}",signature="{signature}",'
            f'timestamp="{ts}",serial_no="{serial}"')


def authorization_parse(header: str) -> dict[str, str] | None:
    """The fields of an Authorization header of our schema, or None."""
    if not header or not header.startswith(SCHEMA + " "):
        return None
    out: dict[str, str] = {}
    for part in header[len(SCHEMA) + 1:].split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or len(value) < 2 or value[0] != '"' or value[-1] != '"':
            return None
        out[name] = value[1:-1]
    if not all(out.get(k) for k in ("mchid", "nonce_str", "signature", "timestamp", "serial_no")):
        return None
    return out


def fresh(timestamp: str, *, now: float | None = None) -> bool:
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    return abs((now if now is not None else time.time()) - ts) <= MAX_SKEW_SECONDS


# --- WeChat's keys (verification and encryption) ------------------------------------------

@dataclass(frozen=True)
class PlatformKey:
    serial: str
    public_key: rsa.RSAPublicKey
    expires_at: float = float("inf")


_certificates: dict[str, dict[str, PlatformKey]] = {}  # base URL -> serial -> key
_certificates_fetched: dict[str, float] = {}


def api_base_url() -> str:
    if settings.WECHAT_MODE == "live":
        return LIVE_BASE_URL
    return f"{settings.WECHAT_SANDBOX_BASE_URL.rstrip('/')}/wechat-sandbox"


def _public_key_configured() -> PlatformKey | None:
    if settings.WECHAT_PAY_PUBLIC_KEY and settings.WECHAT_PAY_PUBLIC_KEY_ID:
        return PlatformKey(serial=settings.WECHAT_PAY_PUBLIC_KEY_ID,
                           public_key=public_key_load(settings.WECHAT_PAY_PUBLIC_KEY))
    return None


def certificates_refresh() -> dict[str, PlatformKey]:
    """Download the platform certificates (GET /v3/certificates), decrypt each with the APIv3
    key and keep the ones valid now. The answer is signed by one of the certificates it
    carries; a certificate only someone with our APIv3 key could have sealed is trusted."""
    base = api_base_url()
    status, body, headers = _send("GET", CERTIFICATES_PATH, "", what="pay.v3.certificates")
    if status != 200:
        raise WechatError(f"WeChat answered HTTP {status} for the platform certificates.", code="wechat_http_error")
    try:
        data = json.loads(body)
        items = data["data"]
    except (ValueError, KeyError, TypeError):
        raise WechatError("The platform certificates answer is not JSON.", code="wechat_bad_response") from None
    found: dict[str, PlatformKey] = {}
    now = time.time()
    for item in items if isinstance(items, list) else []:
        enc = item.get("encrypt_certificate") or {}
        try:
            pem = aes_gcm_decrypt(apiv3_key(), nonce=enc.get("nonce", ""), ciphertext=enc.get("ciphertext", ""),
                                  associated_data=enc.get("associated_data", ""))
            cert = x509.load_pem_x509_certificate(pem)
        except (InvalidSignature, ValueError):
            logger.warning("wechat pay v3: a platform certificate does not open with our APIv3 key; ignored")
            continue
        if cert.not_valid_after_utc.timestamp() < now:
            continue
        serial = format(cert.serial_number, "X")
        if item.get("serial_no") and item["serial_no"].upper() != serial:
            continue
        found[serial] = PlatformKey(serial=serial, public_key=cert.public_key(),
                                    expires_at=cert.not_valid_after_utc.timestamp())
    signer = found.get(headers.get("Wechatpay-Serial", "").upper())
    if signer is None or not _answer_signed_by(signer, headers, body):
        raise WechatError("The platform certificates answer is not signed by a certificate it carries.",
                          code="invalid_signature")
    with _lock:
        _certificates[base] = found
        _certificates_fetched[base] = time.time()
    return found


def platform_key(serial: str) -> PlatformKey | None:
    """WeChat's key named `serial`: the configured public key, or a platform certificate
    (fetched on first need and when an unknown serial turns up, at most once a minute)."""
    configured = _public_key_configured()
    if configured is not None and serial == configured.serial:
        return configured
    if serial.startswith(PUBLIC_KEY_ID_PREFIX):
        return None
    base = api_base_url()
    with _lock:
        known = _certificates.get(base, {}).get(serial.upper())
        fetched = _certificates_fetched.get(base, 0.0)
    if known is not None:
        return known
    if time.time() - fetched < CERTIFICATE_REFRESH_SECONDS:
        return None
    try:
        return certificates_refresh().get(serial.upper())
    except (WechatError, WechatTimeout) as exc:
        logger.warning("wechat pay v3: could not refresh the platform certificates: %s", exc.code)
        with _lock:
            _certificates_fetched[base] = time.time()
        return None


def encryption_key() -> PlatformKey:
    """The key sensitive fields are encrypted with: the configured WeChat Pay public key, or
    the platform certificate that expires last."""
    configured = _public_key_configured()
    if configured is not None:
        return configured
    base = api_base_url()
    with _lock:
        keys = list(_certificates.get(base, {}).values())
    if not keys:
        keys = list(certificates_refresh().values())
    if not keys:
        raise WechatError("WeChat has no platform certificate for us.", code="wechat_bad_response")
    return max(keys, key=lambda k: k.expires_at)


def certificates_forget() -> None:
    """Drop the downloaded platform certificates (tests; a rotated sandbox key)."""
    with _lock:
        _certificates.clear()
        _certificates_fetched.clear()


def _answer_signed_by(key: PlatformKey, headers: Any, body: bytes) -> bool:
    ts = headers.get("Wechatpay-Timestamp", "")
    return fresh(ts) and rsa_verify(key.public_key, answer_message(ts, headers.get("Wechatpay-Nonce", ""), body),
                                    headers.get("Wechatpay-Signature", ""))


def signature_valid(headers: Any, body: bytes) -> bool:
    """True when `body` with these Wechatpay-* headers is signed by a key of WeChat's we trust,
    within the 5-minute window."""
    serial = headers.get("Wechatpay-Serial", "")
    if not serial or headers.get("Wechatpay-Signature", "").startswith("WECHATPAY/SIGNTEST/"):
        return False
    key = platform_key(serial)
    return key is not None and _answer_signed_by(key, headers, body)


# --- requests ----------------------------------------------------------------------------

# APIv3 error codes (the JSON `code` of a 4xx/5xx answer) -> the v2 err_code our services know.
# docs/wechat.md, "Uncertain answers": anything not listed keeps its own name.
V3_ERR_CODES = {
    "SYSTEM_ERROR": "SYSTEMERROR",
    "ORDER_CLOSED": "ORDERCLOSED",
    "ORDERPAID": "ORDERPAID",
    "ORDER_NOT_EXIST": "ORDERNOTEXIST",
    "RESOURCE_NOT_EXISTS": "NOT_FOUND",
    "NOT_ENOUGH": "NOTENOUGH",
    "FREQUENCY_LIMITED": "FREQUENCY_LIMITED",
    "FREQUENCY_LIMIT_EXCEED": "FREQUENCY_LIMITED",
    "SIGN_ERROR": "SIGNERROR",
}


def _send(method: str, path: str, body: str, *, what: str, serial_header: str = "") -> tuple[int, bytes, Any]:
    url = api_base_url() + path
    headers = {
        "Authorization": authorization(method, path, body, mchid=settings.WECHAT_MCH_ID, serial=merchant_serial(),
                                       key=merchant_private_key()),
        "Accept": "application/json",
        "User-Agent": "fenxiao-wechatpay-v3",
    }
    if body:
        headers["Content-Type"] = "application/json"
    if serial_header:
        headers["Wechatpay-Serial"] = serial_header
    try:
        res = requests.request(method, url, data=body.encode() if body else None, headers=headers,
                               timeout=float(settings.WECHAT_HTTP_TIMEOUT))
    except requests.Timeout:
        logger.warning("wechat pay v3: %s timed out", what)
        raise WechatTimeout(extra={"call": what}) from None
    except requests.RequestException as exc:
        logger.warning("wechat pay v3: %s failed: %s", what, exc)
        raise WechatError("WeChat could not be reached.", code="wechat_unreachable", extra={"call": what}) from None
    return res.status_code, res.content, res.headers


def call(what: str, method: str, path: str, *, payload: dict[str, Any] | None = None,
         query: dict[str, Any] | None = None, serial_header: str = "") -> tuple[int, dict[str, Any]]:
    """One APIv3 call: sign, send, verify the answer's signature, map errors.

    Returns (HTTP status, JSON answer or {} for 204). Raises WechatTimeout; WechatError with
    code invalid_signature when the answer (success *or* error) is not signed by WeChat —
    an answer we cannot verify tells us nothing, so the caller treats it as no answer; or
    WechatError with extra {err_code, err_code_des, http_status} for WeChat's error answers."""
    if query:
        path = f"{path}?{urlencode(query)}"
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload is not None else ""
    status, raw, headers = _send(method, path, body, what=what, serial_header=serial_header)
    if not signature_valid(headers, raw):
        if status >= 500 and not headers.get("Wechatpay-Signature"):
            # Not WeChat's answer at all (a proxy's error page): the request may or may not have
            # been carried out, as with any HTTP error.
            logger.warning("wechat pay v3: %s answered HTTP %s, unsigned", what, status)
            raise WechatError(f"WeChat answered HTTP {status}.", code="wechat_http_error",
                              extra={"call": what, "http_status": status})
        logger.warning("wechat pay v3: answer of %s (HTTP %s) has a bad or missing signature", what, status)
        raise WechatError("WeChat's answer has a bad signature.", code="invalid_signature",
                          extra={"call": what, "http_status": status})
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        raise WechatError("WeChat answered something that is not JSON.", code="wechat_bad_response",
                          extra={"call": what, "http_status": status}) from None
    if not isinstance(data, dict):
        raise WechatError("WeChat answered something that is not a JSON object.", code="wechat_bad_response")
    if 200 <= status < 300:
        return status, data
    from .pay import ERR_CODES  # the v2 table, shared

    v3_code = str(data.get("code") or f"HTTP_{status}")
    err_code = V3_ERR_CODES.get(v3_code, v3_code)
    message = str(data.get("message") or "")
    code, cls, retryable = ERR_CODES.get(err_code, ("wechat_error", WechatError, status >= 500))
    logger.warning("wechat pay v3: %s answered HTTP %s %s %s", what, status, v3_code, message)
    raise cls(f"WeChat Pay: {v3_code} {message}".strip(), code=code,
              extra={"err_code": err_code, "err_code_des": message, "v3_code": v3_code, "http_status": status,
                     "retryable": retryable})


def expect(data: dict[str, Any], field: str, value: Any, *, code: str = "wechat_bad_response") -> None:
    """The answer's `field` (dotted for nested, e.g. "amount.total") is `value`, when present."""
    node: Any = data
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if str(node) != str(value):
        logger.warning("wechat pay v3: answer has %s=%s, we asked for %s", field, node, value)
        raise WechatError(f"WeChat's answer has {field}={node}, not {value}.", code=code,
                          extra={"field": field, "expected": str(value), "got": str(node)})


def jsapi_params(*, prepay_id: str, appid: str | None = None) -> dict[str, str]:
    """The parameters of WeixinJSBridge getBrandWCPayRequest for an APIv3 prepay_id (signType RSA)."""
    app = appid or settings.WECHAT_APPID
    ts = str(int(time.time()))
    nonce = nonce_str()
    package = f"prepay_id={prepay_id}"
    sign = rsa_sign(merchant_private_key(), f"{app}\n{ts}\n{nonce}\n{package}\n")
    return {"appId": app, "timeStamp": ts, "nonceStr": nonce, "package": package, "signType": "RSA", "paySign": sign}


# --- callbacks -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Callback:
    id: str
    event_type: str
    resource_type: str
    summary: str
    resource: dict[str, Any]


def callback_open(*, headers: Any, body: bytes) -> Callback:
    """A callback's event and decrypted resource, after checking its size, its signature (a
    key of WeChat's, within 5 minutes) and that the resource opens with our APIv3 key.

    Raises InvalidInput (payload_too_large, invalid_json) or InvalidSignature (unsigned, a
    key we do not trust, stale or replayed past the window, tampered, sealed with another
    key). Nothing is believed before the signature."""
    if len(body) > CALLBACK_MAX_BYTES:
        raise InvalidInput("The notification is too large.", code="payload_too_large")
    if not signature_valid(headers, body):
        raise InvalidSignature("The notification is not signed by WeChat Pay (or is older than 5 minutes).")
    try:
        data = json.loads(body)
        enc = data["resource"]
        assert isinstance(enc, dict)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise InvalidInput("The notification is not an APIv3 JSON notification.", code="invalid_json") from None
    if enc.get("algorithm") != "AEAD_AES_256_GCM":
        raise InvalidSignature("The notification's resource is not AEAD_AES_256_GCM.")
    plain = aes_gcm_decrypt(apiv3_key(), nonce=str(enc.get("nonce", "")), ciphertext=str(enc.get("ciphertext", "")),
                            associated_data=str(enc.get("associated_data", "")))
    try:
        resource = json.loads(plain)
        assert isinstance(resource, dict)
    except (ValueError, AssertionError):
        raise InvalidSignature("The notification's resource is not JSON.") from None
    return Callback(id=str(data.get("id", "")), event_type=str(data.get("event_type", "")),
                    resource_type=str(data.get("resource_type", "")), summary=str(data.get("summary", "")),
                    resource=resource)


def callback_headers_present(headers: Any) -> bool:
    """A request that carries the Wechatpay-* headers of an APIv3 callback."""
    return bool(headers.get("Wechatpay-Signature") and headers.get("Wechatpay-Timestamp"))


def constant_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
