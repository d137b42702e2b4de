"""WeChat Pay writes: payments, refunds, transfers, red packs, and the two notifications.

Rules kept here:

* Every status change goes through `core.transitions.transition` (non-strict: "already
  there" is normal here): it locks the row, checks the transition table in models.py, saves
  with a conditional UPDATE and writes a `WechatEvent` (`_recorded`). Duplicate or
  concurrent notifications therefore act once. The callers use the row as stored afterwards:
  `_recorded` reloads it after a move (before the hooks run), and a refused move is followed
  by `refresh_from_db()`.
* No HTTP inside a database transaction: rows are written, then WeChat is called, then
  the answer is recorded.
* Every call to WeChat is idempotent by our own number (out_trade_no, out_refund_no,
  partner_trade_no, mch_billno): calling a `*_create` again with the same number and the
  same content retries safely; different content is a conflict.
* Notifications are believed only after the signature (constant-time), appid, mch_id,
  our number and the amount all match; otherwise they are refused, logged, and change
  nothing. Don't call these services inside an atomic block of your own: they talk to WeChat.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Sum
from django.utils import timezone

from core.errors import Conflict, DomainError, InvalidInput, NotFound
from core.transitions import transition

from . import hooks, pay, pay_v3
from .errors import WechatError, WechatTimeout
from .models import (
    PAYMENT_TRANSITIONS,
    REDPACK_TRANSITIONS,
    REFUND_TRANSITIONS,
    TRANSFER_FINAL,
    TRANSFER_TRANSITIONS,
    EventSubject,
    PaymentStatus,
    RedpackStatus,
    RefundStatus,
    TransferStatus,
    WechatEvent,
    WechatPayment,
    WechatRedpack,
    WechatRefund,
    WechatTransfer,
)

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Failures after which we cannot know whether WeChat carried the request out.
UNCERTAIN_CODES = frozenset({
    "wechat_timeout", "invalid_signature", "wechat_bad_response", "wechat_http_error", "wechat_unreachable",
    "merchant_mismatch", "amount_mismatch", "wechat_system_error",
})
# Failures worth retrying later with the same number (nothing happened at WeChat).
RETRYABLE_CODES = frozenset({"merchant_insufficient_funds", "wechat_rate_limited", "wechat_system_error"})

# --- what a WeChat err_code means for money going out (docs/wechat.md, "Uncertain answers") ---
# Only the codes below are believed. Any other err_code (SEND_FAILED, SYSTEMERROR, FATAL_ERROR,
# PROCESSING, BIZERR_NEED_RETRY, a code WeChat adds tomorrow…), a FAIL without err_code, a
# timeout or an answer we cannot trust leaves the outcome *unknown*: it is settled by a query
# with the same number, and the number is only ever sent again, never replaced.
#
# Definite refusals: WeChat documents that nothing was paid (企业付款到零钱 error table,
# pay.weixin.qq.com/wiki/doc/api/tools/mch_pay.php?chapter=14_2).
TRANSFER_DEFINITE_FAILURES = frozenset({
    "NO_AUTH", "AMOUNT_LIMIT", "PARAM_ERROR", "OPENID_ERROR", "NAME_MISMATCH", "SIGN_ERROR", "XML_ERROR",
    "MONEY_LIMIT", "CA_ERROR", "V2_ACCOUNT_SIMPLE_BAN", "PARAM_IS_NOT_UTF8", "SENDNUM_LIMIT",
    "RECV_ACCOUNT_NOT_ALLOWED", "PAY_CHANNEL_NOT_ALLOWED", "SEND_MONEY_LIMIT", "RECEIVED_MONEY_LIMIT",
    "PAYER_ACCOUNT_ABNORMAL", "PAYEE_ACCOUNT_ABNORMAL",
})
# Refused for now, nothing paid: the same number is sent again later (NOTENOUGH: top up first).
TRANSFER_LATER = frozenset({"NOTENOUGH", "FREQ_LIMIT", "FREQUENCY_LIMITED"})
# 现金红包 error table (pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon.php?chapter=13_4&index=3).
# WeChat documents the red pack's SEND_FAILED as "已经发放失败"; we still query it (a query is
# cheap, paying twice is not) and believe the query's FAILED.
REDPACK_DEFINITE_FAILURES = frozenset({
    "NO_AUTH", "SENDNUM_LIMIT", "CA_ERROR", "ILLEGAL_APPID", "SIGN_ERROR", "XML_ERROR", "PARAM_ERROR",
    "OPENID_ERROR", "MONEY_LIMIT", "API_METHOD_CLOSED", "NO_PROJECT_ID", "ACCOUNT_ABNORMAL",
})
REDPACK_LATER = frozenset({"NOTENOUGH", "FREQ_LIMIT", "SECOND_OVER_LIMITED", "DAY_OVER_LIMITED",
                           "DAY_ OVER_LIMITED"})
# 申请退款 error table (pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4). SYSTEMERROR and
# BIZERR_NEED_RETRY say "use the same out_refund_no again": unknown, queried.
REFUND_DEFINITE_FAILURES = frozenset({
    "TRADE_OVERDUE", "ERROR", "USER_ACCOUNT_ABNORMAL", "INVALID_TRANSACTIONID", "PARAM_ERROR",
    "APPID_NOT_EXIST", "MCHID_NOT_EXIST", "ORDERNOTEXIST", "REQUIRE_POST_METHOD", "SIGNERROR",
    "XML_FORMAT_ERROR", "TRADE_STATE_ERROR", "APPID_MCHID_NOT_MATCH",
    # APIv3 (退款申请 error table): INVALID_REQUEST is "does not meet the business rules" (already
    # fully refunded, more than refundable…), nothing done; MCH_NOT_EXISTS.
    "INVALID_REQUEST", "MCH_NOT_EXISTS",
})
REFUND_LATER = frozenset({"NOTENOUGH", "FREQUENCY_LIMITED", "INVALID_REQ_TOO_MUCH"})
# A query's "no such number" is believed (and the same number sent again) only this long after
# the first attempt: WeChat's queries cover 30 days, we stay well inside that. After it, the
# row stays unknown with error_code `unknown_needs_operator` and an operator looks it up.
PAYOUT_RESEND_WINDOW_SECONDS = 7 * 24 * 3600
NEEDS_OPERATOR = "unknown_needs_operator"

FAILED, LATER, UNKNOWN = "failed", "later", "unknown"

# The event subject and our number of each row.
_SUBJECTS: dict[type[models.Model], tuple[str, str]] = {
    WechatPayment: (EventSubject.PAYMENT, "out_trade_no"),
    WechatRefund: (EventSubject.REFUND, "out_refund_no"),
    WechatTransfer: (EventSubject.TRANSFER, "partner_trade_no"),
    WechatRedpack: (EventSubject.REDPACK, "mch_billno"),
}


# --- helpers ---------------------------------------------------------------------------

def _event(obj: models.Model, *, kind: str, source: str = "", from_status: str = "", to_status: str = "",
           data: dict[str, Any] | None = None) -> WechatEvent:
    subject, key_field = _SUBJECTS[type(obj)]
    return WechatEvent.objects.create(
        subject_type=subject, subject_id=obj.pk, subject_key=getattr(obj, key_field), kind=kind,
        from_status=from_status, to_status=to_status, source=source, data=data or {},
    )


def _recorded(source: str, data: dict[str, Any] | None = None) -> Callable[[models.Model, str, str], None]:
    """The `record` of `core.transitions.transition` for a payment, refund, transfer or red pack:
    reloads the moved row (still locked), so that the caller and the hooks see it as stored —
    counters moved by F() and error fields written by `_record_error` included — and writes
    its status event."""
    def record(obj: models.Model, from_status: str, to_status: str) -> None:
        obj.refresh_from_db()
        _event(obj, kind="status", source=source, from_status=from_status, to_status=to_status, data=data)
    return record


def _record_error(model: type[models.Model], pk: int, exc: DomainError) -> None:
    err_code = exc.extra.get("err_code", "") if isinstance(exc.extra, dict) else ""
    model.objects.filter(pk=pk).update(
        error_code=(err_code or exc.code)[:64], error_message=str(exc.message)[:255], updated_at=timezone.now()
    )


def _uncertain(exc: DomainError) -> bool:
    return isinstance(exc, WechatTimeout) or exc.code in UNCERTAIN_CODES


def _err_code(exc: DomainError) -> str:
    return (exc.extra.get("err_code", "") if isinstance(exc.extra, dict) else "") or ""


def _outcome(exc: DomainError, *, definite: frozenset[str], later: frozenset[str]) -> str:
    """FAILED (WeChat documents that nothing was paid), LATER (refused for now, nothing paid),
    or UNKNOWN (everything else: query it)."""
    err_code = _err_code(exc)
    if not err_code or _uncertain(exc):
        return UNKNOWN
    if err_code in definite:
        return FAILED
    if err_code in later:
        return LATER
    return UNKNOWN


def _answered(exc: DomainError) -> bool:
    """WeChat answered (with an err_code), so it can be asked again at once; after a timeout or
    a transport failure the next retry asks."""
    return bool(_err_code(exc)) and not isinstance(exc, WechatTimeout)


def _resend_window() -> int:
    return int(getattr(settings, "WECHAT_PAYOUT_RESEND_WINDOW_SECONDS", PAYOUT_RESEND_WINDOW_SECONDS))


def _not_found_may_resend(model: type[models.Model], obj: Any, what: str) -> bool:
    """WeChat's query does not know `obj`: send the same number again if it is recent enough
    for that answer to be believed; otherwise flag it for an operator (and send nothing)."""
    if (timezone.now() - obj.created_at).total_seconds() <= _resend_window():
        return True
    if obj.error_code != NEEDS_OPERATOR:
        logger.error("wechat pay: %s %s is unknown and WeChat's query does not know it any more: "
                     "check the merchant platform by hand", what, getattr(obj, _SUBJECTS[model][1]))
        model.objects.filter(pk=obj.pk).update(
            error_code=NEEDS_OPERATOR, updated_at=timezone.now(),
            error_message="Outcome unknown and WeChat's query says NOT_FOUND after the resend window: "
                          "look it up in the merchant platform.")
        obj.refresh_from_db()
    return False


def _wechat_time(value: str) -> datetime | None:
    """A WeChat time: v2's 20240101120000 / 2024-01-01 12:00:00 (Shanghai time) or APIv3's
    RFC3339 2024-01-01T12:00:00+08:00 (its own offset)."""
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=SHANGHAI)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    except (TypeError, ValueError):
        pass
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=SHANGHAI)


def _pay_api(api: str):
    """The adapter a row talks through: wechat.pay (v2) or wechat.pay_v3 (APIv3). Both have the
    same functions returning the same (v2-named) fields."""
    return pay_v3 if api == "v3" else pay


def _positive(amount_fen: int) -> None:
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise InvalidInput("The amount must be a positive number of fen.", code="amount_too_small",
                           extra={"amount_fen": amount_fen})


def _get_or_create(model: type[models.Model], *, lookup: dict[str, Any], defaults: dict[str, Any],
                   same: tuple[str, ...], reused_code: str) -> tuple[Any, bool]:
    """Create the row for our number, or find the existing one; refuse if it says something else."""
    try:
        with transaction.atomic():
            obj, created = model.objects.get_or_create(**lookup, defaults=defaults)
    except IntegrityError:  # a concurrent call created it first
        obj, created = model.objects.get(**lookup), False
    if not created:
        differs = [f for f in same if getattr(obj, f) != defaults[f]]
        if differs:
            raise Conflict(f"{next(iter(lookup))} was already used with different {', '.join(differs)}.",
                           code=reused_code, extra={"fields": differs})
    return obj, created


def notify_reply_xml(*, ok: bool, message: str = "") -> str:
    """The XML answer WeChat expects from a notify URL."""
    if ok:
        return pay.to_xml({"return_code": "SUCCESS", "return_msg": "OK"}, signed=False)
    return pay.to_xml({"return_code": "FAIL", "return_msg": message[:120] or "FAIL"}, signed=False)


# --- payments -------------------------------------------------------------------------

def payment_create(
    *, out_trade_no: str, purpose: str, ref: str, amount_fen: int, openid: str, description: str,
    client_ip: str, attach: str = "",
) -> tuple[WechatPayment, dict[str, Any]]:
    """Create the payment and its WeChat JSAPI unified order.

    Returns (payment, {"prepay_id", "jsapi": {appId, timeStamp, nonceStr, package, signType,
    paySign}}). Idempotent by out_trade_no: a repeat returns fresh JSAPI parameters for the
    same prepay_id, or retries the unified order if the first attempt got no answer."""
    pay.check_merchant_no(out_trade_no, field="out_trade_no", max_length=32)
    _positive(amount_fen)
    if not openid:
        raise InvalidInput("openid is required for a JSAPI payment.", extra={"field": "openid"})
    if not purpose or not ref:
        raise InvalidInput("purpose and ref are required.", extra={"field": "purpose"})
    if not client_ip:
        raise InvalidInput("client_ip is required.", extra={"field": "client_ip"})
    defaults = {
        "purpose": purpose, "ref": str(ref), "amount_fen": amount_fen, "openid": openid,
        "description": pay._bytes_cut(description or purpose, 127), "client_ip": client_ip[:64],
        "api": settings.WECHAT_PAY_API,
    }
    payment, created = _get_or_create(
        WechatPayment, lookup={"out_trade_no": out_trade_no}, defaults=defaults,
        same=("purpose", "ref", "amount_fen", "openid"), reused_code="out_trade_no_reused",
    )
    if created:
        _event(payment, kind="created", source="api", to_status=payment.status)
    if payment.status == PaymentStatus.PREPAID and payment.prepay_id:
        return payment, _pay_params(payment)
    if payment.status != PaymentStatus.CREATED:
        raise Conflict("This payment can no longer be paid.", code="payment_not_payable",
                       extra={"status": payment.status})
    try:
        answer = _pay_api(payment.api).pay_unified_order_jsapi(
            out_trade_no=out_trade_no, description=payment.description, amount_fen=payment.amount_fen,
            openid=payment.openid, client_ip=client_ip, attach=attach,
        )
    except (WechatError, WechatTimeout) as exc:
        _record_error(WechatPayment, payment.pk, exc)
        err_code = exc.extra.get("err_code", "")
        if err_code == "ORDERPAID":
            payment_query(out_trade_no=out_trade_no)  # the notification was lost: reconcile now
        elif err_code == "ORDERCLOSED":
            transition(payment, PaymentStatus.CLOSED, table=PAYMENT_TRANSITIONS, record=_recorded("unifiedorder"),
                       strict=False)
        elif err_code and not _uncertain(exc) and exc.code not in RETRYABLE_CODES:
            transition(payment, PaymentStatus.FAILED, table=PAYMENT_TRANSITIONS,
                       record=_recorded("unifiedorder", {"err_code": err_code}), strict=False)
        raise
    if not transition(payment, PaymentStatus.PREPAID, table=PAYMENT_TRANSITIONS, record=_recorded("unifiedorder"),
                      fields={"prepay_id": answer["prepay_id"], "error_code": "", "error_message": ""},
                      strict=False):
        payment.refresh_from_db()
    if payment.status != PaymentStatus.PREPAID:
        raise Conflict("This payment can no longer be paid.", code="payment_not_payable",
                       extra={"status": payment.status})
    return payment, _pay_params(payment)


def _pay_params(payment: WechatPayment) -> dict[str, Any]:
    """The JSAPI parameters, signed the way the payment's API wants (v2 MD5, v3 RSA)."""
    return {"prepay_id": payment.prepay_id,
            "jsapi": _pay_api(payment.api).pay_jsapi_params(prepay_id=payment.prepay_id)}


def _payment_mark_paid(*, payment: WechatPayment, transaction_id: str, paid_at: datetime | None, source: str,
                       data: dict[str, Any]) -> bool:
    """Mark paid and run the payment hooks, once. Returns True when this call did it."""
    with transaction.atomic():
        if source == "notify":
            WechatPayment.objects.filter(pk=payment.pk).update(notify_count=F("notify_count") + 1)
        changed = transition(
            payment, PaymentStatus.PAID, table=PAYMENT_TRANSITIONS, record=_recorded(source, data),
            then=hooks.run_payment_handlers, strict=False,
            fields={"transaction_id": transaction_id, "paid_at": paid_at or timezone.now(), "error_code": "",
                    "error_message": ""},
        )
        if changed:
            logger.info("wechat pay: %s paid (%s fen, %s) via %s", payment.out_trade_no, payment.amount_fen,
                        transaction_id, source)
            return True
        payment.refresh_from_db()  # as stored (locked): who paid it, or what closed it
        if payment.status == PaymentStatus.PAID:
            if payment.transaction_id != transaction_id:
                logger.error("wechat pay: %s already paid by %s, now %s says paid too", payment.out_trade_no,
                             payment.transaction_id, transaction_id)
                _event(payment, kind="transaction_mismatch", source=source, data=data)
        else:
            logger.error("wechat pay: %s is %s but WeChat says paid (%s): money to return", payment.out_trade_no,
                         payment.status, transaction_id)
            _event(payment, kind="paid_after_close", source=source, from_status=payment.status, data=data)
        return False


def payment_notify_handle(*, body: bytes) -> str:
    """Handle one payment notification; return the XML answer.

    Raises a DomainError (InvalidSignature, or InvalidInput with code invalid_xml,
    payload_too_large, merchant_mismatch, unknown_out_trade_no, amount_mismatch) when the
    notification is refused; it is logged and nothing changes."""
    _payment_notify_apply(lambda: pay.payment_notification_parse(body=body))
    return notify_reply_xml(ok=True)


def payment_notify_v3_handle(*, headers: Any, body: bytes) -> dict[str, str]:
    """Handle one APIv3 payment callback (TRANSACTION.SUCCESS); return the JSON answer.

    Refused (raises, logged, nothing changes) like `payment_notify_handle`, and also when the
    signature is not WeChat's or stale, the resource does not open with our APIv3 key, or its
    trade_state is not SUCCESS (wechat/pay_v3.py lists the checks)."""
    _payment_notify_apply(lambda: pay_v3.payment_notification_parse(headers=headers, body=body))
    return {"code": "SUCCESS", "message": "成功"}


def _payment_notify_apply(parse: Callable[[], dict[str, str]]) -> None:
    try:
        data = parse()
        out_trade_no = data.get("out_trade_no", "")
        payment = WechatPayment.objects.filter(out_trade_no=out_trade_no).first()
        if payment is None:
            raise InvalidInput("The notification names an out_trade_no we never created.",
                               code="unknown_out_trade_no", extra={"out_trade_no": out_trade_no})
        if data.get("result_code") != "SUCCESS":
            logger.info("wechat pay: notification for %s says %s %s", out_trade_no, data.get("err_code"),
                        data.get("err_code_des"))
            return
        if data.get("total_fee") != str(payment.amount_fen) or data.get("fee_type", "CNY") not in ("", "CNY"):
            raise InvalidInput("The notification's amount is not the amount we asked for.", code="amount_mismatch",
                               extra={"out_trade_no": out_trade_no, "expected": payment.amount_fen,
                                      "got": data.get("total_fee")})
        transaction_id = data.get("transaction_id", "")
        if not transaction_id:
            raise InvalidInput("The notification has no transaction_id.", code="invalid_notification")
    except DomainError as exc:
        logger.warning("wechat pay: payment notification refused: %s (%s) %s", exc.code, exc.message, exc.extra)
        raise
    _payment_mark_paid(payment=payment, transaction_id=transaction_id, paid_at=_wechat_time(data.get("time_end")),
                       source="notify", data={"transaction_id": transaction_id, "time_end": data.get("time_end", "")})


def payment_query(*, out_trade_no: str) -> WechatPayment:
    """Ask WeChat for the order's state and bring our row in line (paid / closed)."""
    payment = WechatPayment.objects.filter(out_trade_no=out_trade_no).first()
    if payment is None:
        raise NotFound("No such payment.", extra={"out_trade_no": out_trade_no})
    answer = _pay_api(payment.api).pay_order_query(out_trade_no=out_trade_no, expect_amount_fen=payment.amount_fen)
    state = answer.get("trade_state", "")
    if state in ("SUCCESS", "REFUND"):
        transaction_id = answer.get("transaction_id", "")
        if not transaction_id:
            raise WechatError("WeChat's answer has no transaction_id.", code="wechat_bad_response")
        _payment_mark_paid(payment=payment, transaction_id=transaction_id,
                           paid_at=_wechat_time(answer.get("time_end")), source="query",
                           data={"trade_state": state, "transaction_id": transaction_id})
    elif state in ("CLOSED", "REVOKED"):
        transition(payment, PaymentStatus.CLOSED, table=PAYMENT_TRANSITIONS,
                   record=_recorded("query", {"trade_state": state}), strict=False)
    payment.refresh_from_db()
    return payment


def payment_close(*, out_trade_no: str) -> WechatPayment:
    """Close an unpaid payment at WeChat, so it can no longer be paid."""
    payment = WechatPayment.objects.filter(out_trade_no=out_trade_no).first()
    if payment is None:
        raise NotFound("No such payment.", extra={"out_trade_no": out_trade_no})
    if payment.status == PaymentStatus.CLOSED:
        return payment
    if payment.status == PaymentStatus.PAID:
        raise Conflict("A paid payment cannot be closed; refund it.", code="invalid_transition",
                       extra={"status": payment.status})
    try:
        _pay_api(payment.api).pay_order_close(out_trade_no=out_trade_no)
    except (WechatError, WechatTimeout) as exc:
        err_code = exc.extra.get("err_code", "")
        if err_code == "ORDERPAID":
            payment_query(out_trade_no=out_trade_no)
            raise
        if err_code not in ("ORDERCLOSED", "ORDERNOTEXIST"):
            raise
    if not transition(payment, PaymentStatus.CLOSED, table=PAYMENT_TRANSITIONS, record=_recorded("close"),
                      strict=False):
        payment.refresh_from_db()
    return payment


# --- refunds --------------------------------------------------------------------------

REFUND_STATUS_MAP = {
    "SUCCESS": RefundStatus.SUCCEEDED,
    "CHANGE": RefundStatus.FAILED,
    "REFUNDCLOSE": RefundStatus.CLOSED,
    "PROCESSING": RefundStatus.PROCESSING,
}


def refund_create(*, out_refund_no: str, out_trade_no: str, amount_fen: int, reason: str = "") -> WechatRefund:
    """Ask WeChat to refund `amount_fen` of a paid payment. Idempotent by out_refund_no.

    The result arrives later (refund notification, or `refund_query`); the refund hooks
    run then. A definite refusal marks the refund failed (hooks run) and raises."""
    pay.check_merchant_no(out_refund_no, field="out_refund_no", max_length=64)
    _positive(amount_fen)
    with transaction.atomic():
        payment = WechatPayment.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
        if payment is None:
            raise NotFound("No such payment.", extra={"out_trade_no": out_trade_no})
        refund = WechatRefund.objects.filter(out_refund_no=out_refund_no).first()
        if refund is not None:
            if refund.payment_id != payment.pk or refund.amount_fen != amount_fen:
                raise Conflict("out_refund_no was already used for another refund.", code="out_refund_no_reused")
        else:
            if payment.status != PaymentStatus.PAID:
                raise Conflict("Only a paid payment can be refunded.", code="payment_not_paid",
                               extra={"status": payment.status})
            refunded = payment.refunds.exclude(status__in=[RefundStatus.FAILED, RefundStatus.CLOSED]).aggregate(
                total=Sum("amount_fen"))["total"] or 0
            if refunded + amount_fen > payment.amount_fen:
                raise InvalidInput("The refunds would exceed the amount paid.", code="amount_too_large",
                                   extra={"paid_fen": payment.amount_fen, "refunded_fen": refunded})
            refund = WechatRefund.objects.create(out_refund_no=out_refund_no, payment=payment, amount_fen=amount_fen,
                                                 reason=reason[:80], api=settings.WECHAT_PAY_API)
            _event(refund, kind="created", source="api", to_status=refund.status)
    if refund.status != RefundStatus.REQUESTED:
        return refund
    if refund.error_code:
        # Sent before without a definite answer: ask WeChat first; send the same number again
        # only if WeChat does not know it (documented as safe for refunds).
        refund = _refund_query_known(refund)
        if refund.status != RefundStatus.REQUESTED:
            return refund
    try:
        answer = _pay_api(refund.api).pay_refund(out_trade_no=out_trade_no, out_refund_no=out_refund_no,
                                                 total_fen=payment.amount_fen, refund_fen=amount_fen, reason=reason)
    except (WechatError, WechatTimeout) as exc:
        _record_error(WechatRefund, refund.pk, exc)
        outcome = _outcome(exc, definite=REFUND_DEFINITE_FAILURES, later=REFUND_LATER)
        if outcome == FAILED:
            transition(refund, RefundStatus.FAILED, table=REFUND_TRANSITIONS,
                       record=_recorded("refund", {"err_code": _err_code(exc)}), then=hooks.run_refund_handlers,
                       strict=False)
        elif outcome == UNKNOWN and _answered(exc):
            # "SYSTEMERROR" and friends: the refund may have been accepted. Ask at once.
            logger.warning("wechat pay: refund %s answered %s: querying", out_refund_no, _err_code(exc))
            queried = _refund_query_known(WechatRefund.objects.get(pk=refund.pk), quiet=True)
            if queried.status != RefundStatus.REQUESTED:
                return queried
        raise
    if not transition(refund, RefundStatus.PROCESSING, table=REFUND_TRANSITIONS, record=_recorded("refund"),
                      fields={"refund_id": answer.get("refund_id", "")[:32], "error_code": "", "error_message": ""},
                      strict=False):
        refund.refresh_from_db()
    return refund


def _refund_query_known(refund: WechatRefund, *, quiet: bool = False) -> WechatRefund:
    """refund_query for a refund we sent without a definite answer. Returns it still `requested`
    when WeChat does not know it (REFUNDNOTEXIST) or the query itself failed and `quiet`."""
    try:
        return refund_query(out_refund_no=refund.out_refund_no)
    except (WechatError, WechatTimeout) as exc:
        if _err_code(exc) != "REFUNDNOTEXIST" and not quiet:
            raise
        logger.info("wechat pay: refund %s query: %s", refund.out_refund_no, _err_code(exc) or exc.code)
        return WechatRefund.objects.get(pk=refund.pk)


def _refund_apply_result(refund: WechatRefund, *, status: str, source: str, info: dict[str, str]) -> WechatRefund:
    target = REFUND_STATUS_MAP.get(status)
    if target is None:
        raise InvalidInput(f"Unknown refund status {status!r}.", code="invalid_notification")
    fields: dict[str, Any] = {}
    if info.get("refund_id"):
        fields["refund_id"] = info["refund_id"][:32]
    if target == RefundStatus.SUCCEEDED:
        fields["succeeded_at"] = _wechat_time(info.get("success_time", "")) or timezone.now()
        fields["refund_recv_account"] = info.get("refund_recv_accout", "")[:64]
    with transaction.atomic():
        if source == "notify":
            WechatRefund.objects.filter(pk=refund.pk).update(notify_count=F("notify_count") + 1)
        if not transition(refund, target, table=REFUND_TRANSITIONS,
                          record=_recorded(source, {"refund_status": status}), fields=fields,
                          then=hooks.run_refund_handlers if target != RefundStatus.PROCESSING else None,
                          strict=False):
            refund.refresh_from_db()
    return refund


def refund_notify_handle(*, body: bytes) -> str:
    """Handle one refund notification (encrypted req_info); return the XML answer.

    Refusals raise DomainErrors (invalid_signature when req_info does not decrypt with our
    key, merchant_mismatch, unknown_out_refund_no, amount_mismatch), are logged and
    change nothing."""
    _refund_notify_apply(lambda: pay.refund_notification_parse(body=body))
    return notify_reply_xml(ok=True)


def refund_notify_v3_handle(*, headers: Any, body: bytes) -> dict[str, str]:
    """Handle one APIv3 refund callback (REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED);
    return the JSON answer. Refused (raises, logged, nothing changes) like
    `refund_notify_handle`, and when the signature or the encrypted resource is not WeChat's."""
    _refund_notify_apply(lambda: pay_v3.refund_notification_parse(headers=headers, body=body))
    return {"code": "SUCCESS", "message": "成功"}


def _refund_notify_apply(parse: Callable[[], dict[str, str]]) -> None:
    try:
        info = parse()
        out_refund_no = info.get("out_refund_no", "")
        refund = WechatRefund.objects.select_related("payment").filter(out_refund_no=out_refund_no).first()
        if refund is None:
            raise InvalidInput("The notification names an out_refund_no we never created.",
                               code="unknown_out_refund_no", extra={"out_refund_no": out_refund_no})
        if info.get("out_trade_no") != refund.payment.out_trade_no:
            raise InvalidInput("The notification's out_trade_no is not the refund's payment.",
                               code="invalid_notification")
        if info.get("refund_fee") != str(refund.amount_fen) or info.get("total_fee") != str(refund.payment.amount_fen):
            raise InvalidInput("The notification's amounts are not ours.", code="amount_mismatch",
                               extra={"expected": refund.amount_fen, "got": info.get("refund_fee")})
        status = info.get("refund_status", "")
        if status not in REFUND_STATUS_MAP or status == "PROCESSING":
            raise InvalidInput(f"Unknown refund status {status!r}.", code="invalid_notification")
    except DomainError as exc:
        logger.warning("wechat pay: refund notification refused: %s (%s) %s", exc.code, exc.message, exc.extra)
        raise
    _refund_apply_result(refund, status=status, source="notify", info=info)


def refund_query(*, out_refund_no: str) -> WechatRefund:
    """Ask WeChat for a refund's state and bring our row in line."""
    refund = WechatRefund.objects.select_related("payment").filter(out_refund_no=out_refund_no).first()
    if refund is None:
        raise NotFound("No such refund.", extra={"out_refund_no": out_refund_no})
    answer = _pay_api(refund.api).pay_refund_query(out_refund_no=out_refund_no)
    count = int(answer.get("refund_count") or 0)
    for i in range(count):
        if answer.get(f"out_refund_no_{i}") != out_refund_no:
            continue
        if answer.get(f"refund_fee_{i}") != str(refund.amount_fen):
            raise WechatError("WeChat's refund amount is not ours.", code="amount_mismatch")
        info = {
            "refund_id": answer.get(f"refund_id_{i}", ""),
            "success_time": answer.get(f"refund_success_time_{i}", ""),
            "refund_recv_accout": answer.get(f"refund_recv_accout_{i}", ""),
        }
        return _refund_apply_result(refund, status=answer.get(f"refund_status_{i}", ""), source="query", info=info)
    raise WechatError("WeChat's answer does not list this refund.", code="wechat_bad_response")


# --- transfers and red packs ----------------------------------------------------------

def transfer_create(
    *, partner_trade_no: str, openid: str, amount_fen: int, description: str, purpose: str, ref: str,
    real_name: str = "",
) -> WechatTransfer:
    """Transfer money to a user's WeChat balance. Never raises WeChat errors: the returned
    row's status says what happened (succeeded / failed / unknown, with error_code).

    Only the err_codes in TRANSFER_DEFINITE_FAILURES fail it; TRANSFER_LATER leave it
    requested (send the same number later); anything else leaves it unknown, and when WeChat
    answered (SEND_FAILED, SYSTEMERROR…) it is queried at once.

    Idempotent by partner_trade_no: calling again for a transfer that was sent before and is
    not final first *queries* it; only if WeChat does not know the number (NOT_FOUND, within
    the resend window) is the same number sent again. A final one is returned as is.
    Transfer hooks run when it reaches succeeded or failed."""
    pay.check_merchant_no(partner_trade_no, field="partner_trade_no", max_length=32)
    _positive(amount_fen)
    if not openid or not purpose:
        raise InvalidInput("openid and purpose are required.")
    defaults = {"openid": openid, "amount_fen": amount_fen, "description": description[:100] or purpose,
                "purpose": purpose, "ref": str(ref)}
    transfer, created = _get_or_create(
        WechatTransfer, lookup={"partner_trade_no": partner_trade_no}, defaults=defaults,
        same=("openid", "amount_fen", "purpose", "ref"), reused_code="partner_trade_no_reused",
    )
    if created:
        _event(transfer, kind="created", source="api", to_status=transfer.status)
    if transfer.status in TRANSFER_FINAL:
        return transfer
    if transfer.attempts:
        transfer, send = _transfer_query_before_resend(transfer)
        if not send:
            return transfer
    WechatTransfer.objects.filter(pk=transfer.pk).update(attempts=F("attempts") + 1)
    try:
        answer = pay.pay_transfer(partner_trade_no=partner_trade_no, openid=openid, amount_fen=amount_fen,
                                  description=transfer.description, real_name=real_name)
    except (WechatError, WechatTimeout) as exc:
        _record_error(WechatTransfer, transfer.pk, exc)
        data = {"code": exc.code, "err_code": _err_code(exc)}
        outcome = _outcome(exc, definite=TRANSFER_DEFINITE_FAILURES, later=TRANSFER_LATER)
        if outcome == LATER:
            # Refused for now (merchant balance short, rate limited): nothing was paid; the
            # transfer stays requested and the same number is sent again later.
            logger.warning("wechat pay: transfer %s refused for now (%s); retry later", partner_trade_no,
                           data["err_code"])
            return WechatTransfer.objects.get(pk=transfer.pk)
        target = TransferStatus.FAILED if outcome == FAILED else TransferStatus.UNKNOWN
        logger.warning("wechat pay: transfer %s -> %s (%s %s)", partner_trade_no, target, exc.code, data["err_code"])
        if not transition(transfer, target, table=TRANSFER_TRANSITIONS, record=_recorded("transfer", data),
                          then=hooks.run_transfer_handlers if target == TransferStatus.FAILED else None,
                          strict=False):
            transfer.refresh_from_db()
        if target == TransferStatus.UNKNOWN and _answered(exc):
            transfer, _ = _transfer_query_before_resend(transfer)  # WeChat said "query me": at once
        return transfer
    if not transition(
        transfer, TransferStatus.SUCCEEDED, table=TRANSFER_TRANSITIONS, record=_recorded("transfer"),
        then=hooks.run_transfer_handlers, strict=False,
        fields={"payment_no": answer["payment_no"][:64],
                "paid_at": _wechat_time(answer.get("payment_time", "")) or timezone.now(),
                "error_code": "", "error_message": ""},
    ):
        transfer.refresh_from_db()
    return transfer


def _query_before_resend(obj: Any, *, query: Callable[[], Any], what: str, key: str) -> tuple[Any, bool]:
    """Query a payout (transfer or red pack) that was sent before, with `query()`; (row, True)
    when the same number may be sent again (WeChat does not know it), (row, False) when it is
    settled or must wait."""
    model = type(obj)
    try:
        obj = query()
    except (WechatError, WechatTimeout) as exc:
        obj = model.objects.get(pk=obj.pk)
        if _err_code(exc) != "NOT_FOUND":
            logger.warning("wechat pay: %s %s query failed (%s); later", what, key, exc.code)
            return obj, False
        return obj, _not_found_may_resend(model, obj, what)
    return obj, False


def _transfer_query_before_resend(transfer: WechatTransfer) -> tuple[WechatTransfer, bool]:
    no = transfer.partner_trade_no
    return _query_before_resend(transfer, query=lambda: transfer_query(partner_trade_no=no), what="transfer", key=no)


def transfer_query(*, partner_trade_no: str) -> WechatTransfer:
    """Ask WeChat what became of a transfer (for ones left `unknown`). SUCCESS → succeeded,
    FAILED → failed (hooks run), PROCESSING → unchanged. Raises WeChat's errors, e.g. err_code
    NOT_FOUND when WeChat does not know the number."""
    transfer = WechatTransfer.objects.filter(partner_trade_no=partner_trade_no).first()
    if transfer is None:
        raise NotFound("No such transfer.", extra={"partner_trade_no": partner_trade_no})
    answer = pay.pay_transfer_query(partner_trade_no=partner_trade_no)
    if answer.get("payment_amount") and answer["payment_amount"] != str(transfer.amount_fen):
        raise WechatError("WeChat's transfer amount is not ours.", code="amount_mismatch")
    state = answer.get("status", "")
    moved = True
    if state == "SUCCESS":
        moved = transition(
            transfer, TransferStatus.SUCCEEDED, table=TRANSFER_TRANSITIONS, record=_recorded("query"),
            then=hooks.run_transfer_handlers, strict=False,
            fields={"payment_no": answer.get("detail_id", "")[:64] or transfer.payment_no,
                    "paid_at": _wechat_time(answer.get("payment_time", "")) or timezone.now()},
        )
    elif state == "FAILED":
        moved = transition(
            transfer, TransferStatus.FAILED, table=TRANSFER_TRANSITIONS,
            record=_recorded("query", {"status": state, "reason": answer.get("reason", "")[:200]}),
            then=hooks.run_transfer_handlers, strict=False,
            fields={"error_code": "FAILED", "error_message": answer.get("reason", "")[:255]},
        )
    if not moved:
        transfer.refresh_from_db()
    return transfer


def redpack_send(
    *, mch_billno: str, openid: str, amount_fen: int, send_name: str, act_name: str, wishing: str, purpose: str,
    ref: str, remark: str = "",
) -> WechatRedpack:
    """Send a cash red pack. Like transfer_create: never raises WeChat errors, the row's status
    (sent / failed / unknown, or requested when refused for now) says what happened; only
    REDPACK_DEFINITE_FAILURES fail it, anything else unknown is queried (`redpack_query`).
    Idempotent by mch_billno: a red pack sent before is queried before its number is sent again."""
    pay.check_merchant_no(mch_billno, field="mch_billno", max_length=28)
    _positive(amount_fen)
    if not openid or not purpose:
        raise InvalidInput("openid and purpose are required.")
    defaults = {"openid": openid, "amount_fen": amount_fen, "send_name": send_name[:32], "act_name": act_name[:32],
                "wishing": wishing[:128], "remark": remark[:256], "purpose": purpose, "ref": str(ref)}
    redpack, created = _get_or_create(
        WechatRedpack, lookup={"mch_billno": mch_billno}, defaults=defaults,
        same=("openid", "amount_fen", "purpose", "ref"), reused_code="mch_billno_reused",
    )
    if created:
        _event(redpack, kind="created", source="api", to_status=redpack.status)
    if redpack.status in (RedpackStatus.SENT, RedpackStatus.FAILED):
        return redpack
    if redpack.attempts:
        redpack, send = _redpack_query_before_resend(redpack)
        if not send:
            return redpack
    WechatRedpack.objects.filter(pk=redpack.pk).update(attempts=F("attempts") + 1)
    try:
        answer = pay.pay_redpack(mch_billno=mch_billno, openid=openid, amount_fen=amount_fen,
                                 send_name=redpack.send_name, act_name=redpack.act_name, wishing=redpack.wishing,
                                 remark=redpack.remark or redpack.act_name)
    except (WechatError, WechatTimeout) as exc:
        _record_error(WechatRedpack, redpack.pk, exc)
        outcome = _outcome(exc, definite=REDPACK_DEFINITE_FAILURES, later=REDPACK_LATER)
        if outcome == LATER:
            logger.warning("wechat pay: red pack %s refused for now (%s); retry later", mch_billno, _err_code(exc))
            return WechatRedpack.objects.get(pk=redpack.pk)
        target = RedpackStatus.FAILED if outcome == FAILED else RedpackStatus.UNKNOWN
        logger.warning("wechat pay: red pack %s -> %s (%s %s)", mch_billno, target, exc.code, _err_code(exc))
        if not transition(redpack, target, table=REDPACK_TRANSITIONS,
                          record=_recorded("sendredpack", {"code": exc.code, "err_code": _err_code(exc)}),
                          strict=False):
            redpack.refresh_from_db()
        if target == RedpackStatus.UNKNOWN and _answered(exc):
            redpack, _ = _redpack_query_before_resend(redpack)
        return redpack
    if not transition(redpack, RedpackStatus.SENT, table=REDPACK_TRANSITIONS, record=_recorded("sendredpack"),
                      fields={"send_listid": answer.get("send_listid", "")[:64], "error_code": "", "error_message": ""},
                      strict=False):
        redpack.refresh_from_db()
    return redpack


# gethbinfo's status → ours. SENDING stays as it is (ask again later).
REDPACK_QUERY_STATUS = {
    "SENT": RedpackStatus.SENT, "RECEIVED": RedpackStatus.SENT, "RFUND_ING": RedpackStatus.SENT,
    "REFUND": RedpackStatus.SENT, "FAILED": RedpackStatus.FAILED,
}


def redpack_query(*, mch_billno: str) -> WechatRedpack:
    """Ask WeChat what became of a red pack (gethbinfo). SENT / RECEIVED / RFUND_ING / REFUND →
    sent (the money left: a pack nobody opens comes back to the merchant by WeChat's refund,
    not by us), FAILED → failed, SENDING → unchanged. Raises WeChat's errors, e.g. err_code
    NOT_FOUND when WeChat does not know the number."""
    redpack = WechatRedpack.objects.filter(mch_billno=mch_billno).first()
    if redpack is None:
        raise NotFound("No such red pack.", extra={"mch_billno": mch_billno})
    answer = pay.pay_redpack_query(mch_billno=mch_billno)
    if answer.get("total_amount") and answer["total_amount"] != str(redpack.amount_fen):
        raise WechatError("WeChat's red pack amount is not ours.", code="amount_mismatch")
    state = answer.get("status", "")
    target = REDPACK_QUERY_STATUS.get(state)
    moved = True
    if target == RedpackStatus.SENT:
        moved = transition(
            redpack, RedpackStatus.SENT, table=REDPACK_TRANSITIONS, record=_recorded("query", {"status": state}),
            fields={"send_listid": answer.get("detail_id", "")[:64] or redpack.send_listid}, strict=False,
        )
    elif target == RedpackStatus.FAILED:
        moved = transition(
            redpack, RedpackStatus.FAILED, table=REDPACK_TRANSITIONS,
            record=_recorded("query", {"status": state, "reason": answer.get("reason", "")[:200]}),
            fields={"error_code": "FAILED", "error_message": answer.get("reason", "")[:255]}, strict=False,
        )
    if not moved:
        redpack.refresh_from_db()
    return redpack


def _redpack_query_before_resend(redpack: WechatRedpack) -> tuple[WechatRedpack, bool]:
    no = redpack.mch_billno
    return _query_before_resend(redpack, query=lambda: redpack_query(mch_billno=no), what="red pack", key=no)
