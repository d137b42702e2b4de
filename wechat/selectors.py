"""WeChat Pay reads."""
from __future__ import annotations

from django.db.models import QuerySet, Sum

from core.errors import NotFound

from .models import RefundStatus, WechatEvent, WechatPayment, WechatRedpack, WechatRefund, WechatTransfer


def payment_get(*, out_trade_no: str) -> WechatPayment:
    payment = WechatPayment.objects.filter(out_trade_no=out_trade_no).first()
    if payment is None:
        raise NotFound("No such payment.", extra={"out_trade_no": out_trade_no})
    return payment


def payment_list_for(*, purpose: str, ref: str) -> QuerySet[WechatPayment]:
    return WechatPayment.objects.filter(purpose=purpose, ref=str(ref)).order_by("-pk")


def payment_refunded_fen(*, out_trade_no: str) -> int:
    """Fen refunded or being refunded (failed and closed refunds do not count)."""
    total = (
        WechatRefund.objects.filter(payment__out_trade_no=out_trade_no)
        .exclude(status__in=[RefundStatus.FAILED, RefundStatus.CLOSED])
        .aggregate(total=Sum("amount_fen"))["total"]
    )
    return total or 0


def refund_get(*, out_refund_no: str) -> WechatRefund:
    refund = WechatRefund.objects.select_related("payment").filter(out_refund_no=out_refund_no).first()
    if refund is None:
        raise NotFound("No such refund.", extra={"out_refund_no": out_refund_no})
    return refund


def transfer_get(*, partner_trade_no: str) -> WechatTransfer:
    transfer = WechatTransfer.objects.filter(partner_trade_no=partner_trade_no).first()
    if transfer is None:
        raise NotFound("No such transfer.", extra={"partner_trade_no": partner_trade_no})
    return transfer


def redpack_get(*, mch_billno: str) -> WechatRedpack:
    redpack = WechatRedpack.objects.filter(mch_billno=mch_billno).first()
    if redpack is None:
        raise NotFound("No such red pack.", extra={"mch_billno": mch_billno})
    return redpack


def event_list_for(*, subject_type: str, subject_id: int) -> QuerySet[WechatEvent]:
    return WechatEvent.objects.filter(subject_type=subject_type, subject_id=subject_id).order_by("pk")
