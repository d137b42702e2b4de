"""Commissions: rate rules, and one commission per paid order line and level.

Statuses (API.md): pending (order paid) → frozen (order completed, waiting out the freeze
period) → settled (withdrawable); any of them → reversed when refunds take it all back
(`reversed_fen` records partial reversals). Money: accrual moves commission expense into
the beneficiary's frozen account; every reversal moves it back.
"""
from django.conf import settings
from django.db import models
from django.db.models import F, Q


class RuleScope(models.TextChoices):
    SKU = "sku", "SKU"
    PRODUCT = "product", "Product"
    TIER = "tier", "Distributor tier"


class CommissionRule(models.Model):
    """A rate override. Resolution: SKU rule > product rule > the distributor's tier > the default."""

    scope = models.CharField(max_length=8, choices=RuleScope.choices)
    sku = models.ForeignKey("mall.Sku", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("mall.Product", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    tier = models.ForeignKey("distributors.Tier", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Either basis points of the base, or a fixed amount per unit, per level (null = not set here).
    level1_bps = models.PositiveIntegerField(null=True, blank=True)
    level2_bps = models.PositiveIntegerField(null=True, blank=True)
    level1_fixed_fen = models.BigIntegerField(null=True, blank=True, help_text="Per unit bought")
    level2_fixed_fen = models.BigIntegerField(null=True, blank=True, help_text="Per unit bought")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(scope="sku", sku__isnull=False, product__isnull=True, tier__isnull=True)
                           | Q(scope="product", product__isnull=False, sku__isnull=True, tier__isnull=True)
                           | Q(scope="tier", tier__isnull=False, sku__isnull=True, product__isnull=True)),
                name="commission_rule_one_target",
            ),
            models.CheckConstraint(condition=Q(level1_bps__lte=10000) | Q(level1_bps__isnull=True),
                                   name="commission_rule_l1_bps_max"),
            models.CheckConstraint(condition=Q(level2_bps__lte=10000) | Q(level2_bps__isnull=True),
                                   name="commission_rule_l2_bps_max"),
            models.CheckConstraint(condition=Q(level1_fixed_fen__gte=0) | Q(level1_fixed_fen__isnull=True),
                                   name="commission_rule_l1_fixed_non_negative"),
            models.CheckConstraint(condition=Q(level2_fixed_fen__gte=0) | Q(level2_fixed_fen__isnull=True),
                                   name="commission_rule_l2_fixed_non_negative"),
            models.UniqueConstraint(fields=["sku"], condition=Q(is_active=True, scope="sku"),
                                    name="commission_rule_one_active_per_sku"),
            models.UniqueConstraint(fields=["product"], condition=Q(is_active=True, scope="product"),
                                    name="commission_rule_one_active_per_product"),
            models.UniqueConstraint(fields=["tier"], condition=Q(is_active=True, scope="tier"),
                                    name="commission_rule_one_active_per_tier"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} rule #{self.pk}"


class CommissionStatus(models.TextChoices):
    PENDING = "pending", "Pending (order paid)"
    FROZEN = "frozen", "Frozen (order completed, in the freeze period)"
    SETTLED = "settled", "Settled (withdrawable)"
    REVERSED = "reversed", "Reversed (refunded)"


class Commission(models.Model):
    order = models.ForeignKey("mall.Order", on_delete=models.PROTECT, related_name="+")
    order_item = models.ForeignKey("mall.OrderItem", on_delete=models.PROTECT, related_name="+")
    level = models.PositiveSmallIntegerField()
    distributor = models.ForeignKey("distributors.Distributor", on_delete=models.PROTECT, related_name="commissions")
    beneficiary = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="commissions")
    base_fen = models.BigIntegerField(help_text="What the buyer paid for the line")
    rate_bps = models.PositiveIntegerField(null=True, blank=True)
    fixed_fen = models.BigIntegerField(null=True, blank=True, help_text="Per unit, when the rule is fixed")
    rule_source = models.CharField(max_length=16, help_text="sku, product, tier or default")
    amount_fen = models.BigIntegerField()
    reversed_fen = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=CommissionStatus.choices, default=CommissionStatus.PENDING)
    settles_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order_item", "level"], name="commission_one_per_line_and_level"),
            models.CheckConstraint(condition=Q(level__in=[1, 2]), name="commission_level_1_or_2"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="commission_amount_positive"),
            models.CheckConstraint(condition=Q(amount_fen__lte=F("base_fen")), name="commission_within_base"),
            models.CheckConstraint(
                condition=Q(reversed_fen__gte=0) & Q(reversed_fen__lte=F("amount_fen")),
                name="commission_reversed_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["beneficiary", "status", "-created_at"]),
            models.Index(fields=["status", "settles_at"]),
            models.Index(fields=["order"]),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.order_item_id} L{self.level} {self.amount_fen} ({self.status})"
