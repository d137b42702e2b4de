"""Automatic completion of shipped orders."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ..models import Order, OrderStatus
from .orders import order_complete_overdue

BATCH = 500


def orders_complete_overdue() -> dict:
    """Complete orders shipped more than MALL_AUTO_COMPLETE_DAYS ago.

    The candidates come from one indexed query; each completion then runs the COMPLETED
    moment for subscribers (commissions start their freeze), in its own short transaction,
    so one bad order cannot hold back the rest. A partly refunded shipped order completes
    too; an order with an open refund is `refunding` and is not a candidate (and
    order_complete_overdue checks for open refunds again under the order's lock)."""
    cutoff = timezone.now() - timedelta(days=settings.MALL_AUTO_COMPLETE_DAYS)
    nos = list(
        Order.objects.filter(
            status__in=(OrderStatus.SHIPPED, OrderStatus.PARTIALLY_REFUNDED),
            shipped_at__lte=cutoff,
            completed_at__isnull=True,
        )
        .order_by("shipped_at")
        .values_list("no", flat=True)[:BATCH]
    )
    completed = sum(1 for no in nos if order_complete_overdue(order_no=no) is not None)
    return {"candidates": len(nos), "completed": completed}
