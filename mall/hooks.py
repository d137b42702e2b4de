"""The mall's published moments, for higher apps (commissions, campaigns, distributors).

`mall` must not import them, so they register handlers here, usually in their
AppConfig.ready():

    from mall.hooks import register_order_handler, OrderMoment

    register_order_handler(OrderMoment.PAID, on_order_paid)   # fn(order, **data)

Guarantee: handlers run **inside the database transaction that makes the change**
(the one that moves the order to paid / completed / refunded and writes its ledger
transaction). So the change and every subscriber's effect commit together or not at
all: an order cannot become paid without its subscribers' effects, and because the
transition itself happens exactly once (locked row, checked status), so do they. A
handler that raises rolls the whole change back (for a payment notification, WeChat
then sends it again). Handlers must only touch the database; work that needs the
network goes into a task enqueued with transaction.on_commit.

Moments and their keyword data:

* PAID       — order; the payment's `transaction_id`.
* COMPLETED  — order (receipt confirmed, by the buyer or automatically).
* REFUNDED   — order; `refund` (the mall.Refund that succeeded) and `amount_fen`.
                Fired for every successful refund, partial or full.
* CLOSED     — order (cancelled or timed out before payment).

Attribution: one higher app (distributors) may register an *attributor* with
`set_attributor(fn)`. `order_create` calls `fn(user=, share_code=, hint=)` inside its
transaction before the order is saved; it returns the snapshot stored in
`Order.attribution` (who gets credit: level-1 and level-2 distributors, the link, the
binding) or None. `hint` is what the HTTP layer passes through (the signed attribution
cookie); the mall does not interpret it.

Refund window default: how many days after completion a buyer may still ask for a refund,
when the operator has not set `MallSettings.refund_window_days`. The rule ("the commission
freeze period plus 7 days") belongs to the app that owns the freeze period, so that app
registers a provider with `set_refund_window_default(fn)` (commissions does, in its
AppConfig.ready()); `fn()` returns whole days. Without a provider the mall uses
DEFAULT_REFUND_WINDOW_DAYS (14 = the default freeze of 7 days + 7).

Accounts an order's money movement touches: a handler of PAID or REFUNDED that posts to
the ledger (commissions: accrual and reversal) adds accounts to the mall's own money
transaction. To stay deadlock-free every such transaction locks all its ledger accounts up
front in one id-ordered call (ledger/locks.py), so those handlers also register a provider
with `register_order_accounts(fn)`: `fn(order, moment)` returns the accounts (or ids) its
handler of that moment may touch — created if missing, not locked, a superset is fine.
`order_accounts_lock(order, moment, *own)` (called by mall.services after the order's lock
and before `publish`) locks the mall's own accounts and every provider's in ONE statement.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from enum import StrEnum

logger = logging.getLogger(__name__)


class OrderMoment(StrEnum):
    PAID = "paid"
    COMPLETED = "completed"
    REFUNDED = "refunded"
    CLOSED = "closed"


_handlers: dict[OrderMoment, list[Callable]] = defaultdict(list)


def register_order_handler(moment: OrderMoment, fn: Callable) -> None:
    if fn not in _handlers[OrderMoment(moment)]:
        _handlers[OrderMoment(moment)].append(fn)


def unregister_order_handler(moment: OrderMoment, fn: Callable) -> None:
    if fn in _handlers[OrderMoment(moment)]:
        _handlers[OrderMoment(moment)].remove(fn)


_attributor: Callable | None = None


def set_attributor(fn: Callable | None) -> None:
    global _attributor
    _attributor = fn


def attribute(*, user, share_code: str, hint: str) -> dict:
    """The attribution snapshot for a new order ({} when nobody gets credit)."""
    if _attributor is None:
        return {}
    return _attributor(user=user, share_code=share_code, hint=hint) or {}


def publish(moment: OrderMoment, order, **data) -> None:
    """Called by mall.services inside the transaction of the change."""
    for fn in list(_handlers[moment]):
        fn(order, **data)


DEFAULT_REFUND_WINDOW_DAYS = 14
_refund_window_default: Callable[[], int] | None = None


def set_refund_window_default(fn: Callable[[], int] | None) -> None:
    global _refund_window_default
    _refund_window_default = fn


def refund_window_default_days() -> int:
    """The refund window when the operator has not set one (see the module docstring)."""
    if _refund_window_default is None:
        return DEFAULT_REFUND_WINDOW_DAYS
    return int(_refund_window_default())


_account_providers: list[Callable] = []


def register_order_accounts(fn: Callable) -> None:
    """fn(order, moment) -> iterable of ledger Accounts or ids its handler may post to."""
    if fn not in _account_providers:
        _account_providers.append(fn)


def unregister_order_accounts(fn: Callable) -> None:
    if fn in _account_providers:
        _account_providers.remove(fn)


def order_accounts_lock(order, moment: OrderMoment, *own) -> dict:
    """Lock, in one id-ordered statement, the mall's own accounts (`own`) and every account
    the subscribers of `moment` will post to for `order`; {id: Account}. Call it inside the
    transaction, after locking the order and before the first posting and `publish`."""
    from ledger.locks import accounts_lock

    wanted = list(own)
    for fn in list(_account_providers):
        wanted.extend(fn(order, OrderMoment(moment)) or ())
    return accounts_lock(accounts_or_ids=wanted)
