"""The sandbox's APIv3 side: WeChat's platform key, request checks, signed answers, callbacks.

Every APIv3 view of the sandbox (v3_pay_views.py, v3_bill_views.py) is wrapped by
`v3_endpoint`, which does what WeChat does before and after a handler runs:

* refuses a request whose Authorization is missing, malformed, for another merchant, names
  a serial that is not the merchant's API certificate, is more than 5 minutes old, or whose
  RSA-SHA256 signature over ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` does not verify
  with the merchant's public key (401 SIGN_ERROR, like WeChat). The path signed is WeChat's
  (``/v3/…``): the sandbox strips its own mount point (``/wechat-sandbox``) first, as a
  reverse proxy would;
* acts out an armed fault (wechat.sandbox.faults): ``timeout`` (carried out, answered after
  the client gave up), ``fail`` (an error answer with err_code, default SYSTEM_ERROR,
  nothing carried out unless outcome ``executed``), ``http_error`` (an unsigned HTML 500),
  ``bad_signature`` (carried out, answer signed with a wrong key);
* signs every answer, success or error, with the platform key: headers Wechatpay-Timestamp,
  -Nonce, -Signature, -Serial (the platform certificate's serial, or the public key id
  ``PUB_KEY_ID_…`` when the merchant is configured for the WeChat Pay public key, i.e.
  WECHAT_PAY_PUBLIC_KEY_ID is set), and Request-ID.

`v3_callback_post` sends a callback the way WeChat does: the resource AES-256-GCM sealed with
the APIv3 key, the JSON signed with the platform key, POSTed (several copies at once for
``duplicate_notify``); a ``bad_signature`` fault signs it with a wrong key.

The platform key pair and its self-signed certificate are made once into
WECHAT_SANDBOX_KEY_DIR (shared by every process through the files).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from wechat import v3

from .faults import fault_take, sleep_past_client_timeout
from .models.common import FaultMode, FaultOutcome

logger = logging.getLogger(__name__)

MOUNT = "/wechat-sandbox"
PLATFORM_KEY_FILE = "sandbox_platform_key.pem"
PLATFORM_CERT_FILE = "sandbox_platform_cert.pem"
WRONG_KEY_FILE = "sandbox_wrong_key.pem"
NOTIFY_TIMEOUT = 10.0
DUPLICATE_NOTIFY_COPIES = 5
# A fault armed with a v2 err_code (the same tests arm faults for both APIs) answers the v3 code.
V2_TO_V3_CODES = {
    "SYSTEMERROR": "SYSTEM_ERROR", "NOTENOUGH": "NOT_ENOUGH", "ORDERCLOSED": "ORDER_CLOSED",
    "ORDERNOTEXIST": "ORDER_NOT_EXIST", "REFUNDNOTEXIST": "RESOURCE_NOT_EXISTS", "SIGNERROR": "SIGN_ERROR",
    "FREQ_LIMIT": "FREQUENCY_LIMITED", "BIZERR_NEED_RETRY": "SYSTEM_ERROR",
}
# HTTP status WeChat answers with for an error code.
ERROR_STATUS = {
    "PARAM_ERROR": 400, "INVALID_REQUEST": 400, "SIGN_ERROR": 401, "NO_AUTH": 403, "NOT_ENOUGH": 403,
    "ACCOUNT_ERROR": 403, "ORDER_CLOSED": 400, "ORDERPAID": 400, "RESOURCE_NOT_EXISTS": 404, "ORDER_NOT_EXIST": 404,
    "NOT_FOUND": 404, "FREQUENCY_LIMITED": 429, "SYSTEM_ERROR": 500, "BANK_ERROR": 500,
}


# --- keys ----------------------------------------------------------------------------------

def platform_private_key() -> rsa.RSAPrivateKey:
    return v3.private_key_load(str(v3.generated_key_file(PLATFORM_KEY_FILE)))


def wrong_private_key() -> rsa.RSAPrivateKey:
    return v3.private_key_load(str(v3.generated_key_file(WRONG_KEY_FILE)))


def platform_certificate_pem() -> bytes:
    """The platform certificate (self-signed, 5 years), made once next to the key."""
    path = v3.key_dir() / PLATFORM_CERT_FILE
    if not path.exists():
        key = platform_private_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (fenxiao sandbox)")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=5 * 365)).sign(key, hashes.SHA256()))
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{PLATFORM_CERT_FILE}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(cert.public_bytes(serialization.Encoding.PEM))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return Path(path).read_bytes()


def platform_certificate() -> x509.Certificate:
    return x509.load_pem_x509_certificate(platform_certificate_pem())


def platform_serial() -> str:
    return format(platform_certificate().serial_number, "X")


def platform_public_key_pem() -> str:
    """The "WeChat Pay public key" a merchant downloads (PEM), for WECHAT_PAY_PUBLIC_KEY."""
    return platform_private_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def platform_public_key_id() -> str:
    """The public key's id (PUB_KEY_ID_ + 32 digits), for WECHAT_PAY_PUBLIC_KEY_ID."""
    digits = str(int(v3.key_serial(platform_private_key().public_key()), 16))[:32].rjust(32, "0")
    return f"{v3.PUBLIC_KEY_ID_PREFIX}{digits}"


def answer_serial() -> str:
    """Which key the sandbox names in Wechatpay-Serial: the public key id when the merchant is
    configured for the public key, else the platform certificate."""
    if settings.WECHAT_PAY_PUBLIC_KEY_ID:
        return settings.WECHAT_PAY_PUBLIC_KEY_ID
    return platform_serial()


def signed_headers(body: bytes, *, wrong_key: bool = False, serial: str = "") -> dict[str, str]:
    ts = str(int(time.time()))
    nonce = v3.nonce_str()
    key = wrong_private_key() if wrong_key else platform_private_key()
    return {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": serial or answer_serial(),
            "Wechatpay-Signature": v3.rsa_sign(key, v3.answer_message(ts, nonce, body)),
            "Wechatpay-Signature-Type": v3.SCHEMA, "Request-ID": secrets.token_hex(16)}


def v3_response(status: int, data: dict[str, Any] | None, *, wrong_key: bool = False,
                serial: str = "") -> HttpResponse:
    body = b"" if data is None else json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    res = HttpResponse(body, status=status, content_type="application/json; charset=utf-8")
    for name, value in signed_headers(body, wrong_key=wrong_key, serial=serial).items():
        res[name] = value
    return res


def v3_error(code: str, message: str, *, status: int | None = None) -> tuple[int, dict[str, Any]]:
    """An error answer (status, {"code", "message"}) for a handler to return."""
    return status or ERROR_STATUS.get(code, 400), {"code": code, "message": message}


# --- requests ----------------------------------------------------------------------------

def _signature_problem(request) -> str:
    """Why the request is not signed by our merchant ('' when it is)."""
    auth = v3.authorization_parse(request.headers.get("Authorization", ""))
    if auth is None:
        return "Authorization 头缺失或格式错误"
    if auth["mchid"] != settings.WECHAT_MCH_ID:
        return "商户号不匹配"
    if auth["serial_no"] != v3.merchant_serial():
        return "商户证书序列号不匹配"
    if not v3.fresh(auth["timestamp"]):
        return "请求时间戳过期"
    path = request.get_full_path()
    if path.startswith(MOUNT):
        path = path[len(MOUNT):]
    body = request.body.decode("utf-8", "surrogateescape")
    message = v3.request_message(request.method, path, auth["timestamp"], auth["nonce_str"], body)
    if not v3.rsa_verify(v3.merchant_public_key(), message.encode("utf-8", "surrogateescape"), auth["signature"]):
        return "签名错误"
    return ""


Handler = Callable[..., tuple[int, dict[str, Any] | None]]


def v3_endpoint(name: str, *, methods: tuple[str, ...] = ("POST",),
                record_failed: Callable[..., None] | None = None,
                serial: Callable[[], str] | None = None) -> Callable[[Handler], Callable]:
    """Wrap handler(request, data, **url_kwargs) -> (status, json | None) as an APIv3 view.

    `data` is the JSON body ({} for GET). `record_failed(request, data, err_code, **kwargs)`
    records the request as failed at WeChat (fault outcome "failed"); `serial()` names the key
    the answer is signed with (default `answer_serial`)."""

    def decorate(handler: Handler) -> Callable:
        @csrf_exempt
        @wraps(handler)
        def view(request, **kwargs):
            if request.method not in methods:
                return v3_response(*v3_error("INVALID_REQUEST", f"{request.method} 不支持", status=405))
            problem = _signature_problem(request)
            if problem:
                return v3_response(*v3_error("SIGN_ERROR", problem))
            data: dict[str, Any] = {}
            if request.body:
                try:
                    data = json.loads(request.body)
                except ValueError:
                    return v3_response(*v3_error("PARAM_ERROR", "请求体不是 JSON"))
                if not isinstance(data, dict):
                    return v3_response(*v3_error("PARAM_ERROR", "请求体不是 JSON 对象"))
            fault = fault_take(name)
            mode = fault.mode if fault else ""
            if mode == FaultMode.HTTP_ERROR:
                return HttpResponse("<html><body>500 Internal Server Error</body></html>", status=500)
            if mode == FaultMode.FAIL:
                err_code = V2_TO_V3_CODES.get(fault.err_code, fault.err_code) or "SYSTEM_ERROR"
                if fault.outcome == FaultOutcome.EXECUTED:
                    handler(request, data, **kwargs)  # carried out; the answer is lost in the error
                elif fault.outcome == FaultOutcome.FAILED and record_failed is not None:
                    record_failed(request, data, err_code, **kwargs)
                status, answer = v3_error(err_code, "sandbox: told to fail")
            else:
                status, answer = handler(request, data, **kwargs)
            res = v3_response(status, answer, wrong_key=mode == FaultMode.BAD_SIGNATURE,
                              serial=serial() if serial else "")
            if mode == FaultMode.TIMEOUT:
                sleep_past_client_timeout()
            return res

        return view

    return decorate


# --- callbacks -------------------------------------------------------------------------------

def v3_callback_body(*, event_type: str, resource_type: str, summary: str, resource: dict[str, Any],
                     apiv3_key: bytes | None = None) -> bytes:
    nonce = secrets.token_hex(6)
    associated = resource_type.split(".")[0].lower() if resource_type else "transaction"
    ciphertext = v3.aes_gcm_encrypt(apiv3_key or v3.apiv3_key(), nonce=nonce,
                                    plaintext=json.dumps(resource, ensure_ascii=False).encode(),
                                    associated_data=associated)
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    envelope = {
        "id": secrets.token_hex(18), "create_time": now.isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource", "event_type": event_type, "summary": summary,
        "resource": {"original_type": resource_type, "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext,
                     "associated_data": associated, "nonce": nonce},
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def v3_callback_post(url: str, body: bytes, *, wrong_key: bool = False, copies: int = 1,
                     headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """POST a callback `copies` times at once; what each answered: {status_code, code, body}."""
    sent = headers or signed_headers(body, wrong_key=wrong_key)
    results: list[dict[str, Any]] = [{} for _ in range(copies)]
    start = threading.Barrier(copies) if copies > 1 else None

    def send(i: int) -> None:
        if start is not None:
            start.wait(timeout=5)
        try:
            res = requests.post(url, data=body, timeout=NOTIFY_TIMEOUT,
                                headers={"Content-Type": "application/json", **sent})
        except requests.RequestException as exc:
            results[i] = {"status_code": None, "code": "", "error": str(exc)}
            return
        try:
            answer = res.json() if res.content else {}
        except ValueError:
            answer = {}
        code = answer.get("code", "") if isinstance(answer, dict) else ""
        results[i] = {"status_code": res.status_code, "code": code or ("SUCCESS" if res.status_code in (200, 204)
                                                                          else "FAIL"),
                      "body": res.text[:500]}

    if copies == 1:
        send(0)
        return results
    threads = [threading.Thread(target=send, args=(i,)) for i in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def v3_notify(url: str, *, fault_endpoint: str, event_type: str, resource_type: str, summary: str,
              resource: dict[str, Any]) -> list[dict[str, Any]]:
    """Send a callback as WeChat would, acting out a fault armed for `fault_endpoint`
    (bad_signature: signed with a wrong key; duplicate_notify: several copies at once)."""
    fault = fault_take(fault_endpoint)
    mode = fault.mode if fault else ""
    body = v3_callback_body(event_type=event_type, resource_type=resource_type, summary=summary, resource=resource)
    copies = DUPLICATE_NOTIFY_COPIES if mode == FaultMode.DUPLICATE_NOTIFY else 1
    return v3_callback_post(url, body, wrong_key=mode == FaultMode.BAD_SIGNATURE, copies=copies)


def rfc3339(when: dt.datetime | None = None) -> str:
    now = when or dt.datetime.now(dt.UTC)
    return now.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat(timespec="seconds")


# --- /v3/certificates ------------------------------------------------------------------------

@v3_endpoint("v3.certificates", methods=("GET",), serial=lambda: platform_serial())
def certificates(request, data):
    """/v3/certificates names the platform certificate whatever the merchant's set-up (it is
    how a merchant gets it)."""
    cert = platform_certificate()
    nonce = secrets.token_hex(6)
    sealed = v3.aes_gcm_encrypt(v3.apiv3_key(), nonce=nonce, plaintext=platform_certificate_pem(),
                                associated_data="certificate")
    return 200, {"data": [{
        "serial_no": platform_serial(), "effective_time": rfc3339(cert.not_valid_before_utc),
        "expire_time": rfc3339(cert.not_valid_after_utc),
        "encrypt_certificate": {"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate",
                                "ciphertext": sealed},
    }]}


v3_common_urlpatterns = [
    path("v3/certificates", certificates, name="sandbox-v3-certificates"),
]
