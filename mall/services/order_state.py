"""What every order service shares: the order's lock, its status moves and event rows, and
the ledger accounts its money is booked on.

Below orders.py and refunds.py (both import it; it imports neither), so that orders.py can
start the automatic refund of an order paid after it closed (refunds.py) without a cycle.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings

from core.errors import NotFound
from core.transitions import transition
from ledger.locks import account_shard
from ledger.models import AccountKind

from ..models import ORDER_TRANSITIONS, Order, OrderEvent, order_transition_allow


def order_lock(*, no: str, user=None) -> Order:
    """The order, locked for update. With `user`, another user's order is 404."""
    qs = Order.objects.select_for_update().filter(no=no)
    if user is not None:
        qs = qs.filter(user=user)
    order = qs.first()
    if order is None:
        raise NotFound("Order not found.")
    return order


def order_move(
    *,
    order: Order,
    to: str,
    kind: str,
    actor=None,
    data: dict[str, Any] | None = None,
    fields: Mapping[str, Any] | None = None,
) -> Order:
    """Move an order locked by `order_lock` (in this transaction) to `to`: core.transitions
    with ORDER_TRANSITIONS and its `allow` rule for `kind`, the other `fields` that change
    with it, and an OrderEvent (from, to, kind, actor, data). InvalidTransition otherwise."""

    def record(obj: Order, prev: str, new: str) -> None:
        OrderEvent.objects.create(
            order=obj, from_status=prev, to_status=new, kind=kind, actor=actor, data=data or {}
        )

    transition(
        order, to, table=ORDER_TRANSITIONS, allow=order_transition_allow(kind), record=record,
        fields=fields, locked=True, what="order",
    )
    return order


def order_event(*, order: Order, kind: str, actor=None, data: dict[str, Any] | None = None) -> None:
    """A notable moment that is not a status change of the order."""
    OrderEvent.objects.create(order=order, kind=kind, actor=actor, data=data or {})


def platform_accounts(*, order_no: str):
    """The platform cash and sales revenue accounts an order's money is booked on.

    They are sharded (MALL_LEDGER_SHARDS, by order number): every payment locks its two
    platform accounts until it commits, so with one pair all payments would queue on the
    same two rows. The platform's figures are the sums over the shards (by account kind);
    an order's payment and refunds always use the same shard."""
    shards = settings.MALL_LEDGER_SHARDS
    return (
        account_shard(kind=AccountKind.PLATFORM_CASH, prefix="mall", key=order_no, shards=shards),
        account_shard(kind=AccountKind.SALES_REVENUE, prefix="mall", key=order_no, shards=shards),
    )
