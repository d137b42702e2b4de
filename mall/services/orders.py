"""Orders: creation (stock taken atomically), the status machine, payment, fulfilment.

Every status change goes through order_state.order_move (core.transitions with
ORDER_TRANSITIONS from mall/models.py): the order row locked, the move checked, an
OrderEvent written, in one transaction. Money moves through ledger_post only.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.services import ip_or_none
from core.errors import InvalidInput, InvalidTransition
from ledger.services import ledger_post

from ..cache import catalog_invalidate
from ..errors import OrderNotPayable, OutOfStock, SkuUnavailable
from ..hooks import OrderMoment, attribute, order_accounts_lock, publish
from ..models import (  # noqa: F401  (PAYMENT_PURPOSE: mall/apps.py and bench/ import it from here)
    PAYMENT_PURPOSE,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    Sku,
)
from ..selectors.orders import order_has_open_refund
from ..tasks import order_close_wechat_payment
from .order_state import order_event, order_lock, order_move, platform_accounts
from .refunds import refund_start_automatic
from .stock import stock_return, stock_take

logger = logging.getLogger(__name__)

S = OrderStatus
SHIPPABLE = frozenset({S.PAID, S.PARTIALLY_REFUNDED})
COMPLETABLE = frozenset({S.SHIPPED, S.PARTIALLY_REFUNDED})

MAX_ORDER_TOTAL_FEN = 10**10  # 100 million yuan: anything above is an input error


def order_no_generate() -> str:
    """Unique, not sequential, readable: YYMMDD + 10 random digits (e.g. 2611231234567890)."""
    return timezone.localtime().strftime("%y%m%d") + f"{secrets.randbelow(10**10):010d}"


def _invalidate_catalog(product_ids: set[int]) -> None:
    for product_id in product_ids:
        catalog_invalidate(product_id=product_id)


def _validate_items(items: Sequence[dict]) -> list[tuple[int, int]]:
    if not items:
        raise InvalidInput("An order needs at least one item.", extra={"fields": {"items": ["empty"]}})
    if len(items) > settings.MALL_MAX_ITEMS_PER_ORDER:
        raise InvalidInput(f"At most {settings.MALL_MAX_ITEMS_PER_ORDER} items per order.")
    wanted: list[tuple[int, int]] = []
    seen: set[int] = set()
    for item in items:
        sku_id, quantity = item.get("sku_id"), item.get("quantity")
        if type(sku_id) is not int or type(quantity) is not int:
            raise InvalidInput("sku_id and quantity are integers.")
        if not 1 <= quantity <= settings.MALL_MAX_QUANTITY_PER_ITEM:
            raise InvalidInput(
                f"quantity must be 1 to {settings.MALL_MAX_QUANTITY_PER_ITEM}.", extra={"sku_id": sku_id}
            )
        if sku_id in seen:
            raise InvalidInput("A SKU appears twice; send it once with the total quantity.", code="duplicate_sku")
        seen.add(sku_id)
        wanted.append((sku_id, quantity))
    return sorted(wanted)  # take stock in SKU id order


@transaction.atomic
def order_create(
    *,
    user,
    items: Sequence[dict],
    address: dict[str, str],
    share_code: str = "",
    buyer_note: str = "",
    attribution_hint: str = "",
    client_ip: str | None = None,
) -> Order:
    """Create an order: prices snapshotted, stock taken with a conditional UPDATE (never oversold).
    `client_ip` (kept when it is a valid address) feeds the distributors' risk signals."""
    wanted = _validate_items(items)
    skus = {
        s.pk: s
        for s in Sku.objects.select_related("product").filter(
            pk__in=[sku_id for sku_id, _ in wanted], is_active=True, product__on_shelf=True
        )
    }
    missing = [sku_id for sku_id, _ in wanted if sku_id not in skus]
    if missing:
        raise SkuUnavailable(extra={"sku_ids": missing})
    total = sum(skus[sku_id].price_fen * quantity for sku_id, quantity in wanted)
    if total > MAX_ORDER_TOTAL_FEN:
        raise InvalidInput("The order total is too large.", code="amount_too_large")
    for sku_id, quantity in wanted:
        if not stock_take(sku_id=sku_id, quantity=quantity):
            raise OutOfStock(extra={"sku_id": sku_id})  # the atomic block returns what was taken
    attribution = attribute(user=user, share_code=share_code, hint=attribution_hint)
    order = _order_insert(
        user=user, lines=[(skus[sku_id], skus[sku_id].price_fen, quantity) for sku_id, quantity in wanted],
        address=address, share_code=share_code, client_ip=client_ip, attribution=attribution,
        buyer_note=buyer_note,
    )
    product_ids = {skus[sku_id].product_id for sku_id, _ in wanted}
    transaction.on_commit(lambda: _invalidate_catalog(product_ids))
    return order


def _order_insert(*, user, lines: Sequence[tuple[Sku, int, int]], address: dict, share_code: str,
                  client_ip: str | None, attribution: dict, buyer_note: str, **fields) -> Order:
    """The order row (a fresh number), its items (sku, unit price, quantity) and its `created`
    event; the caller has taken the stock."""
    total = sum(price * quantity for _, price, quantity in lines)
    now = timezone.now()
    for _ in range(5):
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    no=order_no_generate(),
                    user=user,
                    total_fen=total,
                    address=address,
                    share_code=share_code,
                    client_ip=ip_or_none(client_ip),
                    attribution=attribution,
                    buyer_note=buyer_note,
                    pay_deadline=now + timedelta(minutes=settings.MALL_PAY_MINUTES),
                    **fields,
                )
            break
        except IntegrityError:  # an order number collision: draw again
            continue
    else:  # pragma: no cover - 5 collisions in 10^10 numbers
        raise RuntimeError("could not draw a unique order number")
    OrderItem.objects.bulk_create(
        [
            OrderItem(
                order=order,
                product=sku.product,
                sku=sku,
                title=sku.product.title,
                sku_name=sku.name,
                image=(sku.product.images or [""])[0],
                price_fen=price,
                quantity=quantity,
                amount_fen=price * quantity,
            )
            for sku, price, quantity in lines
        ]
    )
    order_event(order=order, kind="created", actor=user, data={"total_fen": total})
    return order


@transaction.atomic
def order_create_paid_by(
    *,
    user,
    sku_id: int,
    quantity: int,
    price_fen: int,
    address: dict[str, str],
    attribution: dict,
    paid_via: str,
    paid_via_ref: str,
    share_code: str = "",
    buyer_note: str = "",
    client_ip: str | None = None,
    lock_with: Sequence = (),
) -> Order:
    """An order for `user` that somebody else has paid for: a crowdfund whose friends' money
    sits in its escrow. Created and marked paid in the caller's transaction, exactly like a
    paid order from then on (the PAID moment — stats, commissions — the payment posting
    platform cash / sales revenue, the sales counter; it ships, completes and refunds as
    usual; its refunds go back through the payer's refund sender, mall.hooks).

    The caller took the stock with `sku_stock_hold` and fixed the unit price and the
    attribution snapshot when it started (they are the crowdfund's, not today's).
    `lock_with`: the caller's own ledger accounts it will post to in this transaction
    (the escrow), locked with the order's in one id-ordered statement before any posting."""
    if not paid_via or not paid_via_ref:
        raise InvalidInput("paid_via and paid_via_ref are required.")
    if type(quantity) is not int or quantity < 1 or type(price_fen) is not int or price_fen < 1:
        raise InvalidInput("quantity and price_fen are positive integers.")
    sku = Sku.objects.select_related("product").filter(pk=sku_id).first()
    if sku is None:
        raise SkuUnavailable(extra={"sku_ids": [sku_id]})
    order = _order_insert(
        user=user, lines=[(sku, price_fen, quantity)], address=address, share_code=share_code,
        client_ip=client_ip, attribution=attribution or {}, buyer_note=buyer_note,
        paid_via=paid_via, paid_via_ref=str(paid_via_ref),
    )
    _order_paid(order, amount_fen=order.total_fen, transaction_id="", lock_with=lock_with,
                data={"paid_via": paid_via, "paid_via_ref": str(paid_via_ref)})
    product_id = sku.product_id
    transaction.on_commit(lambda: _invalidate_catalog({product_id}))
    return order


def _order_paid(order: Order, *, amount_fen: int, transaction_id: str, data: dict, lock_with: Sequence = ()) -> None:
    """pending_payment → paid for a locked order: the status and its event, one up-front lock of
    every ledger account this payment touches, the PAID moment, the sales counters and the
    payment posting, in the caller's transaction."""
    cash, revenue = platform_accounts(order_no=order.no)
    fields = {"paid_fen": amount_fen, "paid_at": timezone.now()}
    if transaction_id:
        fields["wechat_transaction_id"] = transaction_id
    order_move(order=order, to=S.PAID, kind="paid", data=data, fields=fields)
    # Every ledger account of this payment (ours, the payer's and the PAID subscribers') in
    # ONE id-ordered lock before any posting: no deadlock with refunds (ledger/locks.py).
    order_accounts_lock(order, OrderMoment.PAID, cash, revenue, *lock_with)
    publish(OrderMoment.PAID, order, transaction_id=transaction_id)
    # The hot rows last, so their locks are held for the shortest time before commit:
    # the product's sales counter and the (sharded) platform accounts.
    for item in order.items.all():
        Product.objects.filter(pk=item.product_id).update(sold_count=F("sold_count") + item.quantity)
    ledger_post(
        kind="mall.payment",
        idempotency_key=f"mall.payment:{order.no}",
        legs=[(cash, amount_fen), (revenue, -amount_fen)],
        memo=f"order {order.no} paid" + (f" via {order.paid_via} {order.paid_via_ref}" if order.paid_via else ""),
        cause_type="mall.order",
        cause_id=order.no,
    )


def _return_stock(order: Order) -> set[int]:
    product_ids = set()
    for item in order.items.all():
        stock_return(sku_id=item.sku_id, quantity=item.quantity)
        product_ids.add(item.product_id)
    return product_ids


def _close(order: Order, *, kind: str, actor=None) -> Order:
    order_move(order=order, to=S.CLOSED, kind=kind, actor=actor, fields={"closed_at": timezone.now()})
    product_ids = _return_stock(order)
    publish(OrderMoment.CLOSED, order)
    transaction.on_commit(lambda: _invalidate_catalog(product_ids))
    no = order.no
    transaction.on_commit(lambda: order_close_wechat_payment.delay(no))
    return order


@transaction.atomic
def order_cancel(*, user, order_no: str) -> Order:
    """The buyer cancels an unpaid order: it closes and the stock returns."""
    order = order_lock(no=order_no, user=user)
    if order.status != S.PENDING_PAYMENT:
        raise InvalidTransition("Only an unpaid order can be cancelled.", extra={"status": order.status})
    return _close(order, kind="cancelled", actor=user)


@transaction.atomic
def order_close_expired(*, order_no: str) -> Order | None:
    """Close an unpaid order past its payment deadline (the beat job calls this after asking WeChat)."""
    order = order_lock(no=order_no)
    if order.status != S.PENDING_PAYMENT or order.pay_deadline > timezone.now():
        return None
    return _close(order, kind="timed_out")


@transaction.atomic
def order_mark_paid(*, order_no: str, amount_fen: int, transaction_id: str) -> Order:
    """WeChat says the order was paid (signed notification or query). Exactly once per order.

    - pending_payment → paid, with the ledger transaction (platform cash in, sales revenue)
      and the PAID moment for subscribers, all in this transaction.
    - Already closed: the money is recorded and a full refund is started automatically.
    """
    order = order_lock(no=order_no)
    if order.wechat_transaction_id == transaction_id:
        return order  # this payment is already recorded
    if amount_fen != order.total_fen:
        raise InvalidInput(
            "The paid amount differs from the order total.",
            code="amount_mismatch",
            extra={"paid_fen": amount_fen, "total_fen": order.total_fen},
        )
    if order.status == S.PENDING_PAYMENT and not order.paid_via:
        _order_paid(order, amount_fen=amount_fen, transaction_id=transaction_id,
                    data={"transaction_id": transaction_id})
        return order
    cash, revenue = platform_accounts(order_no=order.no)
    if order.status == S.CLOSED and order.paid_fen == 0:
        # Paid after it closed (the shopper paid at the last second, or the close lost a race
        # with WeChat): keep the money on the books and give it all back.
        order.paid_fen = amount_fen
        order.wechat_transaction_id = transaction_id
        order.save(update_fields=["paid_fen", "wechat_transaction_id"])
        order_event(order=order, kind="paid_after_close", data={"transaction_id": transaction_id})
        ledger_post(
            kind="mall.payment",
            idempotency_key=f"mall.payment:{order.no}",
            legs=[(cash, amount_fen), (revenue, -amount_fen)],
            memo=f"order {order.no} paid after it closed",
            cause_type="mall.order",
            cause_id=order.no,
        )
        refund_start_automatic(order=order, amount_fen=amount_fen, reason="paid after the order closed")
        return order
    # A second WeChat transaction for one order cannot happen (out_trade_no is the order
    # number, and WeChat refuses to take it twice); if it ever does, shout, and keep the
    # record for an operator rather than refusing the notification for ever.
    logger.error("order %s paid again (transaction %s) in status %s", order.no, transaction_id, order.status)
    order_event(order=order, kind="paid_twice", data={"transaction_id": transaction_id})
    return order


def _refuse_while_refund_open(order: Order, what: str) -> None:
    if order.status == S.REFUNDING or order_has_open_refund(order):
        raise InvalidTransition(
            f"The order cannot be {what} while a refund is open; review the refund first.",
            extra={"status": order.status, "refund_open": True},
        )


@transaction.atomic
def order_ship(*, operator, order_no: str, carrier: str, tracking_no: str) -> Order:
    """Paid (or partly refunded, not yet shipped) → shipped; never while a refund is open."""
    order = order_lock(no=order_no)
    if order.shipped_at is not None:
        raise InvalidTransition("The order has been shipped already.", extra={"status": order.status})
    _refuse_while_refund_open(order, "shipped")
    if order.status not in SHIPPABLE:
        raise InvalidTransition("Only a paid order can be shipped.", extra={"status": order.status})
    return order_move(
        order=order,
        to=S.SHIPPED,
        kind="shipped",
        actor=operator,
        data={"carrier": carrier, "tracking_no": tracking_no},
        fields={"carrier": carrier, "tracking_no": tracking_no, "shipped_at": timezone.now()},
    )


def _complete(order: Order, *, kind: str, actor=None) -> Order:
    """Shipped (or partly refunded after shipping) → completed; never while a refund is open."""
    _refuse_while_refund_open(order, "completed")
    if order.status not in COMPLETABLE or order.shipped_at is None or order.completed_at is not None:
        raise InvalidTransition("Only a shipped order can be completed.", extra={"status": order.status})
    order_move(order=order, to=S.COMPLETED, kind=kind, actor=actor, fields={"completed_at": timezone.now()})
    publish(OrderMoment.COMPLETED, order)
    return order


@transaction.atomic
def order_confirm_receipt(*, user, order_no: str) -> Order:
    order = order_lock(no=order_no, user=user)
    return _complete(order, kind="receipt_confirmed", actor=user)


@transaction.atomic
def order_complete_overdue(*, order_no: str) -> Order | None:
    """Complete a shipped order automatically MALL_AUTO_COMPLETE_DAYS after shipping. Skipped
    (None) while a refund is open: it completes on the first run after the refund ends."""
    order = order_lock(no=order_no)
    cutoff = timezone.now() - timedelta(days=settings.MALL_AUTO_COMPLETE_DAYS)
    if (
        order.status not in COMPLETABLE or order.shipped_at is None or order.shipped_at > cutoff
        or order.completed_at is not None or order_has_open_refund(order)
    ):
        return None
    return _complete(order, kind="auto_completed")


def order_check_payable(*, order: Order) -> None:
    if order.status != S.PENDING_PAYMENT or order.pay_deadline <= timezone.now():
        raise OrderNotPayable(extra={"status": order.status})
