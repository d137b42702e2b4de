"""WeChat Pay APIv3 payments and refunds (WECHAT_PAY_API=v3), the adapter next to wechat/pay.py.

The functions have the names and keyword arguments of their v2 twins in wechat/pay.py and
return the *same normalised dicts* (v2 field names), so wechat/services.py reads one shape
whichever API a row was made through. Everything is sent through `wechat.v3.call` (signed
request, verified answer — errors too — and errors mapped to v2 err_codes).

Calls (all under https://api.mch.weixin.qq.com, or the sandbox's /wechat-sandbox):

====================  ======================================================================
v2 function           APIv3 call
====================  ======================================================================
pay_unified_order_    POST /v3/pay/transactions/jsapi {appid, mchid, description, out_trade_no,
jsapi                 notify_url, attach, amount {total, currency CNY}, payer {openid},
                      scene_info {payer_client_ip}} → {prepay_id}
pay_jsapi_params      getBrandWCPayRequest parameters, signType RSA (`v3.jsapi_params`)
pay_order_query       GET /v3/pay/transactions/out-trade-no/{no}?mchid=
pay_order_close       POST /v3/pay/transactions/out-trade-no/{no}/close {mchid} → 204
pay_refund            POST /v3/refund/domestic/refunds {out_trade_no, out_refund_no, reason,
                      notify_url, amount {refund, total, currency}}
pay_refund_query      GET /v3/refund/domestic/refunds/{out_refund_no}
====================  ======================================================================

What comes back (v3 field → the v2 name the services read):

* order: prepay_id → prepay_id (trade_type "JSAPI" added).
* query: trade_state → trade_state (the same words: SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED,
  USERPAYING, PAYERROR); transaction_id → transaction_id; success_time (RFC3339) → time_end
  (services._wechat_time reads both forms); amount.total → total_fee; amount.currency →
  fee_type; payer.openid → openid; appid / mchid → appid / mch_id.
* refund and refund query: refund_id → refund_id; amount.refund → refund_fee; amount.total →
  total_fee; status → refund_status with SUCCESS→SUCCESS, CLOSED→REFUNDCLOSE,
  PROCESSING→PROCESSING, ABNORMAL→CHANGE; the query is flattened to v2's list of one:
  refund_count=1, out_refund_no_0, refund_id_0, refund_fee_0, refund_status_0,
  refund_success_time_0 (success_time), refund_recv_accout_0 (user_received_account).
* errors: `v3.call` maps the v3 code to the v2 err_code (SYSTEM_ERROR→SYSTEMERROR, …); here in
  addition a query's 404 says ORDERNOTEXIST (order) / REFUNDNOTEXIST (refund), a refund of an
  order WeChat does not know ORDERNOTEXIST, and an *unsigned* 5xx answer (a proxy's HTML page)
  is `wechat_http_error` (uncertain either way: it tells nothing).

Every answer is checked before it is believed: appid and mchid are ours, out_trade_no /
out_refund_no are the ones asked about, amount.total / amount.refund are ours (codes
merchant_mismatch, wechat_bad_response, amount_mismatch — all "uncertain" for the services).

Callbacks (`payment_notification_parse`, `refund_notification_parse`, taking the request's
headers and body) are believed only after `v3.callback_open` (the Wechatpay-* signature by a
trusted WeChat key within 5 minutes; the AES-256-GCM resource opens with our APIv3 key), then:
payment — event TRANSACTION.SUCCESS, appid and mchid ours, trade_state SUCCESS, a
transaction_id; refund — event REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED matching the
resource's refund_status, mchid ours. The services then check our numbers and amounts.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from django.conf import settings

from core.errors import InvalidInput

from . import v3
from .errors import WechatError
from .pay import _bytes_cut

logger = logging.getLogger(__name__)

# APIv3 refund status → v2 refund_status
REFUND_STATUS = {"SUCCESS": "SUCCESS", "CLOSED": "REFUNDCLOSE", "PROCESSING": "PROCESSING", "ABNORMAL": "CHANGE"}
REFUND_EVENTS = {"REFUND.SUCCESS": "SUCCESS", "REFUND.ABNORMAL": "ABNORMAL", "REFUND.CLOSED": "CLOSED"}
PAYMENT_EVENT = "TRANSACTION.SUCCESS"


def _call(what: str, method: str, path: str, *, not_found: str = "", **kwargs) -> tuple[int, dict[str, Any]]:
    try:
        return v3.call(what, method, path, **kwargs)
    except WechatError as exc:
        extra = exc.extra if isinstance(exc.extra, dict) else {}
        status = extra.get("http_status") or 0
        if exc.code == "invalid_signature" and isinstance(status, int) and status >= 500:
            raise WechatError(f"WeChat answered HTTP {status}.", code="wechat_http_error",
                              extra={"call": what, "http_status": status}) from None
        if not_found and status == 404 and extra.get("err_code") in ("NOT_FOUND", "ORDERNOTEXIST"):
            from .pay import ERR_CODES

            code, cls, retryable = ERR_CODES[not_found]
            raise cls(str(exc.message), code=code, extra={**extra, "err_code": not_found,
                                                          "retryable": retryable}) from None
        raise


def _merchant(data: dict[str, Any], *, appid: bool = True) -> None:
    """The answer names our mchid (and appid, when it carries one)."""
    mchid = data.get("mchid", data.get("sp_mchid"))
    if mchid is not None and str(mchid) != settings.WECHAT_MCH_ID:
        logger.warning("wechat pay v3: answer names mchid %s, not ours", mchid)
        raise WechatError("WeChat's answer is for another merchant.", code="merchant_mismatch")
    if appid and data.get("appid") is not None and str(data["appid"]) != settings.WECHAT_APPID:
        logger.warning("wechat pay v3: answer names appid %s, not ours", data.get("appid"))
        raise WechatError("WeChat's answer is for another merchant.", code="merchant_mismatch")


def _no(value: str) -> str:
    return quote(value, safe="")


def _amount(data: dict[str, Any], key: str) -> str:
    node = data.get("amount")
    if isinstance(node, dict) and node.get(key) is not None:
        return str(node[key])
    return ""


# --- payments ------------------------------------------------------------------------------

def pay_unified_order_jsapi(
    *, out_trade_no: str, description: str, amount_fen: int, openid: str, client_ip: str,
    notify_url: str | None = None, attach: str = "",
) -> dict[str, str]:
    """JSAPI order (JSAPI下单). Returns {"prepay_id", "trade_type": "JSAPI"}."""
    payload: dict[str, Any] = {
        "appid": settings.WECHAT_APPID, "mchid": settings.WECHAT_MCH_ID,
        "description": _bytes_cut(description, 127), "out_trade_no": out_trade_no,
        "notify_url": notify_url or settings.WECHAT_PAY_NOTIFY_URL,
        "amount": {"total": amount_fen, "currency": "CNY"}, "payer": {"openid": openid},
        "scene_info": {"payer_client_ip": client_ip},
    }
    if attach:
        payload["attach"] = _bytes_cut(attach, 127)
    _, data = _call("pay.unifiedorder", "POST", "/v3/pay/transactions/jsapi", payload=payload)
    prepay_id = data.get("prepay_id")
    if not isinstance(prepay_id, str) or not prepay_id:
        raise WechatError("WeChat's answer has no prepay_id.", code="wechat_bad_response")
    return {"prepay_id": prepay_id, "trade_type": "JSAPI"}


def pay_jsapi_params(*, prepay_id: str) -> dict[str, str]:
    """getBrandWCPayRequest's parameters for an APIv3 prepay_id (signType RSA, merchant key)."""
    return v3.jsapi_params(prepay_id=prepay_id)


def _transaction_fields(data: dict[str, Any]) -> dict[str, str]:
    payer = data.get("payer") if isinstance(data.get("payer"), dict) else {}
    amount = data.get("amount") if isinstance(data.get("amount"), dict) else {}
    return {
        "appid": str(data.get("appid", "")), "mch_id": str(data.get("mchid", "")),
        "out_trade_no": str(data.get("out_trade_no", "")), "transaction_id": str(data.get("transaction_id") or ""),
        "trade_type": str(data.get("trade_type", "")), "trade_state": str(data.get("trade_state", "")),
        "trade_state_desc": str(data.get("trade_state_desc", "")), "time_end": str(data.get("success_time") or ""),
        "total_fee": str(amount.get("total", "")), "fee_type": str(amount.get("currency", "")),
        "openid": str(payer.get("openid", "")), "attach": str(data.get("attach", "")),
    }


def pay_order_query(*, out_trade_no: str, expect_amount_fen: int | None = None) -> dict[str, str]:
    _, data = _call("pay.orderquery", "GET", f"/v3/pay/transactions/out-trade-no/{_no(out_trade_no)}",
                    query={"mchid": settings.WECHAT_MCH_ID}, not_found="ORDERNOTEXIST")
    _merchant(data)
    v3.expect(data, "out_trade_no", out_trade_no)
    if data.get("out_trade_no") is None:
        raise WechatError("WeChat's answer does not name the order.", code="wechat_bad_response")
    if expect_amount_fen is not None:
        v3.expect(data, "amount.total", expect_amount_fen, code="amount_mismatch")
    return _transaction_fields(data)


def pay_order_close(*, out_trade_no: str) -> dict[str, str]:
    status, _ = _call("pay.closeorder", "POST", f"/v3/pay/transactions/out-trade-no/{_no(out_trade_no)}/close",
                      payload={"mchid": settings.WECHAT_MCH_ID})
    if status != 204:
        raise WechatError(f"WeChat answered HTTP {status} to a close, not 204.", code="wechat_bad_response")
    return {"result_code": "SUCCESS"}


# --- refunds -------------------------------------------------------------------------------

def _refund_status(value: Any) -> str:
    return REFUND_STATUS.get(str(value or ""), str(value or ""))


def pay_refund(
    *, out_trade_no: str, out_refund_no: str, total_fen: int, refund_fen: int, reason: str = "",
    notify_url: str | None = None,
) -> dict[str, str]:
    """Apply for a refund (退款申请). Safe to repeat with the same out_refund_no."""
    payload: dict[str, Any] = {
        "out_trade_no": out_trade_no, "out_refund_no": out_refund_no,
        "notify_url": notify_url or settings.WECHAT_REFUND_NOTIFY_URL,
        "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"},
    }
    if reason:
        payload["reason"] = _bytes_cut(reason, 80)
    _, data = _call("pay.refund", "POST", "/v3/refund/domestic/refunds", payload=payload, not_found="ORDERNOTEXIST")
    _merchant(data, appid=False)
    for field, value in (("out_refund_no", out_refund_no), ("out_trade_no", out_trade_no)):
        if data.get(field) is None:
            raise WechatError(f"WeChat's answer has no {field}.", code="wechat_bad_response")
        v3.expect(data, field, value)
    v3.expect(data, "amount.total", total_fen, code="amount_mismatch")
    v3.expect(data, "amount.refund", refund_fen, code="amount_mismatch")
    if not data.get("refund_id"):
        raise WechatError("WeChat's answer has no refund_id.", code="wechat_bad_response")
    return {
        "out_refund_no": str(data["out_refund_no"]), "out_trade_no": str(data["out_trade_no"]),
        "refund_id": str(data["refund_id"]), "transaction_id": str(data.get("transaction_id", "")),
        "refund_fee": _amount(data, "refund"), "total_fee": _amount(data, "total"),
        "refund_status": _refund_status(data.get("status")),
    }


def pay_refund_query(*, out_refund_no: str) -> dict[str, str]:
    """A refund's state, in v2's list shape (refund_count=1, …_0)."""
    _, data = _call("pay.refundquery", "GET", f"/v3/refund/domestic/refunds/{_no(out_refund_no)}",
                    not_found="REFUNDNOTEXIST")
    _merchant(data, appid=False)
    if data.get("out_refund_no") is None:
        raise WechatError("WeChat's answer does not name the refund.", code="wechat_bad_response")
    v3.expect(data, "out_refund_no", out_refund_no)
    return {
        "out_trade_no": str(data.get("out_trade_no", "")), "transaction_id": str(data.get("transaction_id", "")),
        "total_fee": _amount(data, "total"), "refund_count": "1",
        "out_refund_no_0": str(data["out_refund_no"]), "refund_id_0": str(data.get("refund_id", "")),
        "refund_fee_0": _amount(data, "refund"), "refund_status_0": _refund_status(data.get("status")),
        "refund_success_time_0": str(data.get("success_time") or ""),
        "refund_recv_accout_0": str(data.get("user_received_account", "")),
    }


# --- callbacks ------------------------------------------------------------------------------

def _merchant_callback(resource: dict[str, Any], *, appid: bool) -> None:
    mchid = str(resource.get("mchid", ""))
    app = str(resource.get("appid", "")) if appid else settings.WECHAT_APPID
    if mchid != settings.WECHAT_MCH_ID or app != settings.WECHAT_APPID:
        raise InvalidInput("The notification is for another merchant.", code="merchant_mismatch",
                           extra={"appid": app, "mch_id": mchid})


def payment_notification_parse(*, headers: Any, body: bytes) -> dict[str, str]:
    """A TRANSACTION.SUCCESS callback's resource in v2's field names (result_code SUCCESS,
    out_trade_no, transaction_id, total_fee, fee_type, time_end, appid, mch_id, openid).

    Raises InvalidSignature (unsigned, untrusted key, stale, tampered, another APIv3 key),
    InvalidInput payload_too_large / invalid_json / merchant_mismatch / invalid_notification."""
    cb = v3.callback_open(headers=headers, body=body)
    if cb.event_type != PAYMENT_EVENT:
        raise InvalidInput(f"Not a payment notification: {cb.event_type!r}.", code="invalid_notification",
                           extra={"event_type": cb.event_type})
    _merchant_callback(cb.resource, appid=True)
    fields = _transaction_fields(cb.resource)
    if fields["trade_state"] != "SUCCESS":
        raise InvalidInput(f"The notification's trade_state is {fields['trade_state']!r}, not SUCCESS.",
                           code="invalid_notification", extra={"trade_state": fields["trade_state"]})
    fields["result_code"] = "SUCCESS"
    fields["notification_id"] = cb.id
    return fields


def refund_notification_parse(*, headers: Any, body: bytes) -> dict[str, str]:
    """A REFUND.* callback's resource in v2's req_info names (out_refund_no, out_trade_no,
    refund_id, refund_fee, total_fee, refund_status SUCCESS / CHANGE / REFUNDCLOSE,
    success_time, refund_recv_accout). Raises like `payment_notification_parse`."""
    cb = v3.callback_open(headers=headers, body=body)
    status = REFUND_EVENTS.get(cb.event_type)
    if status is None:
        raise InvalidInput(f"Not a refund notification: {cb.event_type!r}.", code="invalid_notification",
                           extra={"event_type": cb.event_type})
    res = cb.resource
    _merchant_callback(res, appid=False)
    if str(res.get("refund_status", "")) != status:
        raise InvalidInput(
            "The notification's event and refund_status disagree.", code="invalid_notification",
            extra={"event_type": cb.event_type, "refund_status": str(res.get("refund_status", ""))})
    return {
        "out_refund_no": str(res.get("out_refund_no", "")), "out_trade_no": str(res.get("out_trade_no", "")),
        "transaction_id": str(res.get("transaction_id", "")), "refund_id": str(res.get("refund_id", "")),
        "refund_fee": _amount(res, "refund"), "total_fee": _amount(res, "total"),
        "refund_status": _refund_status(status), "success_time": str(res.get("success_time") or ""),
        "refund_recv_accout": str(res.get("user_received_account", "")), "notification_id": cb.id,
    }
