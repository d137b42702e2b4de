"""Reads of orders and refunds. Lists load items once per page (prefetch), never per row."""
from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from core.errors import NotFound

from ..models import OPEN_REFUND_STATUSES, Order, OrderItem, Refund


def _orders() -> QuerySet[Order]:
    return Order.objects.prefetch_related(Prefetch("items", queryset=OrderItem.objects.order_by("pk")))


def order_list_for_user(*, user, status: str | None = None) -> QuerySet[Order]:
    qs = _orders().filter(user=user)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def order_get_for_user(*, user, no: str) -> Order:
    """The user's order; another user's order is 404 as well."""
    order = _orders().filter(user=user, no=no).first()
    if order is None:
        raise NotFound("Order not found.")
    return order


def order_list(*, status: str | None = None, user_id: int | None = None) -> QuerySet[Order]:
    qs = _orders().select_related("user")
    if status:
        qs = qs.filter(status=status)
    if user_id:
        qs = qs.filter(user_id=user_id)
    return qs.order_by("-created_at", "-pk")


def order_get(*, no: str) -> Order:
    order = _orders().select_related("user").filter(no=no).first()
    if order is None:
        raise NotFound("Order not found.")
    return order


def refund_list(*, status: str | None = None) -> QuerySet[Refund]:
    qs = Refund.objects.select_related("order", "requested_by", "reviewed_by")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def refund_list_for_order(*, order: Order) -> QuerySet[Refund]:
    return Refund.objects.filter(order=order).order_by("-created_at", "-pk")


def order_has_open_refund(order: Order) -> bool:
    """Whether a refund of the order is open (requested, or approved and not yet final at WeChat)."""
    return Refund.objects.filter(order=order, status__in=OPEN_REFUND_STATUSES).exists()
