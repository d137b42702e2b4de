"""How higher apps react to WeChat Pay results without `wechat` importing them.

`wechat` is the lowest layer, so it cannot call `mall` or `campaigns`. Instead each
higher app registers handlers for its own `purpose` (the string it passed to
`payment_create`, e.g. "mall.order"), usually in its AppConfig.ready():

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
* Transfer handlers run when a transfer reaches a final status (succeeded or failed),
  in that transaction, exactly once per transfer; keyed by the transfer's own purpose.
  This includes the synchronous answer inside `transfer_create`: callers should do
  their bookkeeping in the handler, not twice.

Handlers must only touch the database (no HTTP): they hold the payment's row lock.
Several handlers may be registered for one purpose; they run in registration order.
Registering the same function twice has no effect.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Handler = Callable[[Any], None]

_payment_handlers: dict[str, list[Handler]] = defaultdict(list)
_refund_handlers: dict[str, list[Handler]] = defaultdict(list)
_transfer_handlers: dict[str, list[Handler]] = defaultdict(list)


def _register(table: dict[str, list[Handler]], purpose: str, fn: Handler) -> None:
    if not purpose:
        raise ValueError("purpose is required")
    if fn not in table[purpose]:
        table[purpose].append(fn)


def _unregister(table: dict[str, list[Handler]], purpose: str, fn: Handler) -> None:
    if fn in table.get(purpose, []):
        table[purpose].remove(fn)


def register_payment_handler(purpose: str, fn: Handler) -> None:
    _register(_payment_handlers, purpose, fn)


def unregister_payment_handler(purpose: str, fn: Handler) -> None:
    _unregister(_payment_handlers, purpose, fn)


def register_refund_handler(purpose: str, fn: Handler) -> None:
    _register(_refund_handlers, purpose, fn)


def unregister_refund_handler(purpose: str, fn: Handler) -> None:
    _unregister(_refund_handlers, purpose, fn)


def register_transfer_handler(purpose: str, fn: Handler) -> None:
    _register(_transfer_handlers, purpose, fn)


def unregister_transfer_handler(purpose: str, fn: Handler) -> None:
    _unregister(_transfer_handlers, purpose, fn)


def _run(table: dict[str, list[Handler]], what: str, purpose: str, obj: Any) -> int:
    handlers = list(table.get(purpose, ()))
    if not handlers:
        logger.warning("wechat hooks: no %s handler for purpose %r (%s)", what, purpose, obj)
    for fn in handlers:
        fn(obj)
    return len(handlers)


def run_payment_handlers(payment) -> int:
    """Called by wechat.services inside the transaction that marked `payment` paid."""
    return _run(_payment_handlers, "payment", payment.purpose, payment)


def run_refund_handlers(refund) -> int:
    return _run(_refund_handlers, "refund", refund.payment.purpose, refund)


def run_transfer_handlers(transfer) -> int:
    return _run(_transfer_handlers, "transfer", transfer.purpose, transfer)
