"""The sandbox's WeChat Pay side, answered the way WeChat does (XML in, signed XML out).

WeChat's API, as wechatpy calls it (under /wechat-sandbox/mch/):
  pay/unifiedorder  pay/orderquery  pay/closeorder  pay/refundquery  secapi/pay/refund
  mmpaymkttransfers/promotion/transfers  mmpaymkttransfers/gettransferinfo
  mmpaymkttransfers/sendredpack  mmpaymkttransfers/gethbinfo

Every request's signature (MD5 with the merchant's API key), appid and mch_id are
checked (FAIL "签名错误" and friends otherwise); business errors come back the way
WeChat sends them (result_code FAIL with err_code: ORDERPAID, ORDERCLOSED,
ORDERNOTEXIST, PARAM_ERROR, AMOUNT_LIMIT, MONEY_LIMIT, ...).

Our own helpers (not WeChat's):
  POST /wechat-sandbox/pay/{prepay_id}/confirm/            the user pays: marks it paid and
       POSTs the signed payment notification to the order's notify_url; JSON answer says
       what our server replied. Confirming a paid order re-sends the notification.
  POST /wechat-sandbox/pay/refunds/{out_refund_no}/confirm/ {status?: SUCCESS|CHANGE|REFUNDCLOSE}
       WeChat finishes the refund: POSTs the refund notification (req_info encrypted with
       AES-256-ECB, key md5(api key)) to the refund's notify_url.
  Both send the APIv3 callback instead (signed JSON, AES-256-GCM resource; TRANSACTION.SUCCESS,
  REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED) for an order / refund made through APIv3
  (v3_pay_views.py); their answers keep the same keys (return_code SUCCESS when our server
  answered 200 SUCCESS, notifications).
  POST /wechat-sandbox/faults/  {endpoint, mode, times?, err_code?, executed?, outcome?}   arm a fault
  DELETE /wechat-sandbox/faults/                                      clear all faults

Faults (wechat.sandbox.faults), by endpoint name "pay.unifiedorder", "pay.orderquery",
"pay.closeorder", "pay.refund", "pay.refundquery", "pay.transfer", "pay.gettransferinfo",
"pay.sendredpack", "pay.gethbinfo": timeout (answer after the client gave up; the request IS
carried out), fail (result_code FAIL with err_code, default SYSTEMERROR; nothing carried out —
unless `"executed": true` / `"outcome": "executed"`: carried out, then the error answered,
i.e. "SEND_FAILED, but the transfer went through"; or `"outcome": "failed"`: the transfer / red
pack is recorded as failed, so its query answers status FAILED),
http_error (HTTP 500, nothing carried out), bad_signature (carried out, answer signed with
a wrong key). "pay.notify" / "refund.notify": bad_signature (notification signed /
encrypted with a wrong key), fail (payment notification with result_code FAIL),
duplicate_notify (the notification is sent several times at once).
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from wechat.pay import parse_xml, refund_req_info_encrypt, sign, sign_valid, to_xml

from .clock import SHANGHAI, now, rand
from .faults import fault_arm, fault_clear, fault_take, sleep_past_client_timeout
from .models.common import FaultMode, FaultOutcome
from .models.pay import SandboxPrepay, SandboxRedpack, SandboxRefund, SandboxTransfer
from .v3_pay_views import payment_callback_send, refund_callback_send

logger = logging.getLogger(__name__)

WRONG_KEY = "sandbox0wrong0key0sandbox0wrong0"
DUPLICATE_NOTIFY_COPIES = 5
NOTIFY_TIMEOUT = 10.0


_now = now
_rand = rand


def _fail(err_code: str, des: str) -> dict[str, str]:
    return {"result_code": "FAIL", "err_code": err_code, "err_code_des": des}


def _int(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 12:
        return None
    return int(value)


def _missing(data: dict[str, str], *names: str) -> dict[str, str] | None:
    for name in names:
        if not data.get(name):
            return _fail("PARAM_ERROR", f"缺少参数 {name}")
    return None


def _return_fail(message: str) -> HttpResponse:
    return HttpResponse(to_xml({"return_code": "FAIL", "return_msg": message}, signed=False),
                        content_type="text/xml; charset=utf-8")


def mch_endpoint(name: str, *, appid_key: str = "appid", mch_key: str = "mch_id",
                 record_failed: Callable[[dict[str, str], str], None] | None = None,
                 extra_xml: Callable[[dict[str, Any]], str] | None = None):
    """Wrap a handler(data) -> fields as a WeChat Pay API view: checks, faults, signed XML.

    `record_failed(data, err_code)` records the request as failed at WeChat (fault outcome
    "failed"); `extra_xml(fields)` returns XML trees appended to the answer after signing."""

    def decorate(handler: Callable[[dict[str, str]], dict[str, Any]]):
        @csrf_exempt
        @require_POST
        def view(request):
            fault = fault_take(name)
            mode = fault.mode if fault else ""
            if mode == FaultMode.HTTP_ERROR:
                return HttpResponse("<html><body>500 Internal Server Error</body></html>", status=500)
            try:
                data = parse_xml(request.body)
            except ValueError:
                return _return_fail("XML格式错误")
            if not sign_valid(data, settings.WECHAT_PAY_API_KEY):
                return _return_fail("签名错误")
            if data.get(appid_key) != settings.WECHAT_APPID or data.get(mch_key) != settings.WECHAT_MCH_ID:
                return _return_fail("appid和mch_id不匹配")
            if mode == FaultMode.FAIL:
                err_code = fault.err_code or "SYSTEMERROR"
                if fault.outcome == FaultOutcome.EXECUTED:
                    handler(data)  # WeChat carried it out; its answer is lost in the error
                elif fault.outcome == FaultOutcome.FAILED and record_failed is not None:
                    record_failed(data, err_code)
                result = _fail(err_code, "sandbox: told to fail")
            else:
                result = handler(data)
            fields = {"return_code": "SUCCESS", "return_msg": "OK", appid_key: data[appid_key],
                      mch_key: data[mch_key], "nonce_str": _rand(32), **result}
            body = to_xml(fields, api_key=WRONG_KEY if mode == FaultMode.BAD_SIGNATURE else None)
            if extra_xml is not None and fields.get("result_code") == "SUCCESS":
                body = body.replace("</xml>", extra_xml(fields) + "</xml>")
            if mode == FaultMode.TIMEOUT:
                sleep_past_client_timeout()
            return HttpResponse(body, content_type="text/xml; charset=utf-8")

        view.__name__ = handler.__name__
        return view

    return decorate


# --- orders ---------------------------------------------------------------------------

def _fingerprint(data: dict[str, str]) -> str:
    parts = [data.get(k, "") for k in ("out_trade_no", "total_fee", "body", "openid", "trade_type")]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _existing_order_answer(prepay: SandboxPrepay, fingerprint: str) -> dict[str, str]:
    if prepay.trade_state in (SandboxPrepay.State.SUCCESS, SandboxPrepay.State.REFUND):
        return _fail("ORDERPAID", "该订单已支付")
    if prepay.trade_state == SandboxPrepay.State.CLOSED:
        return _fail("ORDERCLOSED", "该订单已关闭")
    if prepay.fingerprint != fingerprint:
        return _fail("INVALID_REQUEST", "201 商户订单号重复")
    return {"result_code": "SUCCESS", "trade_type": prepay.trade_type, "prepay_id": prepay.prepay_id}


@mch_endpoint("pay.unifiedorder")
def unifiedorder(data: dict[str, str]) -> dict[str, Any]:
    missing = _missing(data, "body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type")
    if missing:
        return missing
    if data["trade_type"] == "JSAPI" and not data.get("openid"):
        return _fail("PARAM_ERROR", "trade_type=JSAPI时（即公众号支付），此参数必传 openid")
    total_fee = _int(data["total_fee"])
    if not total_fee:
        return _fail("PARAM_ERROR", "total_fee 参数错误")
    fingerprint = _fingerprint(data)
    existing = SandboxPrepay.objects.filter(out_trade_no=data["out_trade_no"]).first()
    if existing is not None:
        return _existing_order_answer(existing, fingerprint)
    try:
        with transaction.atomic():
            prepay = SandboxPrepay.objects.create(
                prepay_id=f"wx{_now():%Y%m%d%H%M%S}{_rand(20)}", appid=data["appid"], mch_id=data["mch_id"],
                out_trade_no=data["out_trade_no"], body=data["body"][:128], attach=data.get("attach", "")[:127],
                total_fee=total_fee, openid=data.get("openid", ""), trade_type=data["trade_type"],
                spbill_create_ip=data["spbill_create_ip"], notify_url=data["notify_url"], fingerprint=fingerprint,
            )
    except IntegrityError:  # the same order, concurrently
        return _existing_order_answer(SandboxPrepay.objects.get(out_trade_no=data["out_trade_no"]), fingerprint)
    return {"result_code": "SUCCESS", "trade_type": prepay.trade_type, "prepay_id": prepay.prepay_id}


def _find_order(data: dict[str, str]) -> SandboxPrepay | None:
    if data.get("transaction_id"):
        return SandboxPrepay.objects.filter(transaction_id=data["transaction_id"]).first()
    if data.get("out_trade_no"):
        return SandboxPrepay.objects.filter(out_trade_no=data["out_trade_no"]).first()
    return None


@mch_endpoint("pay.orderquery")
def orderquery(data: dict[str, str]) -> dict[str, Any]:
    prepay = _find_order(data)
    if prepay is None:
        return _fail("ORDERNOTEXIST", "订单不存在")
    answer = {"result_code": "SUCCESS", "out_trade_no": prepay.out_trade_no, "trade_state": prepay.trade_state,
              "total_fee": prepay.total_fee, "fee_type": "CNY", "trade_type": prepay.trade_type,
              "openid": prepay.openid, "attach": prepay.attach,
              "trade_state_desc": SandboxPrepay.State(prepay.trade_state).label}
    if prepay.transaction_id:
        answer.update(transaction_id=prepay.transaction_id, time_end=prepay.time_end, cash_fee=prepay.total_fee,
                      bank_type="CMC", is_subscribe="N")
    return answer


@mch_endpoint("pay.closeorder")
def closeorder(data: dict[str, str]) -> dict[str, Any]:
    prepay = _find_order({"out_trade_no": data.get("out_trade_no", "")})
    if prepay is None:
        return _fail("ORDERNOTEXIST", "订单不存在")
    if SandboxPrepay.objects.filter(pk=prepay.pk, trade_state=SandboxPrepay.State.NOTPAY).update(
        trade_state=SandboxPrepay.State.CLOSED
    ):
        return {"result_code": "SUCCESS"}
    prepay.refresh_from_db()
    if prepay.trade_state == SandboxPrepay.State.CLOSED:
        return _fail("ORDERCLOSED", "订单已关闭")
    return _fail("ORDERPAID", "订单已支付，不能发起关单")


# --- refunds --------------------------------------------------------------------------

def _refund_answer(prepay: SandboxPrepay, refund: SandboxRefund) -> dict[str, Any]:
    return {"result_code": "SUCCESS", "transaction_id": prepay.transaction_id, "out_trade_no": prepay.out_trade_no,
            "out_refund_no": refund.out_refund_no, "refund_id": refund.refund_id, "refund_fee": refund.refund_fee,
            "total_fee": prepay.total_fee, "cash_fee": prepay.total_fee, "cash_refund_fee": refund.refund_fee}


@mch_endpoint("pay.refund")
def refund(data: dict[str, str]) -> dict[str, Any]:
    missing = _missing(data, "out_refund_no", "total_fee", "refund_fee")
    if missing:
        return missing
    total_fee, refund_fee = _int(data["total_fee"]), _int(data["refund_fee"])
    if not total_fee or not refund_fee:
        return _fail("PARAM_ERROR", "total_fee / refund_fee 参数错误")
    with transaction.atomic():
        found = _find_order(data)
        if found is None:
            return _fail("ORDERNOTEXIST", "订单不存在")
        prepay = SandboxPrepay.objects.select_for_update().get(pk=found.pk)
        existing = SandboxRefund.objects.filter(out_refund_no=data["out_refund_no"]).first()
        if existing is not None:
            if existing.prepay_id != prepay.pk or existing.refund_fee != refund_fee:
                return _fail("PARAM_ERROR", "退款单号重复，且订单号或金额不一致")
            return _refund_answer(prepay, existing)
        if prepay.trade_state not in (SandboxPrepay.State.SUCCESS, SandboxPrepay.State.REFUND):
            return _fail("TRADE_STATE_ERROR", "订单状态错误")
        if total_fee != prepay.total_fee:
            return _fail("PARAM_ERROR", "订单金额或退款金额与之前请求不一致，请核实后再试")
        refunded = prepay.refunds.exclude(refund_status=SandboxRefund.State.REFUNDCLOSE).aggregate(
            total=Sum("refund_fee"))["total"] or 0
        if refunded + refund_fee > prepay.total_fee:
            return _fail("ERROR", "累计退款金额大于支付金额")
        new = SandboxRefund.objects.create(
            prepay=prepay, out_refund_no=data["out_refund_no"], refund_id=f"50{_now():%Y%m%d%H%M%S}{_rand(12)}",
            refund_fee=refund_fee, notify_url=data.get("notify_url") or settings.WECHAT_REFUND_NOTIFY_URL,
        )
        SandboxPrepay.objects.filter(pk=prepay.pk).update(trade_state=SandboxPrepay.State.REFUND)
    return _refund_answer(prepay, new)


@mch_endpoint("pay.refundquery")
def refundquery(data: dict[str, str]) -> dict[str, Any]:
    refunds = SandboxRefund.objects.select_related("prepay").order_by("pk")
    if data.get("out_refund_no"):
        refunds = refunds.filter(out_refund_no=data["out_refund_no"])
    elif data.get("refund_id"):
        refunds = refunds.filter(refund_id=data["refund_id"])
    else:
        prepay = _find_order(data)
        refunds = refunds.filter(prepay=prepay) if prepay else refunds.none()
    refunds = list(refunds)
    if not refunds:
        return _fail("REFUNDNOTEXIST", "退款订单查询失败")
    prepay = refunds[0].prepay
    answer: dict[str, Any] = {"result_code": "SUCCESS", "transaction_id": prepay.transaction_id,
                              "out_trade_no": prepay.out_trade_no, "total_fee": prepay.total_fee,
                              "cash_fee": prepay.total_fee, "refund_count": len(refunds)}
    for i, r in enumerate(refunds):
        answer.update({f"out_refund_no_{i}": r.out_refund_no, f"refund_id_{i}": r.refund_id,
                       f"refund_fee_{i}": r.refund_fee, f"refund_status_{i}": r.refund_status,
                       f"refund_recv_accout_{i}": "支付用户的零钱", f"refund_success_time_{i}": r.success_time})
    return answer


# --- transfers and red packs ----------------------------------------------------------

def _transfer_answer(t: SandboxTransfer) -> dict[str, Any]:
    return {"result_code": "SUCCESS", "partner_trade_no": t.partner_trade_no, "payment_no": t.payment_no,
            "payment_time": t.payment_time}


def _transfer_record_failed(data: dict[str, str], err_code: str) -> None:
    amount = _int(data.get("amount"))
    if not data.get("partner_trade_no") or amount is None:
        return
    SandboxTransfer.objects.get_or_create(
        partner_trade_no=data["partner_trade_no"],
        defaults={"payment_no": f"1000018301{_now():%Y%m%d}{_rand(14)}", "openid": data.get("openid", ""),
                  "amount": amount, "desc": data.get("desc", "")[:100],
                  "re_user_name": data.get("re_user_name", "")[:64], "payment_time": f"{_now():%Y-%m-%d %H:%M:%S}",
                  "status": "FAILED", "reason": f"sandbox: {err_code}"[:128]},
    )


@mch_endpoint("pay.transfer", appid_key="mch_appid", mch_key="mchid", record_failed=_transfer_record_failed)
def transfers(data: dict[str, str]) -> dict[str, Any]:
    missing = _missing(data, "partner_trade_no", "openid", "amount", "desc", "spbill_create_ip", "check_name")
    if missing:
        return missing
    amount = _int(data["amount"])
    if amount is None:
        return _fail("PARAM_ERROR", "amount 参数错误")
    if data["check_name"] == "FORCE_CHECK" and not data.get("re_user_name"):
        return _fail("PARAM_ERROR", "收款用户姓名不能为空")
    existing = SandboxTransfer.objects.filter(partner_trade_no=data["partner_trade_no"]).first()
    if existing is not None:
        if existing.openid != data["openid"] or existing.amount != amount:
            return _fail("FATAL_ERROR", "两次请求参数不一致")
        if existing.status == "FAILED":
            return _fail("SEND_FAILED", "付款错误，请查单确认付款结果")
        return _transfer_answer(existing)
    if amount < 30:
        return _fail("AMOUNT_LIMIT", "付款金额超出限制。低于最低金额0.30元")
    try:
        with transaction.atomic():
            t = SandboxTransfer.objects.create(
                partner_trade_no=data["partner_trade_no"], payment_no=f"1000018301{_now():%Y%m%d}{_rand(14)}",
                openid=data["openid"], amount=amount, desc=data["desc"][:100],
                re_user_name=data.get("re_user_name", "")[:64], payment_time=f"{_now():%Y-%m-%d %H:%M:%S}",
            )
    except IntegrityError:
        t = SandboxTransfer.objects.get(partner_trade_no=data["partner_trade_no"])
    return _transfer_answer(t)


@mch_endpoint("pay.gettransferinfo")
def gettransferinfo(data: dict[str, str]) -> dict[str, Any]:
    t = SandboxTransfer.objects.filter(partner_trade_no=data.get("partner_trade_no", "")).first()
    if t is None:
        return _fail("NOT_FOUND", "指定单号数据不存在")
    return {"result_code": "SUCCESS", "partner_trade_no": t.partner_trade_no, "detail_id": t.payment_no,
            "status": t.status, "reason": t.reason, "openid": t.openid, "transfer_name": t.re_user_name,
            "payment_amount": t.amount,
            "transfer_time": t.payment_time, "payment_time": t.payment_time, "desc": t.desc}


def _redpack_record_failed(data: dict[str, str], err_code: str) -> None:
    amount = _int(data.get("total_amount"))
    if not data.get("mch_billno") or amount is None:
        return
    SandboxRedpack.objects.get_or_create(
        mch_billno=data["mch_billno"],
        defaults={"send_listid": f"1000041701{_now():%Y%m%d}{_rand(14)}", "re_openid": data.get("re_openid", ""),
                  "total_amount": amount, "send_name": data.get("send_name", "")[:32],
                  "act_name": data.get("act_name", "")[:32], "wishing": data.get("wishing", "")[:128],
                  "status": "FAILED", "reason": f"sandbox: {err_code}"[:128]},
    )


@mch_endpoint("pay.sendredpack", appid_key="wxappid", mch_key="mch_id", record_failed=_redpack_record_failed)
def sendredpack(data: dict[str, str]) -> dict[str, Any]:
    missing = _missing(data, "mch_billno", "send_name", "re_openid", "total_amount", "total_num", "wishing",
                       "client_ip", "act_name", "remark")
    if missing:
        return missing
    amount = _int(data["total_amount"])
    if amount is None or data["total_num"] != "1":
        return _fail("PARAM_ERROR", "total_amount / total_num 参数错误")
    base = {"mch_billno": data["mch_billno"], "re_openid": data["re_openid"], "total_amount": amount}
    existing = SandboxRedpack.objects.filter(mch_billno=data["mch_billno"]).first()
    if existing is not None:
        if existing.re_openid != data["re_openid"] or existing.total_amount != amount:
            return _fail("FATAL_ERROR", "重复请求时，参数与原单不一致")
        if existing.status == "FAILED":
            return _fail("SEND_FAILED", "红包发放失败,请更换单号再重试")
        return {"result_code": "SUCCESS", **base, "send_listid": existing.send_listid}
    if amount < 100 or (amount > 20000 and not data.get("scene_id")):
        return _fail("MONEY_LIMIT", "每个红包的平均金额必须在1.00元到200.00元之间")
    try:
        with transaction.atomic():
            r = SandboxRedpack.objects.create(
                mch_billno=data["mch_billno"], send_listid=f"1000041701{_now():%Y%m%d}{_rand(14)}",
                re_openid=data["re_openid"], total_amount=amount, send_name=data["send_name"][:32],
                act_name=data["act_name"][:32], wishing=data["wishing"][:128],
            )
    except IntegrityError:
        r = SandboxRedpack.objects.get(mch_billno=data["mch_billno"])
    return {"result_code": "SUCCESS", **base, "send_listid": r.send_listid}


def _hblist_xml(fields: dict[str, Any]) -> str:
    """gethbinfo's <hblist>: who received the pack (an XML tree, outside the signature)."""
    if fields.get("status") not in ("RECEIVED", "SENT"):
        return ""
    return (f"<hblist><hbinfo><openid><![CDATA[{fields['openid']}]]></openid>"
            f"<amount>{fields['total_amount']}</amount><rcv_time><![CDATA[{fields['send_time']}]]></rcv_time>"
            "</hbinfo></hblist>")


@mch_endpoint("pay.gethbinfo", appid_key="appid", mch_key="mch_id", extra_xml=_hblist_xml)
def gethbinfo(data: dict[str, str]) -> dict[str, Any]:
    if data.get("bill_type") != "MCHT":
        return _fail("PARAM_ERROR", "bill_type 参数错误")
    r = SandboxRedpack.objects.filter(mch_billno=data.get("mch_billno", "")).first()
    if r is None:
        return _fail("NOT_FOUND", "指定单号数据不存在")
    return {"result_code": "SUCCESS", "mch_billno": r.mch_billno, "detail_id": r.send_listid, "status": r.status,
            "send_type": "API", "hb_type": "NORMAL", "total_num": 1, "total_amount": r.total_amount,
            "reason": r.reason, "send_time": f"{r.created_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}",
            "wishing": r.wishing, "act_name": r.act_name, "openid": r.re_openid}


# --- notifications --------------------------------------------------------------------

def payment_notification(prepay: SandboxPrepay, *, api_key: str | None = None, result_code: str = "SUCCESS",
                         err_code: str = "", **overrides: Any) -> dict[str, Any]:
    """The signed payment notification WeChat sends for `prepay` (fields, with `sign`).

    `overrides` change fields before signing (tests use it to build wrong-amount or
    other-merchant notifications that are nevertheless correctly signed)."""
    fields: dict[str, Any] = {
        "return_code": "SUCCESS", "appid": prepay.appid, "mch_id": prepay.mch_id, "nonce_str": _rand(32),
        "result_code": result_code, "openid": prepay.openid, "is_subscribe": "N", "trade_type": prepay.trade_type,
        "bank_type": "CMC", "total_fee": prepay.total_fee, "fee_type": "CNY", "cash_fee": prepay.total_fee,
        "transaction_id": prepay.transaction_id, "out_trade_no": prepay.out_trade_no, "attach": prepay.attach,
        "time_end": prepay.time_end,
    }
    if err_code:
        fields.update(err_code=err_code, err_code_des="sandbox: payment failed")
    fields.update(overrides)
    fields = {k: v for k, v in fields.items() if v not in (None, "")}
    fields["sign"] = sign(fields, api_key)
    return fields


def _post_many(url: str, body: str, copies: int) -> list[dict[str, Any]]:
    """POST `body` to `url` `copies` times at once; what each answered."""
    results: list[dict[str, Any]] = [{} for _ in range(copies)]
    start = threading.Barrier(copies)

    def send(i: int) -> None:
        if copies > 1:
            start.wait(timeout=5)
        try:
            res = requests.post(url, data=body.encode("utf-8"), headers={"Content-Type": "text/xml"},
                                timeout=NOTIFY_TIMEOUT)
        except requests.RequestException as exc:
            results[i] = {"status_code": None, "error": str(exc), "return_code": ""}
            return
        try:
            answer = parse_xml(res.content)
        except ValueError:
            answer = {}
        results[i] = {"status_code": res.status_code, "return_code": answer.get("return_code", ""),
                      "return_msg": answer.get("return_msg", ""), "body": res.text[:500]}

    if copies == 1:
        send(0)
        return results
    threads = [threading.Thread(target=send, args=(i,)) for i in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@csrf_exempt
@require_POST
def pay_confirm(request, prepay_id: str):
    prepay = SandboxPrepay.objects.filter(prepay_id=prepay_id).first()
    if prepay is None:
        return JsonResponse({"error": "PREPAY_NOT_FOUND", "message": "no such prepay_id"}, status=404)
    now = _now()
    SandboxPrepay.objects.filter(pk=prepay.pk, trade_state=SandboxPrepay.State.NOTPAY).update(
        trade_state=SandboxPrepay.State.SUCCESS, transaction_id=f"4200{now:%Y%m%d%H%M%S}{_rand(14)}",
        time_end=f"{now:%Y%m%d%H%M%S}",
    )
    prepay.refresh_from_db()
    if prepay.trade_state == SandboxPrepay.State.CLOSED:
        return JsonResponse({"error": "ORDERCLOSED", "message": "the order is closed"}, status=409)
    if prepay.api == "v3":
        # APIv3: a signed, encrypted JSON callback

        results = payment_callback_send(prepay)
    else:
        fault = fault_take("pay.notify")
        mode = fault.mode if fault else ""
        fields = payment_notification(
            prepay, api_key=WRONG_KEY if mode == FaultMode.BAD_SIGNATURE else None,
            result_code="FAIL" if mode == FaultMode.FAIL else "SUCCESS",
            err_code=(fault.err_code or "PAYERROR") if mode == FaultMode.FAIL else "",
        )
        body = to_xml(fields, signed=False)  # already carries its sign
        copies = DUPLICATE_NOTIFY_COPIES if mode == FaultMode.DUPLICATE_NOTIFY else 1
        results = _post_many(prepay.notify_url, body, copies)
    return JsonResponse({
        "prepay_id": prepay.prepay_id, "out_trade_no": prepay.out_trade_no, "transaction_id": prepay.transaction_id,
        "trade_state": prepay.trade_state, "notify_url": prepay.notify_url,
        "return_code": results[0].get("return_code", ""), "notifications": results,
    })


REQ_INFO_STATUSES = (SandboxRefund.State.SUCCESS, SandboxRefund.State.CHANGE, SandboxRefund.State.REFUNDCLOSE)


def refund_notification(refund: SandboxRefund, *, api_key: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The refund notification WeChat sends for `refund`: outer fields and encrypted req_info."""
    prepay = refund.prepay
    info: dict[str, Any] = {
        "transaction_id": prepay.transaction_id, "out_trade_no": prepay.out_trade_no, "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no, "total_fee": prepay.total_fee, "settlement_total_fee": prepay.total_fee,
        "refund_fee": refund.refund_fee, "settlement_refund_fee": refund.refund_fee,
        "refund_status": refund.refund_status, "success_time": refund.success_time,
        "refund_recv_accout": "支付用户的零钱", "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
        "refund_request_source": "API",
    }
    info.update(overrides)
    info = {k: v for k, v in info.items() if v not in (None, "")}
    return {"return_code": "SUCCESS", "appid": prepay.appid, "mch_id": prepay.mch_id, "nonce_str": _rand(32),
            "req_info": refund_req_info_encrypt(info, api_key)}


@csrf_exempt
@require_POST
def refund_confirm(request, out_refund_no: str):
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "PARAM_ERROR", "message": "body must be JSON"}, status=400)
    status = (payload or {}).get("status", "SUCCESS")
    if status not in REQ_INFO_STATUSES:
        return JsonResponse({"error": "PARAM_ERROR", "message": f"status must be one of {REQ_INFO_STATUSES}"},
                            status=400)
    refund_row = SandboxRefund.objects.select_related("prepay").filter(out_refund_no=out_refund_no).first()
    if refund_row is None:
        return JsonResponse({"error": "REFUNDNOTEXIST", "message": "no such out_refund_no"}, status=404)
    SandboxRefund.objects.filter(pk=refund_row.pk, refund_status=SandboxRefund.State.PROCESSING).update(
        refund_status=status, success_time=f"{_now():%Y-%m-%d %H:%M:%S}" if status == "SUCCESS" else "",
    )
    refund_row.refresh_from_db()
    url = refund_row.notify_url or settings.WECHAT_REFUND_NOTIFY_URL
    if refund_row.api == "v3":
        # APIv3: REFUND.SUCCESS / ABNORMAL / CLOSED

        results = refund_callback_send(refund_row, url)
    else:
        fault = fault_take("refund.notify")
        mode = fault.mode if fault else ""
        fields = refund_notification(refund_row, api_key=WRONG_KEY if mode == FaultMode.BAD_SIGNATURE else None)
        body = to_xml(fields, signed=False)
        results = _post_many(url, body, DUPLICATE_NOTIFY_COPIES if mode == FaultMode.DUPLICATE_NOTIFY else 1)
    return JsonResponse({
        "out_refund_no": refund_row.out_refund_no, "refund_id": refund_row.refund_id,
        "refund_status": refund_row.refund_status, "notify_url": url,
        "return_code": results[0].get("return_code", ""), "notifications": results,
    })


# --- faults over HTTP -----------------------------------------------------------------

@csrf_exempt
@require_http_methods(["POST", "DELETE"])
def faults(request):
    if request.method == "DELETE":
        fault_clear()
        return JsonResponse({"cleared": True})
    try:
        payload = json.loads(request.body or b"{}")
        outcome = str(payload.get("outcome", "") or (FaultOutcome.EXECUTED if payload.get("executed") else ""))
        fault = fault_arm(endpoint=str(payload["endpoint"]), mode=str(payload["mode"]),
                          times=int(payload.get("times", 1)), err_code=str(payload.get("err_code", "")),
                          outcome=outcome)
    except (ValueError, KeyError, TypeError) as exc:
        return JsonResponse({"error": "PARAM_ERROR", "message": str(exc),
                             "modes": list(FaultMode.values)}, status=400)
    return JsonResponse({"id": fault.pk, "endpoint": fault.endpoint, "mode": fault.mode, "times": fault.times,
                         "err_code": fault.err_code, "outcome": fault.outcome}, status=201)


pay_urlpatterns = [
    path("mch/pay/unifiedorder", unifiedorder, name="sandbox-pay-unifiedorder"),
    path("mch/pay/orderquery", orderquery, name="sandbox-pay-orderquery"),
    path("mch/pay/closeorder", closeorder, name="sandbox-pay-closeorder"),
    path("mch/pay/refundquery", refundquery, name="sandbox-pay-refundquery"),
    path("mch/secapi/pay/refund", refund, name="sandbox-pay-refund"),
    path("mch/mmpaymkttransfers/promotion/transfers", transfers, name="sandbox-pay-transfers"),
    path("mch/mmpaymkttransfers/gettransferinfo", gettransferinfo, name="sandbox-pay-gettransferinfo"),
    path("mch/mmpaymkttransfers/sendredpack", sendredpack, name="sandbox-pay-sendredpack"),
    path("mch/mmpaymkttransfers/gethbinfo", gethbinfo, name="sandbox-pay-gethbinfo"),
    path("pay/refunds/<str:out_refund_no>/confirm/", refund_confirm, name="sandbox-refund-confirm"),
    path("pay/<str:prepay_id>/confirm/", pay_confirm, name="sandbox-pay-confirm"),
    path("faults/", faults, name="sandbox-faults"),
]
