"""Reads for reviews."""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound

from ..models import Review


def review_list_visible(*, product_id: int) -> QuerySet[Review]:
    """A product's visible reviews, newest first, with the reviewer and the order line (for the SKU name)."""
    return (
        Review.objects.filter(product_id=product_id, is_hidden=False)
        .select_related("user", "order_item")
        .order_by("-created_at", "-id")
    )


def review_list_ops(*, product_id: int | None = None, is_hidden: bool | None = None) -> QuerySet[Review]:
    qs = Review.objects.select_related("user", "order_item", "product").order_by("-created_at", "-id")
    if product_id is not None:
        qs = qs.filter(product_id=product_id)
    if is_hidden is not None:
        qs = qs.filter(is_hidden=is_hidden)
    return qs


def review_get(*, review_id: int) -> Review:
    review = Review.objects.select_related("user", "order_item").filter(pk=review_id).first()
    if review is None:
        raise NotFound("No such review.")
    return review
