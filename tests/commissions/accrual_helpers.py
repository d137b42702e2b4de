"""Orders with an attribution written straight on the row, paid through the real service; and a
way to make their commissions ripe for settlement. For the accrual, settlement and report tests."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from commissions.models import Commission
from mall.models import Order
from mall.services.orders import order_create, order_mark_paid
from tests.mall.orders_helpers import ADDRESS


def attributed_order(buyer, items, *, level1=None, level2=None):
    order = order_create(user=buyer, items=[{"sku_id": s.pk, "quantity": q} for s, q in items], address=ADDRESS)
    Order.objects.filter(pk=order.pk).update(attribution={
        "source": "share_code", "distributor_id": level1.pk if level1 else None,
        "level1_distributor_id": level1.pk if level1 else None,
        "level2_distributor_id": level2.pk if level2 else None, "self_referral": False,
    })
    return Order.objects.get(pk=order.pk)


def pay(order, txn="4200000000000000000000000001"):
    return order_mark_paid(order_no=order.no, amount_fen=order.total_fen, transaction_id=txn)


def matured(order):
    Commission.objects.filter(order=order).update(status="frozen", settles_at=timezone.now() - timedelta(minutes=1))
