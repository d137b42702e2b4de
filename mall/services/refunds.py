"""Refunds: the buyer asks, an operator approves or rejects, WeChat refunds, the books follow.

Lock order is always order row first, then refund row. One refund is open per order
at a time (the order is `refunding` meanwhile; a partial unique index is the last line),
and under the order's lock the open and succeeded refunds of an order never add up to
more than what was paid. While a refund is open the order neither ships nor completes
(orders.py). Maker-checker: the operator who bought the order or asked for the refund
cannot approve or reject it (403 `self_approval`). The buyer may ask until the refund
window closes (services/settings.py); operators may refund by hand at any time.
"""
from __future__ import annotations

import logging
import secrets

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from core.errors import InvalidInput, InvalidTransition, NotFound, SelfApproval
from ledger.services import ledger_post

from ..errors import AmountTooLarge, AmountTooSmall, RefundWindowClosed
from ..hooks import OrderMoment, order_accounts_lock, publish
from ..models import OPEN_REFUND_STATUSES, Order, OrderStatus, Refund, RefundStatus
from .orders import ALLOWED, order_event, order_has_open_refund, order_lock, order_transition, platform_accounts
from .settings import refund_window_closes_at, refund_window_days

logger = logging.getLogger(__name__)

S = OrderStatus
REFUNDABLE = frozenset({S.PAID, S.SHIPPED, S.COMPLETED, S.PARTIALLY_REFUNDED})
MAX_REASON = 200


def refund_no_generate(order: Order) -> str:
    return f"R{order.no}{secrets.randbelow(10**6):06d}"


def _refund_lock(*, refund_id: int) -> tuple[Order, Refund]:
    order_id = Refund.objects.filter(pk=refund_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFound("Refund not found.")
    order = Order.objects.select_for_update().get(pk=order_id)
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    return order, refund


def _enqueue_send(refund: Refund) -> None:
    from ..tasks import refund_send_task

    refund_id = refund.pk
    transaction.on_commit(lambda: refund_send_task.delay(refund_id))


def refundable_fen(order: Order) -> int:
    """What may still be asked back: paid minus the succeeded and the open refunds.
    Call with the order row locked."""
    taken = (
        Refund.objects.filter(order=order, status__in=(*OPEN_REFUND_STATUSES, RefundStatus.SUCCEEDED))
        .aggregate(total=Sum("amount_fen"))["total"] or 0
    )
    return max(0, order.paid_fen - max(taken, order.refunded_fen))


def _check_amount(order: Order, amount_fen: int) -> None:
    left = refundable_fen(order)
    if amount_fen > left:
        raise AmountTooLarge("The refund is larger than what is left to refund.", extra={"refundable_fen": left})


def _open_refund(*, order: Order, requested_by, amount_fen: int, reason: str, kind: str) -> Refund:
    if type(amount_fen) is not int or amount_fen < 1:
        raise AmountTooSmall()
    if order.status not in REFUNDABLE or order_has_open_refund(order):
        raise InvalidTransition(
            "This order cannot be refunded now (unpaid, closed, fully refunded, or a refund is open).",
            extra={"status": order.status},
        )
    _check_amount(order, amount_fen)
    refund = Refund.objects.create(
        order=order, no=refund_no_generate(order), amount_fen=amount_fen, reason=reason[:MAX_REASON],
        requested_by=requested_by,
    )
    order_transition(
        order=order, to=S.REFUNDING, kind=kind, actor=requested_by,
        data={"refund": refund.no, "amount_fen": amount_fen}, status_before_refund=order.status,
    )
    return refund


@transaction.atomic
def refund_request(*, user, order_no: str, amount_fen: int, reason: str) -> Refund:
    """The buyer asks for part or all of what was paid back, until the refund window closes
    (MallSettings.refund_window_days after completion; no window before completion)."""
    order = order_lock(no=order_no, user=user)
    closes_at = refund_window_closes_at(completed_at=order.completed_at)
    if closes_at is not None and timezone.now() > closes_at and order.status in REFUNDABLE:
        raise RefundWindowClosed(extra={
            "completed_at": order.completed_at.isoformat(), "window_days": refund_window_days(),
            "closed_at": closes_at.isoformat(),
        })
    return _open_refund(order=order, requested_by=user, amount_fen=amount_fen, reason=reason,
                        kind="refund_requested")


@transaction.atomic
def refund_request_by_operator(*, operator, order_no: str, amount_fen: int, reason: str) -> Refund:
    """An operator refunds by hand (after-sales, past the buyer's window). Same amount rules;
    it still needs another operator's approval (maker-checker)."""
    if operator is None or not operator.is_staff:
        raise InvalidInput("Only an operator may refund by hand.")
    order = order_lock(no=order_no)
    return _open_refund(order=order, requested_by=operator, amount_fen=amount_fen, reason=reason,
                        kind="refund_requested_by_operator")


def refund_start_automatic(*, order: Order, amount_fen: int, reason: str) -> Refund:
    """A refund the platform owes without a review (money for an order that had closed).
    Call inside the transaction that holds the order's lock."""
    _check_amount(order, amount_fen)
    refund = Refund.objects.create(
        order=order, no=refund_no_generate(order), amount_fen=amount_fen, reason=reason[:MAX_REASON],
        requested_by=order.user, status=RefundStatus.APPROVED, reviewed_at=timezone.now(),
        review_note="automatic",
    )
    order_event(order=order, kind="refund_automatic", data={"refund": refund.no, "amount_fen": amount_fen})
    _enqueue_send(refund)
    return refund


def _check_reviewer(order: Order, refund: Refund, operator) -> None:
    """Maker-checker: the buyer and the one who asked for the refund do not review it."""
    if operator is None or not operator.is_staff:
        raise InvalidInput("Only an operator may review refunds.")
    if operator.pk in (order.user_id, refund.requested_by_id):
        raise SelfApproval(
            "Nobody may review a refund of their own order or one they asked for; another operator must.",
            extra={"refund": refund.no},
        )


@transaction.atomic
def refund_approve(*, operator, refund_id: int, note: str = "") -> Refund:
    order, refund = _refund_lock(refund_id=refund_id)
    if refund.status != RefundStatus.REQUESTED:
        raise InvalidTransition("Only a requested refund can be approved.", extra={"status": refund.status})
    _check_reviewer(order, refund, operator)
    refund.status = RefundStatus.APPROVED
    refund.reviewed_by = operator
    refund.reviewed_at = timezone.now()
    refund.review_note = note[:200]
    refund.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    order_event(order=order, kind="refund_approved", actor=operator, data={"refund": refund.no})
    _enqueue_send(refund)
    return refund


def _reopen_order(order: Order, *, kind: str, actor=None, data=None) -> None:
    if order.status == S.REFUNDING:
        order_transition(order=order, to=order.status_before_refund, kind=kind, actor=actor, data=data)


@transaction.atomic
def refund_reject(*, operator, refund_id: int, note: str) -> Refund:
    order, refund = _refund_lock(refund_id=refund_id)
    if refund.status != RefundStatus.REQUESTED:
        raise InvalidTransition("Only a requested refund can be rejected.", extra={"status": refund.status})
    _check_reviewer(order, refund, operator)
    refund.status = RefundStatus.REJECTED
    refund.reviewed_by = operator
    refund.reviewed_at = timezone.now()
    refund.review_note = note[:200]
    refund.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    _reopen_order(order, kind="refund_rejected", actor=operator, data={"refund": refund.no, "note": note[:200]})
    return refund


def refund_send(*, refund_id: int) -> Refund:
    """Ask WeChat to pay an approved refund back. Safe to repeat (idempotent by refund no).
    Not inside a transaction: it talks to WeChat. The result arrives via refund_finalize."""
    from wechat.services import refund_create

    refund = Refund.objects.select_related("order").get(pk=refund_id)
    if refund.status != RefundStatus.APPROVED:
        return refund
    refund_create(
        out_refund_no=refund.no, out_trade_no=refund.order.no, amount_fen=refund.amount_fen,
        reason=refund.reason[:80],
    )
    return refund


@transaction.atomic
def refund_finalize(*, refund_no: str, succeeded: bool, wechat_refund_id: str = "") -> Refund | None:
    """WeChat's final word on a refund (notification or query). Exactly once per refund."""
    refund_id = Refund.objects.filter(no=refund_no).values_list("pk", flat=True).first()
    if refund_id is None:
        logger.error("mall: WeChat finalised refund %s that the mall does not know", refund_no)
        return None
    order, refund = _refund_lock(refund_id=refund_id)
    if refund.status != RefundStatus.APPROVED:
        return refund  # already final
    now = timezone.now()
    if not succeeded:
        refund.status = RefundStatus.FAILED
        refund.completed_at = now
        refund.save(update_fields=["status", "completed_at"])
        _reopen_order(order, kind="refund_failed", data={"refund": refund.no})
        return refund
    refund.status = RefundStatus.SUCCEEDED
    refund.completed_at = now
    refund.wechat_refund_id = wechat_refund_id[:64]
    refund.save(update_fields=["status", "completed_at", "wechat_refund_id"])
    Order.objects.filter(pk=order.pk).update(refunded_fen=F("refunded_fen") + refund.amount_fen)
    order.refresh_from_db(fields=["refunded_fen"])
    cash, revenue = platform_accounts(order_no=order.no)
    # Every ledger account of this refund (ours and the REFUNDED subscribers') in ONE
    # id-ordered lock before any posting: no deadlock with payments (ledger/locks.py).
    order_accounts_lock(order, OrderMoment.REFUNDED, cash, revenue)
    ledger_post(
        kind="mall.refund",
        idempotency_key=f"mall.refund:{refund.no}",
        legs=[(cash, -refund.amount_fen), (revenue, refund.amount_fen)],
        memo=f"refund {refund.no} of order {order.no}",
        cause_type="mall.refund",
        cause_id=refund.no,
    )
    event_data = {"refund": refund.no, "amount_fen": refund.amount_fen}
    if order.status == S.REFUNDING:
        to = S.REFUNDED if order.refunded_fen == order.paid_fen else S.PARTIALLY_REFUNDED
        order_transition(order=order, to=to, kind="refunded", data=event_data)
    elif order.refunded_fen == order.paid_fen and S.REFUNDED in ALLOWED[order.status]:
        # All paid back ends `refunded` whatever the order was (rows left by older code
        # that shipped or completed with a refund open); a closed order stays closed.
        order_transition(order=order, to=S.REFUNDED, kind="refunded", data=event_data)
    else:
        order_event(order=order, kind="refunded", data=event_data)
    publish(OrderMoment.REFUNDED, order, refund=refund, amount_fen=refund.amount_fen)
    return refund
