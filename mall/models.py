"""The mini-mall: catalog, SKUs and stock, orders, refunds, reviews. Money is integer fen.

The status machines (ORDER_TRANSITIONS, REFUND_TRANSITIONS) sit next to their models; every
status change goes through core.transitions.transition with them (mall/services/order_state.py
for orders, refunds.py for refunds), which also writes the OrderEvent row.
"""
from collections.abc import Callable

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.transitions import transitions_check

# WechatPayment.purpose (and ref = order number) of an order's payment.
PAYMENT_PURPOSE = "mall.order"


class Category(models.Model):
    name = models.CharField(max_length=64)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    sort = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    images = models.JSONField(default=list, blank=True, help_text="List of image URLs; the first is the cover.")
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products")
    on_shelf = models.BooleanField(default=False, db_index=True)
    sort = models.IntegerField(default=0)
    # Denormalised counters, moved with F() only.
    sold_count = models.BigIntegerField(default=0)
    review_count = models.IntegerField(default=0)
    rating_sum = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        indexes = [models.Index(fields=["on_shelf", "-sort", "-id"])]
        constraints = [
            models.CheckConstraint(condition=Q(review_count__gte=0), name="product_review_count_non_negative"),
        ]

    def __str__(self) -> str:
        return self.title


class Sku(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="skus")
    name = models.CharField(max_length=64, help_text="The spec, e.g. 500g / red / XL")
    price_fen = models.BigIntegerField()
    stock = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)
    sort = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")
        ordering = ["sort", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(price_fen__gt=0), name="sku_price_positive"),
            models.CheckConstraint(condition=Q(stock__gte=0), name="sku_stock_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}/{self.name}"


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Pending payment"
    PAID = "paid", "Paid"
    SHIPPED = "shipped", "Shipped"
    COMPLETED = "completed", "Completed"
    CLOSED = "closed", "Closed"
    REFUNDING = "refunding", "Refunding"
    REFUNDED = "refunded", "Refunded"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"


_O = OrderStatus
# The order status machine (API.md). `refunding` goes back to where it came from
# (status_before_refund) when a refund is rejected or fails — and only then: the exits
# of `refunding` other than refunded / partially_refunded need an ORDER_REOPEN_KINDS event
# kind (order_transition_allow; taken by refunds.py's reject and fail alone); shipping and
# completing refuse an order with an open refund. `refunded` is reachable from every paid
# status: refunds that add up to what was paid end the order there, whatever it was before
# (a closed order that was paid after it closed stays closed: it never was a sale).
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    _O.PENDING_PAYMENT: frozenset({_O.PAID, _O.CLOSED}),
    _O.PAID: frozenset({_O.SHIPPED, _O.REFUNDING, _O.REFUNDED}),
    _O.SHIPPED: frozenset({_O.COMPLETED, _O.REFUNDING, _O.REFUNDED}),
    _O.COMPLETED: frozenset({_O.REFUNDING, _O.REFUNDED}),
    _O.REFUNDING: frozenset({_O.REFUNDED, _O.PARTIALLY_REFUNDED, _O.PAID, _O.SHIPPED, _O.COMPLETED}),
    # A partly refunded order still ships and completes, and may be refunded again.
    _O.PARTIALLY_REFUNDED: frozenset({_O.REFUNDING, _O.SHIPPED, _O.COMPLETED, _O.REFUNDED}),
    _O.CLOSED: frozenset(),
    _O.REFUNDED: frozenset(),
}
transitions_check(ORDER_TRANSITIONS, OrderStatus)
# The only event kinds that may take an order out of `refunding` to a non-refund status.
ORDER_REOPEN_KINDS = frozenset({"refund_rejected", "refund_failed"})


def order_transition_allow(kind: str) -> Callable[[str, str], bool]:
    """What ORDER_TRANSITIONS cannot say (the `allow` rule of core.transitions.transition):
    an order leaves `refunding` for anything but refunded / partially_refunded only with
    an ORDER_REOPEN_KINDS event kind."""

    def allow(prev: str, to: str) -> bool:
        return (
            prev != _O.REFUNDING or to in (_O.REFUNDED, _O.PARTIALLY_REFUNDED) or kind in ORDER_REOPEN_KINDS
        )

    return allow


class Order(models.Model):
    no = models.CharField(max_length=24, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=24, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT)
    # The status an order in `refunding` returns to when its refunds end without refunding it all.
    status_before_refund = models.CharField(max_length=24, blank=True, default="")
    total_fen = models.BigIntegerField()
    paid_fen = models.BigIntegerField(default=0)
    refunded_fen = models.BigIntegerField(default=0)
    address = models.JSONField()
    buyer_note = models.CharField(max_length=200, blank=True, default="")
    share_code = models.CharField(max_length=32, blank=True, default="", db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True, help_text="Where the order was placed from")
    attribution = models.JSONField(
        default=dict, blank=True, help_text="Snapshot of the distributor(s) credited, filled by the distribution app."
    )
    carrier = models.CharField(max_length=32, blank=True, default="")
    tracking_no = models.CharField(max_length=64, blank=True, default="")
    wechat_transaction_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # Who paid, when it was not the buyer's own WeChat payment: the purpose of the payer
    # (e.g. "campaigns.crowdfund", whose escrow paid the order) and its id. "" = WeChat Pay
    # by the buyer (out_trade_no = the order number). Refunds of such an order go back
    # through the payer's refund sender (mall.hooks.register_refund_sender).
    paid_via = models.CharField(max_length=48, blank=True, default="")
    paid_via_ref = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    pay_deadline = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["status", "pay_deadline"]),
            models.Index(fields=["status", "shipped_at"]),
            models.Index(fields=["paid_at"], name="mall_order_paid_at_idx"),  # reports: GMV by period
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total_fen__gt=0), name="order_total_positive"),
            models.CheckConstraint(condition=Q(paid_fen__gte=0), name="order_paid_non_negative"),
            models.CheckConstraint(
                condition=Q(refunded_fen__gte=0) & Q(refunded_fen__lte=F("paid_fen")),
                name="order_refunded_within_paid",
            ),
        ]

    def __str__(self) -> str:
        return self.no


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=120)
    sku_name = models.CharField(max_length=64)
    image = models.CharField(max_length=512, blank=True, default="")
    price_fen = models.BigIntegerField()
    quantity = models.IntegerField()
    amount_fen = models.BigIntegerField()

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_item_quantity_positive"),
            models.CheckConstraint(condition=Q(amount_fen=F("price_fen") * F("quantity")), name="order_item_amount"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.title} x{self.quantity}"


class OrderEvent(models.Model):
    """One row per status change (and other notable moments) of an order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=24, blank=True, default="")
    to_status = models.CharField(max_length=24, blank=True, default="")
    kind = models.CharField(max_length=32)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("order event")
        verbose_name_plural = _("order events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {self.from_status}→{self.to_status}"


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved, sent to WeChat"
    SUCCEEDED = "succeeded", "Refunded"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed at WeChat"


# A refund is open until WeChat's final word (or the operator's rejection): while one is
# open the order neither ships nor completes, and no other refund may be asked for.
OPEN_REFUND_STATUSES = (RefundStatus.REQUESTED, RefundStatus.APPROVED)

_R = RefundStatus
# The refund status machine. A refund starts `requested` (the buyer or an operator asks) or,
# when the platform owes it without a review (paid after the order closed), `approved`. An
# operator approves or rejects a requested refund; WeChat's final word ends an approved one.
# Rejected, succeeded and failed are final (a failed refund is asked for again as a new one).
REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    _R.REQUESTED: frozenset({_R.APPROVED, _R.REJECTED}),
    _R.APPROVED: frozenset({_R.SUCCEEDED, _R.FAILED}),
    _R.SUCCEEDED: frozenset(),
    _R.REJECTED: frozenset(),
    _R.FAILED: frozenset(),
}
transitions_check(REFUND_TRANSITIONS, RefundStatus)


class Refund(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    no = models.CharField(max_length=32, unique=True, help_text="out_refund_no sent to WeChat")
    amount_fen = models.BigIntegerField()
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=RefundStatus.choices, default=RefundStatus.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_note = models.CharField(max_length=200, blank=True, default="")
    wechat_refund_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_amount_positive"),
            # The last line behind refund_request's check: one open refund per order.
            models.UniqueConstraint(
                fields=["order"], condition=Q(status__in=["requested", "approved"]), name="refund_one_open_per_order"
            ),
        ]

    def __str__(self) -> str:
        return self.no


class Review(models.Model):
    """Only a buyer of a completed order may review, once per order line."""

    order_item = models.OneToOneField(OrderItem, on_delete=models.PROTECT, related_name="review")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="reviews")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    rating = models.PositiveSmallIntegerField()
    text = models.TextField(max_length=2000, blank=True, default="")
    images = models.JSONField(default=list, blank=True)
    is_hidden = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        indexes = [models.Index(fields=["product", "is_hidden", "-created_at"])]
        constraints = [models.CheckConstraint(condition=Q(rating__gte=1) & Q(rating__lte=5), name="review_rating_1_5")]

    def __str__(self) -> str:
        return f"{self.product_id} ★{self.rating}"


class MallSettings(models.Model):
    """The operator's mall settings: one row (pk=1), edited at /api/v1/ops/settings/mall/."""

    refund_window_days = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Days after completion a buyer may still ask for a refund. Empty: the commission freeze "
                  "period plus 7 days. Operators can refund by hand at any time.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("mall settings")
        verbose_name_plural = _("mall settings")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="mall_settings_singleton"),
            models.CheckConstraint(
                condition=Q(refund_window_days__isnull=True) | Q(refund_window_days__lte=3650),
                name="mall_refund_window_days_max",
            ),
        ]

    def __str__(self) -> str:
        return "mall settings"
