"""Refunds: the buyer asks, an operator approves or rejects, WeChat refunds, the books follow.

Lock order is always order row first, then refund row. One refund is open per order
at a time (the order is `refunding` meanwhile; a partial unique index is the last line),
and under the order's lock the open and succeeded refunds of an order never add up to
more than what was paid. While a refund is open the order neither ships nor completes
(orders.py). Maker-checker: the operator who bought the order or asked for the refund
cannot approve or reject it (403 `self_approval`). The buyer may ask until the refund
window closes (services/settings.py); operators may refund by hand at any time.

A refund's status moves only through core.transitions.transition with REFUND_TRANSITIONS
(mall/models.py). Each move writes one OrderEvent on the refund's order, data {"refund",
"from", "to", ...}: `refund_approved`; `refund_rejected` / `refund_failed`, which is also the
order's move back from `refunding` when it was refunding; `refunded` for a success, the
order's move to refunded / partially_refunded (or a plain event when the order stays).
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from core.errors import InvalidInput, InvalidTransition, NotFound, SelfApproval
from core.transitions import transition
from ledger.services import ledger_post

from ..errors import AmountTooLarge, AmountTooSmall, RefundWindowClosed
from ..hooks import OrderMoment, order_accounts_lock, publish
from ..models import (
    OPEN_REFUND_STATUSES,
    ORDER_TRANSITIONS,
    REFUND_TRANSITIONS,
    Order,
    OrderStatus,
    Refund,
    RefundStatus,
)
from ..selectors.orders import order_has_open_refund
from ..tasks import refund_send_task
from .order_state import order_event, order_lock, order_move, platform_accounts
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
    order_move(
        order=order, to=S.REFUNDING, kind=kind, actor=requested_by,
        data={"refund": refund.no, "amount_fen": amount_fen}, fields={"status_before_refund": order.status},
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


def _check_reviewer(order: Order, refund: Refund, operator) -> bool:
    """Maker-checker: the buyer and the one who asked for the refund do not review it."""
    if operator is None or not operator.is_staff:
        raise InvalidInput("Only an operator may review refunds.")
    if operator.pk in (order.user_id, refund.requested_by_id):
        raise SelfApproval(
            "Nobody may review a refund of their own order or one they asked for; another operator must.",
            extra={"refund": refund.no},
        )
    return True


def _refund_record(
    order: Order, *, kind: str, actor=None, data: dict[str, Any] | None = None, order_to: str = ""
) -> Callable[[Refund, str, str], None]:
    """The event row of a refund's status change (the `record` of core.transitions): one
    OrderEvent of `kind` whose data names the refund and its move ({"refund", "from", "to"}
    and `data`). When the order moves with the refund (`order_to`: back from `refunding`),
    that row is the order's move (from_status / to_status are the order's), else a plain
    order event."""

    def record(refund: Refund, prev: str, to: str) -> None:
        row = {"refund": refund.no, "from": prev, "to": to, **(data or {})}
        if order_to:
            order_move(order=order, to=order_to, kind=kind, actor=actor, data=row)
        else:
            order_event(order=order, kind=kind, actor=actor, data=row)

    return record


def _reopened(order: Order) -> str:
    """Where an order goes when its refund ends without money back: from `refunding` back to
    status_before_refund; an order not `refunding` (rows left by older code) stays."""
    return order.status_before_refund if order.status == S.REFUNDING else ""


def _review(refund: Refund, to: str, *, order: Order, operator, note: str, record) -> Refund:
    transition(
        refund, to, table=REFUND_TRANSITIONS, locked=True, what="refund",
        # Maker-checker after the table (a refund reviewed already is invalid_transition, whoever asks).
        allow=lambda prev, new: _check_reviewer(order, refund, operator),
        fields={"reviewed_by": operator, "reviewed_at": timezone.now(), "review_note": note[:200]},
        record=record,
    )
    return refund


@transaction.atomic
def refund_approve(*, operator, refund_id: int, note: str = "") -> Refund:
    order, refund = _refund_lock(refund_id=refund_id)
    _review(refund, RefundStatus.APPROVED, order=order, operator=operator, note=note,
            record=_refund_record(order, kind="refund_approved", actor=operator))
    _enqueue_send(refund)
    return refund


@transaction.atomic
def refund_reject(*, operator, refund_id: int, note: str) -> Refund:
    order, refund = _refund_lock(refund_id=refund_id)
    return _review(refund, RefundStatus.REJECTED, order=order, operator=operator, note=note,
                   record=_refund_record(order, kind="refund_rejected", actor=operator,
                                         data={"note": note[:200]}, order_to=_reopened(order)))


@transaction.atomic
def refund_finalize(*, refund_no: str, succeeded: bool, wechat_refund_id: str = "") -> Refund | None:
    """WeChat's final word on a refund (notification or query). Exactly once per refund."""
    refund_id = Refund.objects.filter(no=refund_no).values_list("pk", flat=True).first()
    if refund_id is None:
        logger.error("mall: WeChat finalised refund %s that the mall does not know", refund_no)
        return None
    order, refund = _refund_lock(refund_id=refund_id)
    now = timezone.now()
    if not succeeded:
        transition(
            refund, RefundStatus.FAILED, table=REFUND_TRANSITIONS, locked=True, strict=False, what="refund",
            fields={"completed_at": now},
            record=_refund_record(order, kind="refund_failed", order_to=_reopened(order)),
        )
        return refund  # failed now, or already final
    if not transition(
        refund, RefundStatus.SUCCEEDED, table=REFUND_TRANSITIONS, locked=True, strict=False, what="refund",
        fields={"completed_at": now, "wechat_refund_id": wechat_refund_id[:64]},
        record=None,  # this move's row is the "refunded" row below, once the money is booked
    ):
        return refund  # already final
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
    event_data = {
        "refund": refund.no, "from": RefundStatus.APPROVED, "to": RefundStatus.SUCCEEDED,
        "amount_fen": refund.amount_fen,
    }
    if order.status == S.REFUNDING:
        to = S.REFUNDED if order.refunded_fen == order.paid_fen else S.PARTIALLY_REFUNDED
        order_move(order=order, to=to, kind="refunded", data=event_data)
    elif order.refunded_fen == order.paid_fen and S.REFUNDED in ORDER_TRANSITIONS[order.status]:
        # All paid back ends `refunded` whatever the order was (rows left by older code
        # that shipped or completed with a refund open); a closed order stays closed.
        order_move(order=order, to=S.REFUNDED, kind="refunded", data=event_data)
    else:
        order_event(order=order, kind="refunded", data=event_data)
    publish(OrderMoment.REFUNDED, order, refund=refund, amount_fen=refund.amount_fen)
    return refund
