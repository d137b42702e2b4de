"""Paying for orders through WeChat Pay, and the mall's side of WeChat's answers.

The wechat app keeps the WeChat-facing records (WechatPayment with purpose "mall.order"
and ref = order number; out_trade_no is the order number too) and calls the handlers
registered here inside the transaction that records WeChat's word. Lost notifications
are recovered by `payments_reconcile` (beat), which asks WeChat.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import DomainError, InvalidInput
from wechat import services as wechat_services
from wechat.models import PaymentStatus, WechatPayment, WechatRefund
from wechat.models import RefundStatus as WechatRefundStatus

from ..models import PAYMENT_PURPOSE, Order, OrderStatus, Refund, RefundStatus
from .order_state import order_lock
from .orders import order_check_payable, order_close_expired, order_mark_paid
from .refunds import refund_finalize
from .wechat_calls import order_payment_close, refund_send

logger = logging.getLogger(__name__)

BATCH = 200


def order_pay(*, user, order_no: str, client_ip: str) -> dict:
    """Start (or resume) paying an order: WeChat JSAPI unified order → {prepay_id, jsapi}."""
    with transaction.atomic():
        order = order_lock(no=order_no, user=user)
        order_check_payable(order=order)
        title = order.items.order_by("pk").values_list("title", flat=True).first() or "order"
    if not user.openid:
        raise InvalidInput("Paying with WeChat needs a WeChat login.", code="no_openid")
    _, params = wechat_services.payment_create(
        out_trade_no=order.no,
        purpose=PAYMENT_PURPOSE,
        ref=order.no,
        amount_fen=order.total_fen,
        openid=user.openid,
        description=title,
        client_ip=client_ip,
    )
    return params


# --- handlers called by wechat.hooks (inside wechat's transaction) ---------------------


def on_wechat_payment_paid(payment) -> None:
    order_mark_paid(order_no=payment.ref, amount_fen=payment.amount_fen, transaction_id=payment.transaction_id)


def on_wechat_refund_final(wechat_refund) -> None:
    refund_finalize(
        refund_no=wechat_refund.out_refund_no,
        succeeded=wechat_refund.status == WechatRefundStatus.SUCCEEDED,
        wechat_refund_id=wechat_refund.refund_id,
    )


# --- beat jobs ---------------------------------------------------------------------------


def payments_reconcile() -> dict:
    """Ask WeChat about unpaid orders that have been waiting a while (lost notifications),
    then close the ones past their deadline that WeChat says are unpaid."""
    now = timezone.now()
    waited = now - timedelta(minutes=settings.MALL_PAYMENT_QUERY_AFTER_MINUTES)
    pending = list(
        Order.objects.filter(status=OrderStatus.PENDING_PAYMENT)
        .filter(Q(created_at__lte=waited) | Q(pay_deadline__lte=now))
        .order_by("pay_deadline")
        .values_list("no", "pay_deadline")[:BATCH]
    )
    with_payment = set(
        WechatPayment.objects.filter(purpose=PAYMENT_PURPOSE, ref__in=[no for no, _ in pending]).values_list(
            "ref", flat=True
        )
    )
    queried = paid = closed = errors = 0
    for no, deadline in pending:
        has_payment = no in with_payment
        if deadline > now:
            if not has_payment:
                continue
            queried += 1
            try:
                payment = wechat_services.payment_query(out_trade_no=no)
            except DomainError as exc:
                errors += 1
                logger.warning("mall reconcile: query %s failed: %s", no, exc.code)
                continue
            paid += payment.status == PaymentStatus.PAID
            continue
        if has_payment:
            # Close at WeChat first, so it cannot be paid any more. If WeChat says it was
            # paid meanwhile, payment_close asks for the details and the order becomes paid.
            try:
                order_payment_close(order_no=no)
            except DomainError as exc:
                errors += 1
                logger.warning("mall reconcile: close %s failed: %s", no, exc.code)
                continue
        if order_close_expired(order_no=no) is not None:
            closed += 1
    return {"pending": len(pending), "queried": queried, "paid": paid, "closed": closed, "errors": errors}


def refunds_retry() -> dict:
    """Send approved refunds that WeChat has not accepted yet, and ask about ones in progress."""
    stale = timezone.now() - timedelta(minutes=2)
    sent = queried = errors = 0
    for refund_id in Refund.objects.filter(status=RefundStatus.APPROVED, reviewed_at__lte=stale).values_list(
        "pk", flat=True
    )[:BATCH]:
        refund = Refund.objects.select_related("order").get(pk=refund_id)
        wechat_refund = WechatRefund.objects.filter(out_refund_no=refund.no).first()
        try:
            if refund.order.paid_via:  # the payer's refund sender resends and asks (idempotent)
                sent += 1
                refund_send(refund_id=refund_id)
            elif wechat_refund is None or wechat_refund.status == WechatRefundStatus.REQUESTED:
                sent += 1
                refund_send(refund_id=refund_id)
            elif wechat_refund.status == WechatRefundStatus.PROCESSING:
                queried += 1
                wechat_services.refund_query(out_refund_no=refund.no)
        except DomainError as exc:
            errors += 1
            logger.warning("mall refunds retry: %s failed: %s", refund.no, exc.code)
    return {"sent": sent, "queried": queried, "errors": errors}
