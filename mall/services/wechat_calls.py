"""The mall's calls out to WeChat Pay that run after a commit, in Celery tasks (mall/tasks.py):
close an order's payment once the order closed, send an approved refund.

Each talks to WeChat, so none runs inside a transaction; each is safe to repeat. This module
imports no other mall service, so mall/tasks.py imports it at the top and the services that
queue those tasks (orders.py, refunds.py) import mall/tasks.py at the top: no import cycle.
"""
from __future__ import annotations

import logging

from wechat import selectors as wechat_selectors
from wechat import services as wechat_services
from wechat.models import PaymentStatus

from ..hooks import refund_sender_for
from ..models import PAYMENT_PURPOSE, Refund, RefundStatus

logger = logging.getLogger(__name__)


def order_payment_close(*, order_no: str) -> None:
    """Close the order's WeChat payment (after the order closed), so it can no longer be paid."""
    payment = wechat_selectors.payment_list_for(purpose=PAYMENT_PURPOSE, ref=order_no).first()
    if payment is not None and payment.status in (PaymentStatus.CREATED, PaymentStatus.PREPAID):
        wechat_services.payment_close(out_trade_no=payment.out_trade_no)


def refund_send(*, refund_id: int) -> Refund:
    """Ask WeChat to pay an approved refund back. Safe to repeat (idempotent by refund no).
    Not inside a transaction: it talks to WeChat. The result arrives via refund_finalize."""
    refund = Refund.objects.select_related("order").get(pk=refund_id)
    if refund.status != RefundStatus.APPROVED:
        return refund
    if refund.order.paid_via:
        # Paid by someone else (a crowdfund's escrow): their app sends the money back.
        sender = refund_sender_for(refund.order.paid_via)
        if sender is None:
            logger.error("mall: refund %s of order %s (paid via %s): no refund sender registered",
                         refund.no, refund.order.no, refund.order.paid_via)
            return refund
        sender(refund)
        return refund
    wechat_services.refund_create(
        out_refund_no=refund.no, out_trade_no=refund.order.no, amount_fen=refund.amount_fen,
        reason=refund.reason[:80],
    )
    return refund
