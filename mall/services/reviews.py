"""Writes for reviews: buyers review what they bought; operators hide and unhide.

Who may review: the buyer of an order line, once per line, when the order is `completed`,
or `partially_refunded` after it had been completed (the buyer kept the goods). Orders that
are unpaid, paid, shipped, closed, refunding or fully refunded may not review (409
`order_not_completed`). Another user's order line is 404, as if it did not exist.

Product.review_count and Product.rating_sum count visible reviews only; they move with F()
in the same transaction as the review row, so the cached average never drifts.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import F

from core.errors import Conflict, InvalidInput, NotFound

from ..cache import catalog_invalidate
from ..models import OrderItem, OrderStatus, Product, Review
from .catalog import validate_image_urls

TEXT_MAX = 2000


class AlreadyReviewed(Conflict):
    code = "already_reviewed"
    default_message = "This order line has already been reviewed."


class OrderNotCompleted(Conflict):
    code = "order_not_completed"
    default_message = "Only a completed order can be reviewed."


def order_item_reviewable(*, item: OrderItem) -> bool:
    order = item.order
    if order.status == OrderStatus.COMPLETED:
        return True
    return order.status == OrderStatus.PARTIALLY_REFUNDED and order.completed_at is not None


def review_create(
    *, user, product_id: int, order_item_id: int, rating: int, text: str = "", images: Iterable[str] = ()
) -> Review:
    """The buyer of `order_item_id` reviews its product. 409 `already_reviewed` the second time
    (also when two requests race: the one-to-one on order_item decides)."""
    if type(rating) is not int or not 1 <= rating <= 5:
        raise InvalidInput("rating is an integer from 1 to 5.", extra={"fields": {"rating": ["1 to 5"]}})
    if not isinstance(text, str) or len(text) > TEXT_MAX:
        raise InvalidInput(
            f"text is at most {TEXT_MAX} characters.", extra={"fields": {"text": [f"at most {TEXT_MAX}"]}}
        )
    clean_images = validate_image_urls(list(images))
    if type(order_item_id) is not int or type(product_id) is not int:
        raise NotFound("No such order line.")
    if not Product.objects.filter(pk=product_id).exists():
        raise NotFound("No such product.")
    item = OrderItem.objects.select_related("order").filter(pk=order_item_id, order__user_id=user.pk).first()
    if item is None:
        raise NotFound("No such order line.")
    if item.product_id != product_id:
        raise InvalidInput(
            "This order line is not for this product.",
            extra={"fields": {"order_item_id": ["not an order line of this product"]}},
        )
    if not order_item_reviewable(item=item):
        raise OrderNotCompleted(extra={"status": item.order.status})
    if Review.objects.filter(order_item_id=item.pk).exists():
        raise AlreadyReviewed()
    try:
        with transaction.atomic():
            review = Review.objects.create(
                order_item=item, product_id=product_id, user_id=user.pk, rating=rating, text=text, images=clean_images
            )
            Product.objects.filter(pk=product_id).update(
                review_count=F("review_count") + 1, rating_sum=F("rating_sum") + rating
            )
    except IntegrityError:  # a concurrent request reviewed this line first
        raise AlreadyReviewed()
    catalog_invalidate(product_id=product_id)
    return review


def _set_hidden(*, review_id: int, hidden: bool) -> tuple[Review, bool]:
    if type(review_id) is not int:
        raise NotFound("No such review.")
    with transaction.atomic():
        # Only the request that flips the flag moves the counters: the conditional UPDATE decides.
        flipped = Review.objects.filter(pk=review_id, is_hidden=not hidden).update(is_hidden=hidden)
        review = Review.objects.filter(pk=review_id).first()
        if review is None:
            raise NotFound("No such review.")
        if flipped:
            sign = -1 if hidden else 1
            Product.objects.filter(pk=review.product_id).update(
                review_count=F("review_count") + sign, rating_sum=F("rating_sum") + sign * review.rating
            )
    if flipped:
        catalog_invalidate(product_id=review.product_id)
    return review, bool(flipped)


def review_hide(*, review_id: int) -> Review:
    """Hide a review from the product page (and take it out of the counts). Hiding a hidden review is a no-op."""
    return _set_hidden(review_id=review_id, hidden=True)[0]


def review_unhide(*, review_id: int) -> Review:
    """Show a hidden review again (and count it again). Unhiding a visible review is a no-op."""
    return _set_hidden(review_id=review_id, hidden=False)[0]


def review_set_hidden_many(*, review_ids: Iterable[int], hidden: bool) -> int:
    """Admin bulk action: hide or unhide many; returns how many changed."""
    return sum(_set_hidden(review_id=int(review_id), hidden=hidden)[1] for review_id in review_ids)
