"""How higher apps react to WeChat Pay results without `wechat` importing them.

`wechat` is the lowest layer, so it cannot call `mall` or `campaigns`. Instead each
higher app registers handlers for its own `purpose` (the string it passed to
`payment_create`, e.g. "mall.order") in its AppConfig.ready():

    from wechat.hooks import register_payment_handler

    def on_order_paid(payment):          # a wechat.models.WechatPayment
        order_mark_paid(order_no=payment.ref, transaction_id=payment.transaction_id)

    register_payment_handler("mall.order", on_order_paid)

Guarantees:

* Payment handlers run when a payment becomes `paid` (from the signed notification or
  from an order query), **inside the same database transaction** that marks it paid,
  and **exactly once per payment**: duplicate or concurrent notifications find the row
  already paid and call nothing. If a handler raises, the whole transaction rolls
  back, the payment stays unpaid, and the notification is answered FAIL, so WeChat
  sends it again later.
* Refund handlers run when a refund reaches a final status (succeeded, failed, closed),
  in that status change's transaction, exactly once per refund. They receive the
  `WechatRefund`; `refund.payment.purpose` says whose it is.
* Transfer handlers run when a transfer reaches a final status (succeeded, failed, or
  cancelled for a merchant transfer bill),
  in that transaction, exactly once per transfer; keyed by the transfer's own purpose.
  This includes the synchronous answer inside `transfer_create`: callers should do
  their bookkeeping in the handler, not twice. Transfer-waiting handlers run once when a
  merchant transfer bill (APIv3) starts waiting for the user's confirmation, in that
  transaction: the transfer's `package_info` is what the user confirms with (after a lost
  create answer it is fetched a moment later, so it may still be empty then).

Handlers must only touch the database (no HTTP): they hold the payment's row lock.
Several handlers may be registered for one purpose; they run by `order` (lower first),
then in registration order. Registering the same function again does not make it run
twice (it moves to the `order` given). The hooks are `core.hooks.Hook`s (see there).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from core.hooks import Hook

logger = logging.getLogger(__name__)

Handler = Callable[[Any], None]

payment_paid = Hook(
    "wechat.payment_paid", keyed=True,
    doc="A WeChat Pay payment became paid; keyed by the payment's purpose; fn(payment).",
)
refund_final = Hook(
    "wechat.refund_final", keyed=True,
    doc="A refund reached succeeded, failed or closed; keyed by its payment's purpose; fn(refund).",
)
transfer_final = Hook(
    "wechat.transfer_final", keyed=True,
    doc="A transfer reached succeeded, failed or cancelled; keyed by the transfer's purpose; fn(transfer).",
)
transfer_waiting = Hook(
    "wechat.transfer_waiting", keyed=True,
    doc="A merchant transfer bill started waiting for the user's confirmation (its package_info may still be on "
        "its way after a lost create answer); keyed by the transfer's purpose; fn(transfer).",
)


def _purpose(purpose: str) -> str:
    if not purpose:
        raise ValueError("purpose is required")
    return purpose


def register_payment_handler(purpose: str, fn: Handler, *, order: int = 100) -> None:
    payment_paid.register(fn, key=_purpose(purpose), order=order)


def unregister_payment_handler(purpose: str, fn: Handler) -> None:
    payment_paid.unregister(fn, key=purpose)


def register_refund_handler(purpose: str, fn: Handler, *, order: int = 100) -> None:
    refund_final.register(fn, key=_purpose(purpose), order=order)


def unregister_refund_handler(purpose: str, fn: Handler) -> None:
    refund_final.unregister(fn, key=purpose)


def register_transfer_handler(purpose: str, fn: Handler, *, order: int = 100) -> None:
    transfer_final.register(fn, key=_purpose(purpose), order=order)


def unregister_transfer_handler(purpose: str, fn: Handler) -> None:
    transfer_final.unregister(fn, key=purpose)


def register_transfer_waiting_handler(purpose: str, fn: Handler, *, order: int = 100) -> None:
    transfer_waiting.register(fn, key=_purpose(purpose), order=order)


def unregister_transfer_waiting_handler(purpose: str, fn: Handler) -> None:
    transfer_waiting.unregister(fn, key=purpose)


def _run(hook: Hook, what: str, purpose: str, obj: Any) -> int:
    handlers = hook.subscribers(purpose)
    if not handlers:
        logger.warning("wechat hooks: no %s handler for purpose %r (%s)", what, purpose, obj)
    for fn in handlers:
        fn(obj)
    return len(handlers)


def run_payment_handlers(payment) -> int:
    """Called by wechat.services inside the transaction that marked `payment` paid."""
    return _run(payment_paid, "payment", payment.purpose, payment)


def run_refund_handlers(refund) -> int:
    return _run(refund_final, "refund", refund.payment.purpose, refund)


def run_transfer_handlers(transfer) -> int:
    return _run(transfer_final, "transfer", transfer.purpose, transfer)


def run_transfer_waiting_handlers(transfer) -> int:
    return _run(transfer_waiting, "transfer waiting", transfer.purpose, transfer)
