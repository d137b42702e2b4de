"""Reads about what a user has bought (purchase-mode recruitment looks at it)."""
from __future__ import annotations

from django.db.models import Sum

from mall.models import Order, OrderStatus


def user_completed_purchases_fen(*, user) -> int:
    """What the user paid for completed orders, less what was refunded."""
    totals = Order.objects.filter(user=user, completed_at__isnull=False).exclude(status=OrderStatus.REFUNDED).aggregate(
        paid=Sum("paid_fen"), refunded=Sum("refunded_fen")
    )
    return (totals["paid"] or 0) - (totals["refunded"] or 0)
