"""The sandbox's APIv3 payments and refunds, answered the way WeChat does (JSON, signed).

WeChat's API (under /wechat-sandbox, every request's signature checked by `v3_endpoint`):
  POST /v3/pay/transactions/jsapi                                   fault "pay.unifiedorder"
  GET  /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=      fault "pay.orderquery"
  GET  /v3/pay/transactions/id/{transaction_id}?mchid=              fault "pay.orderquery"
  POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close       fault "pay.closeorder"  → 204
  POST /v3/refund/domestic/refunds                                  fault "pay.refund"
  GET  /v3/refund/domestic/refunds/{out_refund_no}                  fault "pay.refundquery"

The fault names are the v2 ones, so one test arms one fault for either API (a fault armed
with a v2 err_code answers the v3 code: wechat.sandbox.v3.V2_TO_V3_CODES).

Orders are `SandboxPrepay` rows with api="v3", refunds `SandboxRefund` rows with api="v3":
the sandbox's own helpers (`pay_confirm`, `refund_confirm` in pay_views.py, the H5 pay sheet)
then send APIv3 callbacks for them (`payment_callback_send`, `refund_callback_send`).

Errors as WeChat answers them: PARAM_ERROR (400, missing / malformed field), INVALID_REQUEST
(400, appid / mchid not the merchant's), ORDERPAID (400, paid already), ORDER_CLOSED (400),
OUT_TRADE_NO_USED (400, the same out_trade_no with other content), ORDER_NOT_EXIST (404),
RESOURCE_NOT_EXISTS (404, no such refund / order to refund), NOT_ENOUGH (403), and for refunds
INVALID_REQUEST (400: the order is not paid, the total is not the order's, more than refundable).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.urls import path

from .clock import SHANGHAI
from .clock import now as _now
from .clock import rand as _rand
from .models.pay import SandboxPrepay, SandboxRefund
from .v3 import rfc3339, v3_endpoint, v3_error, v3_notify

REFUND_STATUS_V3 = {"PROCESSING": "PROCESSING", "SUCCESS": "SUCCESS", "CHANGE": "ABNORMAL", "REFUNDCLOSE": "CLOSED"}
REFUND_EVENT = {"SUCCESS": "REFUND.SUCCESS", "ABNORMAL": "REFUND.ABNORMAL", "CLOSED": "REFUND.CLOSED"}
REFUND_SUMMARY = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}
RECV_ACCOUNT = "支付用户零钱"


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value > 10**12:
        return None
    return value


def _obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    node = data.get(key)
    return node if isinstance(node, dict) else {}


def _time(compact: str) -> str:
    """v2's 20240101120000 / 2024-01-01 12:00:00 (Shanghai) as RFC3339."""
    for fmt in ("%Y%m%d%H%M%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return rfc3339(datetime.strptime(compact, fmt).replace(tzinfo=SHANGHAI))
        except (TypeError, ValueError):
            continue
    return ""


def _fingerprint(data: dict[str, Any]) -> str:
    parts = [str(data.get("out_trade_no", "")), str(_obj(data, "amount").get("total", "")),
             str(data.get("description", "")), str(_obj(data, "payer").get("openid", "")), "JSAPI", "v3"]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


# --- what WeChat answers about an order / a refund ------------------------------------------

def transaction_resource(prepay: SandboxPrepay, **overrides: Any) -> dict[str, Any]:
    """An order as the query answers it and the TRANSACTION.SUCCESS callback carries it.
    `overrides` replace top-level fields (tests build validly signed wrong callbacks with it:
    `amount={"total": 1, …}`, `mchid="…"`)."""
    data: dict[str, Any] = {
        "appid": prepay.appid, "mchid": prepay.mch_id, "out_trade_no": prepay.out_trade_no,
        "trade_type": prepay.trade_type, "trade_state": prepay.trade_state,
        "trade_state_desc": SandboxPrepay.State(prepay.trade_state).label, "attach": prepay.attach,
        "payer": {"openid": prepay.openid},
        "amount": {"total": prepay.total_fee, "currency": "CNY"},
    }
    if prepay.transaction_id:
        data.update(transaction_id=prepay.transaction_id, bank_type="OTHERS", success_time=_time(prepay.time_end))
        data["amount"].update(payer_total=prepay.total_fee, payer_currency="CNY")
    data.update(overrides)
    return data


def refund_resource(refund: SandboxRefund, **overrides: Any) -> dict[str, Any]:
    """A refund as the refund answer and the refund query carry it (its state in `status`)."""
    prepay = refund.prepay
    status = REFUND_STATUS_V3.get(refund.refund_status, refund.refund_status)
    data: dict[str, Any] = {
        "out_trade_no": prepay.out_trade_no, "transaction_id": prepay.transaction_id,
        "out_refund_no": refund.out_refund_no, "refund_id": refund.refund_id, "channel": "ORIGINAL",
        "user_received_account": RECV_ACCOUNT, "status": status,
        "create_time": rfc3339(refund.created_at) if refund.created_at else rfc3339(),
        "amount": {"total": prepay.total_fee, "refund": refund.refund_fee, "payer_total": prepay.total_fee,
                   "payer_refund": refund.refund_fee, "settlement_total": prepay.total_fee,
                   "settlement_refund": refund.refund_fee, "discount_refund": 0, "currency": "CNY"},
    }
    if refund.success_time:
        data["success_time"] = _time(refund.success_time)
    data.update(overrides)
    return data


def refund_callback_resource(refund: SandboxRefund, **overrides: Any) -> dict[str, Any]:
    """A refund as the REFUND.* callback carries it: mchid, its state in `refund_status`."""
    data = refund_resource(refund)
    data["refund_status"] = data.pop("status")
    data = {"mchid": refund.prepay.mch_id, **data}
    data.update(overrides)
    return data


# --- orders -------------------------------------------------------------------------------

def _existing_order(prepay: SandboxPrepay, fingerprint: str) -> tuple[int, dict[str, Any]]:
    if prepay.trade_state in (SandboxPrepay.State.SUCCESS, SandboxPrepay.State.REFUND):
        return v3_error("ORDERPAID", "该订单已支付")
    if prepay.trade_state == SandboxPrepay.State.CLOSED:
        return v3_error("ORDER_CLOSED", "该订单已关闭")
    if prepay.fingerprint != fingerprint:
        return v3_error("OUT_TRADE_NO_USED", "商户订单号重复")
    return 200, {"prepay_id": prepay.prepay_id}


def _merchant_problem(data: dict[str, Any], *, appid: bool = True) -> tuple[int, dict[str, Any]] | None:
    if str(data.get("mchid", "")) != settings.WECHAT_MCH_ID:
        return v3_error("INVALID_REQUEST", "mchid 与请求的商户号不一致")
    if appid and str(data.get("appid", "")) != settings.WECHAT_APPID:
        return v3_error("INVALID_REQUEST", "appid 和 mchid 不匹配")
    return None


@v3_endpoint("pay.unifiedorder")
def jsapi(request, data):
    for name in ("appid", "mchid", "description", "out_trade_no", "notify_url"):
        if not isinstance(data.get(name), str) or not data[name]:
            return v3_error("PARAM_ERROR", f"缺少参数 {name}")
    problem = _merchant_problem(data)
    if problem:
        return problem
    amount, payer = _obj(data, "amount"), _obj(data, "payer")
    total = _int(amount.get("total"))
    if total is None:
        return v3_error("PARAM_ERROR", "amount.total 参数错误")
    if amount.get("currency", "CNY") != "CNY":
        return v3_error("PARAM_ERROR", "amount.currency 只支持 CNY")
    if not isinstance(payer.get("openid"), str) or not payer["openid"]:
        return v3_error("PARAM_ERROR", "缺少参数 payer.openid")
    if len(data["out_trade_no"]) > 32:
        return v3_error("PARAM_ERROR", "out_trade_no 长度超过 32")
    fingerprint = _fingerprint(data)
    existing = SandboxPrepay.objects.filter(out_trade_no=data["out_trade_no"]).first()
    if existing is not None:
        return _existing_order(existing, fingerprint)
    try:
        with transaction.atomic():
            prepay = SandboxPrepay.objects.create(
                prepay_id=f"wx{_now():%Y%m%d%H%M%S}{_rand(20)}", appid=data["appid"], mch_id=data["mchid"],
                out_trade_no=data["out_trade_no"], body=data["description"][:128],
                attach=str(data.get("attach", ""))[:127], total_fee=total, openid=payer["openid"][:64],
                trade_type="JSAPI", spbill_create_ip=str(_obj(data, "scene_info").get("payer_client_ip", ""))[:64],
                notify_url=data["notify_url"][:256], fingerprint=fingerprint, api="v3",
            )
    except IntegrityError:
        return _existing_order(SandboxPrepay.objects.get(out_trade_no=data["out_trade_no"]), fingerprint)
    return 200, {"prepay_id": prepay.prepay_id}


def _query_answer(request, prepay: SandboxPrepay | None) -> tuple[int, dict[str, Any]]:
    if request.GET.get("mchid") != settings.WECHAT_MCH_ID:
        return v3_error("INVALID_REQUEST", "mchid 与请求的商户号不一致")
    if prepay is None:
        return v3_error("ORDER_NOT_EXIST", "订单不存在")
    return 200, transaction_resource(prepay)


@v3_endpoint("pay.orderquery", methods=("GET",))
def query_by_out_trade_no(request, data, out_trade_no: str):
    return _query_answer(request, SandboxPrepay.objects.filter(out_trade_no=out_trade_no).first())


@v3_endpoint("pay.orderquery", methods=("GET",))
def query_by_transaction_id(request, data, transaction_id: str):
    return _query_answer(request, SandboxPrepay.objects.filter(transaction_id=transaction_id).first())


@v3_endpoint("pay.closeorder")
def close(request, data, out_trade_no: str):
    if str(data.get("mchid", "")) != settings.WECHAT_MCH_ID:
        return v3_error("INVALID_REQUEST", "mchid 与请求的商户号不一致")
    prepay = SandboxPrepay.objects.filter(out_trade_no=out_trade_no).first()
    if prepay is None:
        return v3_error("ORDER_NOT_EXIST", "订单不存在")
    SandboxPrepay.objects.filter(pk=prepay.pk, trade_state=SandboxPrepay.State.NOTPAY).update(
        trade_state=SandboxPrepay.State.CLOSED)
    prepay.refresh_from_db()
    if prepay.trade_state == SandboxPrepay.State.CLOSED:
        return 204, None  # closing a closed order again is fine
    return v3_error("ORDERPAID", "订单已支付，不能发起关单")


# --- refunds ------------------------------------------------------------------------------

@v3_endpoint("pay.refund")
def refunds(request, data):
    amount = _obj(data, "amount")
    if not isinstance(data.get("out_refund_no"), str) or not data["out_refund_no"]:
        return v3_error("PARAM_ERROR", "缺少参数 out_refund_no")
    refund_fee, total_fee = _int(amount.get("refund")), _int(amount.get("total"))
    if refund_fee is None or total_fee is None or amount.get("currency", "CNY") != "CNY":
        return v3_error("PARAM_ERROR", "amount.refund / amount.total / amount.currency 参数错误")
    with transaction.atomic():
        if data.get("transaction_id"):
            found = SandboxPrepay.objects.filter(transaction_id=str(data["transaction_id"])).first()
        else:
            found = SandboxPrepay.objects.filter(out_trade_no=str(data.get("out_trade_no", ""))).first()
        if found is None:
            return v3_error("RESOURCE_NOT_EXISTS", "订单不存在")
        prepay = SandboxPrepay.objects.select_for_update().get(pk=found.pk)
        existing = SandboxRefund.objects.filter(out_refund_no=data["out_refund_no"]).first()
        if existing is not None:
            if existing.prepay_id != prepay.pk or existing.refund_fee != refund_fee:
                return v3_error("INVALID_REQUEST", "退款单号重复，且订单号或金额不一致")
            return 200, refund_resource(existing)
        if prepay.trade_state not in (SandboxPrepay.State.SUCCESS, SandboxPrepay.State.REFUND):
            return v3_error("INVALID_REQUEST", "订单未支付，不能退款")
        if total_fee != prepay.total_fee:
            return v3_error("INVALID_REQUEST", "订单金额与原订单不一致")
        refunded = prepay.refunds.exclude(refund_status=SandboxRefund.State.REFUNDCLOSE).aggregate(
            total=Sum("refund_fee"))["total"] or 0
        if refunded + refund_fee > prepay.total_fee:
            return v3_error("INVALID_REQUEST", "申请退款金额超过订单可退金额")
        new = SandboxRefund.objects.create(
            prepay=prepay, out_refund_no=data["out_refund_no"][:64],
            refund_id=f"50{_now():%Y%m%d%H%M%S}{_rand(12)}", refund_fee=refund_fee,
            notify_url=str(data.get("notify_url") or settings.WECHAT_REFUND_NOTIFY_URL)[:256],
            reason=str(data.get("reason", ""))[:80], api="v3",
        )
        SandboxPrepay.objects.filter(pk=prepay.pk).update(trade_state=SandboxPrepay.State.REFUND)
    new.prepay.refresh_from_db()
    return 200, refund_resource(new)


@v3_endpoint("pay.refundquery", methods=("GET",))
def refund_query(request, data, out_refund_no: str):
    refund = SandboxRefund.objects.select_related("prepay").filter(out_refund_no=out_refund_no).first()
    if refund is None:
        return v3_error("RESOURCE_NOT_EXISTS", "退款单不存在")
    return 200, refund_resource(refund)


# --- callbacks (sent by pay_views.pay_confirm / refund_confirm for v3 rows) ------------------------

def _v2_shaped(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each callback's result with the keys the v2 helpers read (return_code, return_msg)."""
    out = []
    for r in results:
        message = ""
        try:
            message = str(json.loads(r.get("body") or "{}").get("message", ""))
        except (ValueError, AttributeError):
            pass
        ok = r.get("status_code") in (200, 204) and r.get("code") == "SUCCESS"
        out.append({**r, "return_code": "SUCCESS" if ok else "FAIL", "return_msg": message})
    return out


def payment_callback_send(prepay: SandboxPrepay) -> list[dict[str, Any]]:
    """TRANSACTION.SUCCESS for a paid v3 order, to its notify_url (fault "pay.notify":
    bad_signature, duplicate_notify)."""
    return _v2_shaped(v3_notify(prepay.notify_url, fault_endpoint="pay.notify", event_type="TRANSACTION.SUCCESS",
                                resource_type="transaction", summary="支付成功",
                                resource=transaction_resource(prepay)))


def refund_callback_send(refund: SandboxRefund, url: str) -> list[dict[str, Any]]:
    """REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED for a finished v3 refund (fault
    "refund.notify": bad_signature, duplicate_notify)."""
    resource = refund_callback_resource(refund)
    status = resource["refund_status"]
    return _v2_shaped(v3_notify(url, fault_endpoint="refund.notify", event_type=REFUND_EVENT.get(status, status),
                                resource_type="refund", summary=REFUND_SUMMARY.get(status, status),
                                resource=resource))


v3_pay_urlpatterns = [
    path("v3/pay/transactions/jsapi", jsapi, name="sandbox-v3-pay-jsapi"),
    path("v3/pay/transactions/out-trade-no/<str:out_trade_no>", query_by_out_trade_no,
         name="sandbox-v3-pay-query"),
    path("v3/pay/transactions/id/<str:transaction_id>", query_by_transaction_id, name="sandbox-v3-pay-query-id"),
    path("v3/pay/transactions/out-trade-no/<str:out_trade_no>/close", close, name="sandbox-v3-pay-close"),
    path("v3/refund/domestic/refunds", refunds, name="sandbox-v3-refunds"),
    path("v3/refund/domestic/refunds/<str:out_refund_no>", refund_query, name="sandbox-v3-refund-query"),
]
