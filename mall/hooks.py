"""The mall's published moments, for higher apps (commissions, campaigns, distributors).

`mall` must not import them, so they register handlers here, in their AppConfig.ready():

    from mall.hooks import ORDER_COMMISSIONS, OrderMoment, register_order_handler

    register_order_handler(OrderMoment.PAID, on_order_paid, order=ORDER_COMMISSIONS)  # fn(order, **data)

Every hook here is a `core.hooks.Hook` with one shape: `register_*(…, order=)` and
`unregister_*(…)`. Handlers of one moment run by `order` (lower first), then in
registration order; the order numbers the apps use are the ORDER_* constants below, so
the running order is written down here and not left to INSTALLED_APPS:

* ORDER_STATS (10): distributors' figures (daily stats on PAID / REFUNDED; recruitment and
  tiers on COMPLETED) run first, so they count the order as the mall left it;
* ORDER_COMMISSIONS (20): commissions' accrual, freeze and reversal, after them;
* later subscribers (campaigns) take 30 and up; unset is 100 (after all of these).

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
`register_attributor(fn)` (`unregister_attributor(fn)`; a single slot: registering
another replaces it). `order_create` calls `fn(user=, share_code=, hint=)` inside its
transaction before the order is saved; it returns the snapshot stored in
`Order.attribution` (who gets credit: level-1 and level-2 distributors, the link, the
binding) or None. `hint` is what the HTTP layer passes through (the signed attribution
cookie); the mall does not interpret it.

Refund window default: how many days after completion a buyer may still ask for a refund,
when the operator has not set `MallSettings.refund_window_days`. The rule ("the commission
freeze period plus 7 days") belongs to the app that owns the freeze period, so that app
registers a provider with `register_refund_window_default(fn)` (a single slot; commissions
does, in its AppConfig.ready()); `fn()` returns whole days. Without a provider the mall uses
DEFAULT_REFUND_WINDOW_DAYS (14 = the default freeze of 7 days + 7).

Accounts an order's money movement touches: a handler of PAID or REFUNDED that posts to
the ledger (commissions: accrual and reversal) adds accounts to the mall's own money
transaction. To stay deadlock-free every such transaction locks all its ledger accounts up
front in one id-ordered call (ledger/locks.py), so those handlers also register a provider
with `register_order_accounts(fn)`: `fn(order, moment)` returns the accounts (or ids) its
handler of that moment may touch — created if missing, not locked, a superset is fine.
`order_accounts_lock(order, moment, *own)` (called by mall.services after the order's lock
and before `publish`) locks the mall's own accounts and every provider's in ONE statement.

Refund senders: an order the buyer did not pay with their own WeChat payment carries
`Order.paid_via` (the payer's purpose, e.g. "campaigns.crowdfund": a crowdfund's escrow paid
it) and `paid_via_ref`. Its approved refunds cannot go to WeChat as a refund of the order's
own payment (there is none), so the payer's app registers a sender for its purpose with
`register_refund_sender(paid_via, fn)` (one per purpose; campaigns does). `fn(refund)` is
called by `refund_send` outside any transaction, again by the `mall.retry_refunds` job while
the refund stays approved, so it must be idempotent; it sends the money back however it
knows (campaigns: pro rata to the contributors, a WeChat refund of each one's payment) and
reports the end with `mall.services.refunds.refund_finalize(refund_no=, succeeded=)`. An
approved refund of a `paid_via` order without a sender stays approved and is logged.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from enum import StrEnum

from core.hooks import Hook
from ledger.locks import accounts_lock

logger = logging.getLogger(__name__)


class OrderMoment(StrEnum):
    PAID = "paid"
    COMPLETED = "completed"
    REFUNDED = "refunded"
    CLOSED = "closed"


# The order of the order-moment subscribers (lower first; see the module docstring).
ORDER_STATS = 10  # distributors: daily figures, recruitment, tiers
ORDER_COMMISSIONS = 20  # commissions: accrual, freeze, reversal

order_moment = Hook(
    "mall.order_moment", keyed=True,
    doc="An order was paid, completed, refunded or closed; keyed by OrderMoment; fn(order, **data); "
        "inside the transaction of the change.",
)
order_attributor = Hook(
    "mall.order_attributor", single=True,
    doc="Who gets credit for a new order; fn(user=, share_code=, hint=) -> snapshot or None; "
        "inside order_create's transaction.",
)
refund_window_default = Hook(
    "mall.refund_window_default", single=True,
    doc="The buyer's refund window in days when the operator has not set one; fn() -> int.",
)
refund_sender = Hook(
    "mall.refund_sender", keyed=True, single=True,
    doc="Sends an approved refund of an order paid by someone else (Order.paid_via), keyed by paid_via; "
        "fn(refund); outside any transaction, repeated until it reports refund_finalize.",
)
order_accounts = Hook(
    "mall.order_accounts",
    doc="The ledger accounts a PAID / REFUNDED handler may post to; fn(order, moment) -> accounts or ids; "
        "locked with the mall's own in one statement.",
)


def register_order_handler(moment: OrderMoment, fn: Callable, *, order: int = 100) -> None:
    order_moment.register(fn, key=OrderMoment(moment), order=order)


def unregister_order_handler(moment: OrderMoment, fn: Callable) -> None:
    order_moment.unregister(fn, key=OrderMoment(moment))


def publish(moment: OrderMoment, order, **data) -> None:
    """Called by mall.services inside the transaction of the change."""
    for fn in order_moment.subscribers(OrderMoment(moment)):
        fn(order, **data)


def register_attributor(fn: Callable) -> None:
    order_attributor.register(fn)


def unregister_attributor(fn: Callable | None = None) -> None:
    order_attributor.unregister(fn)


def attribute(*, user, share_code: str, hint: str) -> dict:
    """The attribution snapshot for a new order ({} when nobody gets credit)."""
    fn = order_attributor.one()
    if fn is None:
        return {}
    return fn(user=user, share_code=share_code, hint=hint) or {}


DEFAULT_REFUND_WINDOW_DAYS = 14


def register_refund_window_default(fn: Callable[[], int]) -> None:
    refund_window_default.register(fn)


def unregister_refund_window_default(fn: Callable[[], int] | None = None) -> None:
    refund_window_default.unregister(fn)


def refund_window_default_days() -> int:
    """The refund window when the operator has not set one (see the module docstring)."""
    fn = refund_window_default.one()
    if fn is None:
        return DEFAULT_REFUND_WINDOW_DAYS
    return int(fn())


def register_order_accounts(fn: Callable[..., Iterable], *, order: int = 100) -> None:
    """fn(order, moment) -> iterable of ledger Accounts or ids its handler may post to."""
    order_accounts.register(fn, order=order)


def unregister_order_accounts(fn: Callable[..., Iterable]) -> None:
    order_accounts.unregister(fn)


def order_accounts_lock(order, moment: OrderMoment, *own) -> dict:
    """Lock, in one id-ordered statement, the mall's own accounts (`own`) and every account
    the subscribers of `moment` will post to for `order`; {id: Account}. Call it inside the
    transaction, after locking the order and before the first posting and `publish`."""
    wanted = list(own)
    for fn in order_accounts.subscribers():
        wanted.extend(fn(order, OrderMoment(moment)) or ())
    return accounts_lock(accounts_or_ids=wanted)


def register_refund_sender(paid_via: str, fn: Callable) -> None:
    """fn(refund) sends an approved refund of an order with `Order.paid_via == paid_via`."""
    refund_sender.register(fn, key=paid_via)


def unregister_refund_sender(paid_via: str, fn: Callable | None = None) -> None:
    refund_sender.unregister(fn, key=paid_via)


def refund_sender_for(paid_via: str) -> Callable | None:
    return refund_sender.one(paid_via)
