"""The campaigns' calls out to WeChat Pay that run after a commit, in Celery tasks
(campaigns/tasks.py): close a contribution's unpaid WeChat order, send (or ask about) a refund
of a contribution's payment.

Each talks to WeChat, so none runs inside a transaction; each is safe to repeat (WeChat is
idempotent by our numbers). This module imports no other campaigns service, so tasks.py
imports it at the top and the services that queue those tasks import tasks.py: no cycle.
WeChat's answers come back through the wechat hooks (crowdfund_payments.py,
crowdfund_refunds.py), inside the transaction that records them.
"""
from __future__ import annotations

from wechat import services as wechat_services
from wechat.models import PaymentStatus, WechatPayment, WechatRefund
from wechat.models import RefundStatus as WechatRefundStatus

from ..models import CampaignRefund, CampaignRefundStatus


def contribution_payment_close(*, no: str) -> None:
    """Close the contribution's WeChat order so it can no longer be paid (its reservation
    expired). If WeChat says it was paid, wechat records the payment (query) first."""
    status = WechatPayment.objects.filter(out_trade_no=no).values_list("status", flat=True).first()
    if status in (PaymentStatus.CREATED, PaymentStatus.PREPAID):
        wechat_services.payment_close(out_trade_no=no)


def campaign_refund_send(*, refund_id: int) -> None:
    """Send a requested refund to WeChat (the same out_refund_no every time), or ask WeChat
    about one it is processing (a lost notification)."""
    refund = CampaignRefund.objects.select_related("contribution", "backing").get(pk=refund_id)
    if refund.status != CampaignRefundStatus.REQUESTED:
        return
    known = WechatRefund.objects.filter(out_refund_no=refund.no).values_list("status", flat=True).first()
    if known == WechatRefundStatus.PROCESSING:
        wechat_services.refund_query(out_refund_no=refund.no)
        return
    wechat_services.refund_create(
        out_refund_no=refund.no, out_trade_no=refund.out_trade_no, amount_fen=refund.amount_fen,
        reason=f"{'众筹退款' if refund.contribution_id else '红包退款'} {refund.get_reason_display()}"[:80],
    )
