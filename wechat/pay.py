"""WeChat Pay v2 through wechatpy, with the checks wechatpy does not do.

* Settings are read at call time (`pay_client()` builds a fresh client), so tests can
  override them. Live mode talks to https://api.mch.weixin.qq.com/, sandbox mode to
  `WECHAT_SANDBOX_BASE_URL + "/wechat-sandbox/mch/"`. We never use wechatpy's own
  `sandbox=True` (that is Tencent's sandbox, with a different key).
* Every call has a timeout (`WECHAT_HTTP_TIMEOUT`) and sends the client IP.
* Every answer is checked before it is believed: XML, the MD5 signature (constant-time
  compare), our appid and mch_id, and the amounts we asked for. WeChat signs the
  order/refund answers; the transfer and red-pack answers are not signed by WeChat
  (those calls go over mutual TLS with the merchant certificate), so their signature
  is checked when present and their ids and amounts always.
* Failures become our errors: a timeout -> `WechatTimeout`; FAIL / err_code ->
  `WechatError` (or a 409 subclass for ORDERPAID / ORDERCLOSED) with
  extra {err_code, err_code_des}; a bad signature -> `WechatError` code
  "invalid_signature"; anything that is not WeChat XML -> `WechatError`.

Notifications are parsed here too (`payment_notification_parse`,
`refund_notification_parse`): they raise `InvalidSignature` (400) and friends, never
trusting a field before the signature has been checked.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any

import requests
import xmltodict
from django.conf import settings
from wechatpy.crypto import RefundCrypto
from wechatpy.exceptions import WeChatPayException
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import calculate_signature, dict_to_xml

from core.errors import Conflict, InvalidInput

from .errors import InvalidSignature, WechatError, WechatTimeout

logger = logging.getLogger(__name__)

LIVE_API_BASE_URL = "https://api.mch.weixin.qq.com/"
NOTIFY_MAX_BYTES = 64 * 1024
# Answers that WeChat does not sign (mutual-TLS calls); checked when a sign is present.
UNSIGNED_ENDPOINTS = ("mmpaymkttransfers/promotion/transfers", "mmpaymkttransfers/gettransferinfo",
                      "mmpaymkttransfers/sendredpack", "mmpaymkttransfers/gethbinfo")
# Answer fields that are XML trees, not values (gethbinfo's <hblist><hbinfo>…): left out of the
# flat dict. WeChat does not sign those answers; nothing we check lives in them.
NESTED_ANSWER_FIELDS = frozenset({"hblist"})
APPID_KEYS = ("appid", "mch_appid", "wxappid")
MCH_ID_KEYS = ("mch_id", "mchid")


class WechatConflict(WechatError, Conflict):
    """409: WeChat says the order is already paid or closed."""


# WeChat err_code -> (our code, error class, retryable)
ERR_CODES: dict[str, tuple[str, type[WechatError], bool]] = {
    "ORDERPAID": ("order_already_paid", WechatConflict, False),
    "ORDERCLOSED": ("order_closed", WechatConflict, False),
    "ORDERNOTEXIST": ("wechat_order_not_found", WechatError, False),
    "REFUNDNOTEXIST": ("wechat_refund_not_found", WechatError, False),
    "NOTENOUGH": ("merchant_insufficient_funds", WechatError, True),
    "SYSTEMERROR": ("wechat_system_error", WechatError, True),
    "BIZERR_NEED_RETRY": ("wechat_system_error", WechatError, True),
    "FREQUENCY_LIMITED": ("wechat_rate_limited", WechatError, True),
    "FREQ_LIMIT": ("wechat_rate_limited", WechatError, True),
    "SIGNERROR": ("wechat_sign_error", WechatError, False),
    "PARAM_ERROR": ("wechat_param_error", WechatError, False),
    "AMOUNT_LIMIT": ("amount_limit", WechatError, False),
    "MONEY_LIMIT": ("amount_limit", WechatError, False),
    "OUT_TRADE_NO_USED": ("out_trade_no_used", WechatConflict, False),
    "INVALID_REQUEST": ("wechat_invalid_request", WechatError, False),
    "NOT_FOUND": ("wechat_not_found", WechatError, False),
}
# err_codes after which the outcome is unknown (the request may have been carried out).
UNCERTAIN_ERR_CODES = frozenset({"SYSTEMERROR", "BIZERR_NEED_RETRY"})


def api_base_url() -> str:
    if settings.WECHAT_MODE == "live":
        return LIVE_API_BASE_URL
    return f"{settings.WECHAT_SANDBOX_BASE_URL.rstrip('/')}/wechat-sandbox/mch/"


# --- signatures and XML ---------------------------------------------------------------

def sign(data: dict[str, Any], api_key: str | None = None) -> str:
    """The WeChat Pay v2 MD5 signature of `data` (without its `sign`)."""
    fields = {k: v for k, v in data.items() if k != "sign"}
    return calculate_signature(fields, api_key if api_key is not None else settings.WECHAT_PAY_API_KEY)


def sign_valid(data: dict[str, Any], api_key: str | None = None) -> bool:
    """True when data["sign"] is right, compared in constant time. Only MD5 is accepted."""
    given = data.get("sign")
    if not isinstance(given, str) or not given:
        return False
    if data.get("sign_type") not in (None, "", "MD5"):
        return False
    expected = sign(data, api_key)
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def to_xml(data: dict[str, Any], *, api_key: str | None = None, signed: bool = True) -> str:
    """WeChat XML of `data`: signed with `api_key` (default ours), or as given (with any `sign` it has)."""
    fields = {k: v for k, v in data.items() if k != "sign" and v is not None and v != ""}
    if signed:
        return dict_to_xml(fields, sign(fields, api_key))
    return dict_to_xml(fields, data.get("sign") or None)


def parse_xml(body: bytes | str, *, skip_nested: frozenset[str] = frozenset()) -> dict[str, str]:
    """A flat WeChat `<xml>` document as a dict of strings. Raises ValueError for anything else.

    DOCTYPEs and entities are refused outright (no entity expansion attacks). Fields named in
    `skip_nested` may be XML trees; they are left out."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise ValueError("DOCTYPE/ENTITY not allowed")
    try:
        doc = xmltodict.parse(raw, disable_entities=True)
    except Exception as exc:  # noqa: BLE001 - expat raises several kinds
        raise ValueError(f"not XML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("xml"), dict):
        raise ValueError("no <xml> root")
    data = doc["xml"]
    out: dict[str, str] = {}
    for key, value in data.items():
        if value is None:
            out[key] = ""
        elif key in skip_nested and not isinstance(value, str):
            continue
        elif isinstance(value, str):
            out[key] = value
        else:
            raise ValueError(f"field {key!r} is not a plain value")
    return out


# --- the client ---------------------------------------------------------------------

class FenxiaoWeChatPay(WeChatPay):
    """wechatpy's WeChatPay, pointed at our base URL, checking every answer."""

    def __init__(self, *, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.API_BASE_URL = base_url  # instance attribute: wechatpy reads self.API_BASE_URL per call

    def __enter__(self) -> FenxiaoWeChatPay:
        return self

    def __exit__(self, *exc_info) -> None:
        self._http.close()  # no idle keep-alive connections left behind

    def _handle_result(self, res):
        res.encoding = "utf-8"
        text = res.text
        url = res.url or ""
        endpoint = url[len(self.API_BASE_URL):] if url.startswith(self.API_BASE_URL) else url
        try:
            data = parse_xml(text, skip_nested=NESTED_ANSWER_FIELDS)
        except ValueError as exc:
            logger.warning("wechat pay: answer of %s is not WeChat XML: %s", endpoint, exc)
            raise WechatError("WeChat answered something that is not WeChat XML.", code="wechat_bad_response")
        return_code = data.get("return_code")
        if return_code != "SUCCESS":
            raise WechatError(
                f"WeChat refused the request: {data.get('return_msg') or return_code}",
                code="wechat_error",
                extra={"return_code": return_code or "", "return_msg": data.get("return_msg") or ""},
            )
        signed_endpoint = not endpoint.startswith(UNSIGNED_ENDPOINTS)
        if (signed_endpoint or data.get("sign")) and not sign_valid(data, self.api_key):
            logger.warning("wechat pay: answer of %s has a bad or missing signature", endpoint)
            raise WechatError("WeChat's answer has a bad signature.", code="invalid_signature")
        _check_merchant(data, self.appid, self.mch_id, require=signed_endpoint)
        if data.get("result_code") != "SUCCESS":
            raise error_from_result(data)
        return data


def _check_merchant(data: dict[str, str], appid: str, mch_id: str, *, require: bool) -> None:
    appids = [data[k] for k in APPID_KEYS if data.get(k)]
    mch_ids = [data[k] for k in MCH_ID_KEYS if data.get(k)]
    if require and (not appids or not mch_ids):
        raise WechatError("WeChat's answer does not name our merchant.", code="merchant_mismatch")
    if any(a != appid for a in appids) or any(m != mch_id for m in mch_ids):
        logger.warning("wechat pay: answer names appid %s mch_id %s, not ours", appids, mch_ids)
        raise WechatError("WeChat's answer is for another merchant.", code="merchant_mismatch")


def error_from_result(data: dict[str, str]) -> WechatError:
    err_code = data.get("err_code") or "FAIL"
    des = data.get("err_code_des") or data.get("return_msg") or ""
    code, cls, retryable = ERR_CODES.get(err_code, ("wechat_error", WechatError, False))
    return cls(
        f"WeChat Pay: {err_code} {des}".strip(),
        code=code,
        extra={"err_code": err_code, "err_code_des": des, "retryable": retryable},
    )


def pay_client() -> FenxiaoWeChatPay:
    cert = settings.WECHAT_MCH_CERT or None
    key = settings.WECHAT_MCH_KEY or None
    return FenxiaoWeChatPay(
        base_url=api_base_url(),
        appid=settings.WECHAT_APPID,
        api_key=settings.WECHAT_PAY_API_KEY,
        mch_id=settings.WECHAT_MCH_ID,
        mch_cert=cert,
        mch_key=key,
        timeout=float(settings.WECHAT_HTTP_TIMEOUT),
    )


def _call(what: str, method: str, **kwargs) -> dict[str, str]:
    """Call wechatpy's `client.<method>` (e.g. "order.create") on a fresh client; map failures."""
    try:
        with pay_client() as client:
            api, name = method.split(".")
            return getattr(getattr(client, api), name)(**kwargs)
    except requests.Timeout:
        logger.warning("wechat pay: %s timed out", what)
        raise WechatTimeout(extra={"call": what})
    except requests.RequestException as exc:
        logger.warning("wechat pay: %s failed: %s", what, exc)
        raise WechatError("WeChat could not be reached.", code="wechat_unreachable", extra={"call": what})
    except WeChatPayException as exc:  # only raise_for_status is left to wechatpy
        status = getattr(exc.response, "status_code", None)
        logger.warning("wechat pay: %s answered HTTP %s", what, status)
        raise WechatError(f"WeChat answered HTTP {status}.", code="wechat_http_error",
                          extra={"call": what, "http_status": status})


def _expect(data: dict[str, str], field: str, value: Any, *, code: str = "amount_mismatch") -> None:
    if field in data and str(data[field]) != str(value):
        logger.warning("wechat pay: answer has %s=%s, we asked for %s", field, data[field], value)
        raise WechatError(f"WeChat's answer has {field}={data[field]}, not {value}.", code=code,
                          extra={"field": field, "expected": str(value), "got": data[field]})


_NO_RE = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")


def check_merchant_no(value: str, *, field: str, max_length: int) -> None:
    if not _NO_RE.match(value or "") or len(value) > max_length:
        raise InvalidInput(f"{field} must be 1-{max_length} letters, digits or _-|*@.", extra={"field": field})


def _bytes_cut(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


# --- operations ---------------------------------------------------------------------

def pay_unified_order_jsapi(
    *, out_trade_no: str, description: str, amount_fen: int, openid: str, client_ip: str,
    notify_url: str | None = None, attach: str = "",
) -> dict[str, str]:
    """JSAPI unified order (统一下单). Returns WeChat's checked answer (with prepay_id)."""
    data = _call(
        "pay.unifiedorder", "order.create",
        trade_type="JSAPI", body=_bytes_cut(description, 127), total_fee=amount_fen,
        notify_url=notify_url or settings.WECHAT_PAY_NOTIFY_URL, client_ip=client_ip, user_id=openid,
        out_trade_no=out_trade_no, attach=attach or None,
    )
    if not data.get("prepay_id"):
        raise WechatError("WeChat's answer has no prepay_id.", code="wechat_bad_response")
    _expect(data, "trade_type", "JSAPI", code="wechat_bad_response")
    return data


def pay_jsapi_params(*, prepay_id: str) -> dict[str, str]:
    """The signed parameters for WeixinJSBridge.invoke('getBrandWCPayRequest', ...)."""
    with pay_client() as client:
        return client.jsapi.get_jsapi_params(prepay_id)


def pay_order_query(*, out_trade_no: str, expect_amount_fen: int | None = None) -> dict[str, str]:
    data = _call("pay.orderquery", "order.query", out_trade_no=out_trade_no)
    _expect(data, "out_trade_no", out_trade_no, code="wechat_bad_response")
    if expect_amount_fen is not None:
        _expect(data, "total_fee", expect_amount_fen)
    return data


def pay_order_close(*, out_trade_no: str) -> dict[str, str]:
    return _call("pay.closeorder", "order.close", out_trade_no=out_trade_no)


def pay_refund(
    *, out_trade_no: str, out_refund_no: str, total_fen: int, refund_fen: int, reason: str = "",
    notify_url: str | None = None,
) -> dict[str, str]:
    """Apply for a refund (申请退款). Safe to repeat with the same out_refund_no."""
    data = _call(
        "pay.refund", "refund.apply",
        total_fee=total_fen, refund_fee=refund_fen, out_refund_no=out_refund_no, out_trade_no=out_trade_no,
        refund_desc=_bytes_cut(reason, 80) or None, notify_url=notify_url or settings.WECHAT_REFUND_NOTIFY_URL,
    )
    _expect(data, "out_refund_no", out_refund_no, code="wechat_bad_response")
    _expect(data, "out_trade_no", out_trade_no, code="wechat_bad_response")
    _expect(data, "total_fee", total_fen)
    _expect(data, "refund_fee", refund_fen)
    return data


def pay_refund_query(*, out_refund_no: str) -> dict[str, str]:
    data = _call("pay.refundquery", "refund.query", out_refund_no=out_refund_no)
    return data


def pay_transfer(
    *, partner_trade_no: str, openid: str, amount_fen: int, description: str, real_name: str = "",
) -> dict[str, str]:
    """Transfer to a user's WeChat balance (企业付款到零钱). Safe to repeat with the same number."""
    data = _call(
        "pay.transfer", "transfer.transfer",
        user_id=openid, amount=amount_fen, desc=_bytes_cut(description, 99),
        client_ip=settings.WECHAT_SERVER_IP, check_name="FORCE_CHECK" if real_name else "NO_CHECK",
        real_name=real_name or None, out_trade_no=partner_trade_no,
    )
    _expect(data, "partner_trade_no", partner_trade_no, code="wechat_bad_response")
    if not data.get("payment_no"):
        raise WechatError("WeChat's answer has no payment_no.", code="wechat_bad_response")
    return data


def pay_transfer_query(*, partner_trade_no: str) -> dict[str, str]:
    data = _call("pay.gettransferinfo", "transfer.query", out_trade_no=partner_trade_no)
    _expect(data, "partner_trade_no", partner_trade_no, code="wechat_bad_response")
    return data


def pay_redpack(
    *, mch_billno: str, openid: str, amount_fen: int, send_name: str, act_name: str, wishing: str, remark: str,
) -> dict[str, str]:
    """Send a cash red pack (现金红包). Safe to repeat with the same mch_billno."""
    data = _call(
        "pay.sendredpack", "redpack.send",
        user_id=openid, total_amount=amount_fen, send_name=_bytes_cut(send_name, 32),
        act_name=_bytes_cut(act_name, 32), wishing=_bytes_cut(wishing, 128), remark=_bytes_cut(remark, 256),
        client_ip=settings.WECHAT_SERVER_IP, out_trade_no=mch_billno,
    )
    _expect(data, "mch_billno", mch_billno, code="wechat_bad_response")
    _expect(data, "re_openid", openid, code="wechat_bad_response")
    _expect(data, "total_amount", amount_fen)
    return data


def pay_redpack_query(*, mch_billno: str) -> dict[str, str]:
    """What became of a red pack (查询红包记录, gethbinfo): status SENDING / SENT / FAILED /
    RECEIVED / RFUND_ING / REFUND, or err_code NOT_FOUND."""
    data = _call("pay.gethbinfo", "redpack.query", out_trade_no=mch_billno)
    _expect(data, "mch_billno", mch_billno, code="wechat_bad_response")
    return data


# --- notifications ------------------------------------------------------------------

def _parse_notification(body: bytes) -> dict[str, str]:
    if len(body) > NOTIFY_MAX_BYTES:
        raise InvalidInput("The notification is too large.", code="payload_too_large")
    try:
        return parse_xml(body)
    except ValueError:
        raise InvalidInput("The notification is not WeChat XML.", code="invalid_xml")


def payment_notification_parse(*, body: bytes) -> dict[str, str]:
    """A payment notification's fields, after checking signature, appid and mch_id.

    Raises InvalidSignature (unsigned, tampered, signed with another key), or InvalidInput
    with code invalid_xml / payload_too_large / merchant_mismatch."""
    data = _parse_notification(body)
    if data.get("return_code") != "SUCCESS" and not data.get("sign"):
        raise InvalidSignature("The notification is not signed.")
    if not sign_valid(data, settings.WECHAT_PAY_API_KEY):
        raise InvalidSignature()
    if data.get("appid") != settings.WECHAT_APPID or data.get("mch_id") != settings.WECHAT_MCH_ID:
        raise InvalidInput("The notification is for another merchant.", code="merchant_mismatch",
                           extra={"appid": data.get("appid", ""), "mch_id": data.get("mch_id", "")})
    return data


def refund_req_info_encrypt(fields: dict[str, Any], api_key: str | None = None) -> str:
    """Encrypt a refund notification's req_info the way WeChat does (used by the sandbox)."""
    key = hashlib.md5((api_key or settings.WECHAT_PAY_API_KEY).encode()).hexdigest().encode()  # noqa: S324
    root = "<root>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</root>"
    return RefundCrypto(key).encrypt(root).decode()


def refund_notification_parse(*, body: bytes) -> dict[str, str]:
    """A refund notification's decrypted req_info fields, after checking appid and mch_id.

    The outer XML is not signed by WeChat; req_info is AES-256-ECB encrypted with
    md5(api_key). Only someone with our API key can produce a req_info that decrypts to
    XML; anything else is refused as invalid_signature. (ECB has no integrity check: the
    caller must still match every field against its own records.)"""
    data = _parse_notification(body)
    if data.get("return_code") != "SUCCESS":
        raise InvalidInput(f"WeChat reports a refund notification failure: {data.get('return_msg', '')}",
                           code="wechat_error")
    if not data.get("req_info"):
        raise InvalidSignature("The refund notification has no req_info.")
    if data.get("appid") != settings.WECHAT_APPID or data.get("mch_id") != settings.WECHAT_MCH_ID:
        raise InvalidInput("The notification is for another merchant.", code="merchant_mismatch",
                           extra={"appid": data.get("appid", ""), "mch_id": data.get("mch_id", "")})
    try:
        with pay_client() as client:
            info = client.parse_refund_notify_result(data)
    except Exception:  # noqa: BLE001 - a wrong key yields garbage: bad padding, bad XML, anything
        raise InvalidSignature("The refund notification's req_info does not decrypt with our key.")
    if not isinstance(info, dict) or not all(isinstance(v, str | int) or v is None for v in info.values()):
        raise InvalidSignature("The refund notification's req_info does not decrypt with our key.")
    return {k: "" if v is None else str(v) for k, v in info.items()}
