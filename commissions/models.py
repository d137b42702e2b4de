"""Commissions: rate rules, and one commission per paid order line and level.

Statuses (API.md): pending (order paid) → frozen (order completed, waiting out the freeze
period) → settled (withdrawable); any of them → reversed when refunds take it all back
(`reversed_fen` records partial reversals). Money: accrual moves commission expense into
the beneficiary's frozen account; every reversal moves it back.
"""
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.money import yuan
from core.transitions import transitions_check


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
        verbose_name = _("commission rule")
        verbose_name_plural = _("commission rules")
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


# A commission's life (set-based: core.transitions.transition_set; its history is the ledger).
COMMISSION_TRANSITIONS: dict[str, frozenset[str]] = {
    CommissionStatus.PENDING: frozenset({CommissionStatus.FROZEN, CommissionStatus.REVERSED}),
    CommissionStatus.FROZEN: frozenset({CommissionStatus.SETTLED, CommissionStatus.REVERSED}),
    CommissionStatus.SETTLED: frozenset({CommissionStatus.REVERSED}),
    CommissionStatus.REVERSED: frozenset(),
}
transitions_check(COMMISSION_TRANSITIONS, CommissionStatus)


class Commission(models.Model):
    order = models.ForeignKey("mall.Order", on_delete=models.PROTECT, related_name="+")
    # No single-column indexes where a composite one starts with the column: (order_item, level)
    # is unique and (beneficiary, status, -created_at) is indexed; every index costs settlement.
    order_item = models.ForeignKey("mall.OrderItem", on_delete=models.PROTECT, related_name="+", db_index=False)
    level = models.PositiveSmallIntegerField()
    distributor = models.ForeignKey("distributors.Distributor", on_delete=models.PROTECT, related_name="commissions")
    beneficiary = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="commissions",
                                    db_index=False)
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
        verbose_name = _("commission")
        verbose_name_plural = _("commissions")
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
        ]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.order_item_id} L{self.level} ¥{yuan(self.amount_fen)} ({self.status})"


class WithdrawalStatus(models.TextChoices):
    REQUESTED = "requested", "Requested (in review)"
    APPROVED = "approved", "Approved (payout queued)"
    PAYING = "paying", "Paying (transfer to WeChat balance under way)"
    CONFIRMING = "confirming", "Waiting for the user's confirmation (merchant transfer bill sent)"
    PAID = "paid", "Paid"
    REJECTED = "rejected", "Rejected (money back in the wallet)"
    FAILED = "failed", "Failed (WeChat refused the transfer, or it was not taken in time; money back in the wallet)"
    CANCELLED = "cancelled", "Cancelled (the operator cancelled the transfer before the user confirmed; money back)"


WITHDRAWAL_TRANSITIONS: dict[str, frozenset[str]] = {
    WithdrawalStatus.REQUESTED: frozenset({WithdrawalStatus.APPROVED, WithdrawalStatus.REJECTED}),
    WithdrawalStatus.APPROVED: frozenset({WithdrawalStatus.PAYING, WithdrawalStatus.FAILED}),
    WithdrawalStatus.PAYING: frozenset({WithdrawalStatus.PAID, WithdrawalStatus.FAILED, WithdrawalStatus.CONFIRMING,
                                        WithdrawalStatus.CANCELLED}),
    WithdrawalStatus.CONFIRMING: frozenset({WithdrawalStatus.PAID, WithdrawalStatus.FAILED,
                                            WithdrawalStatus.CANCELLED}),
    WithdrawalStatus.PAID: frozenset(),
    WithdrawalStatus.REJECTED: frozenset(),
    WithdrawalStatus.FAILED: frozenset(),
    WithdrawalStatus.CANCELLED: frozenset(),
}
transitions_check(WITHDRAWAL_TRANSITIONS, WithdrawalStatus)
WITHDRAWAL_OPEN = frozenset({WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED, WithdrawalStatus.PAYING,
                             WithdrawalStatus.CONFIRMING})


class Withdrawal(models.Model):
    """A distributor takes money out of the wallet (提现) to their WeChat balance.

    Money: on request the whole amount moves wallet → withdrawing; a rejection moves it back;
    when the payout starts, withdrawing → payouts in transit (the net) + fee income (the fee);
    a paid transfer moves the net out of the system (wechat_external); a failed one puts the
    net and the fee back into the wallet."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawals")
    distributor = models.ForeignKey("distributors.Distributor", on_delete=models.PROTECT, related_name="withdrawals")
    amount_fen = models.BigIntegerField(help_text="Taken from the wallet")
    fee_fen = models.BigIntegerField(default=0)
    net_fen = models.BigIntegerField(help_text="Transferred to WeChat balance: amount − fee")
    status = models.CharField(max_length=16, choices=WithdrawalStatus.choices, default=WithdrawalStatus.REQUESTED)
    transfer_no = models.CharField(max_length=32, unique=True, help_text="partner_trade_no of the WeChat transfer")
    openid = models.CharField(max_length=64, help_text="Who is paid (the requester's openid at request time)")
    reason = models.CharField(max_length=200, blank=True, default="", help_text="Rejection or failure reason")
    request_ip = models.GenericIPAddressField(null=True, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    paying_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("withdrawal")
        verbose_name_plural = _("withdrawals")
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="withdrawal_amount_positive"),
            models.CheckConstraint(condition=Q(fee_fen__gte=0), name="withdrawal_fee_non_negative"),
            models.CheckConstraint(condition=Q(net_fen__gt=0), name="withdrawal_net_positive"),
            models.CheckConstraint(condition=Q(amount_fen=F("fee_fen") + F("net_fen")),
                                   name="withdrawal_amount_is_fee_plus_net"),
        ]
        indexes = [
            models.Index(fields=["status", "requested_at"]),
            models.Index(fields=["user", "-requested_at"]),
        ]
        permissions = [("review_withdrawal", "Can approve and reject withdrawals")]

    def __str__(self) -> str:
        return f"withdrawal #{self.pk} ¥{yuan(self.amount_fen)} ({self.status})"


class WithdrawalEvent(models.Model):
    """Who moved a withdrawal from what to what, when, and why (the review trail)."""

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    reason = models.CharField(max_length=200, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("withdrawal event")
        verbose_name_plural = _("withdrawal events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"withdrawal {self.withdrawal_id} {self.from_status}→{self.to_status}"


class NotificationStatus(models.TextChoices):
    SENDING = "sending", "Sending (claimed; never sent again if the worker died here)"
    RETRYING = "retrying", "Retrying (WeChat timed out; the same task tries again)"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (WeChat refused, e.g. 43004 not following, or timed out too often)"
    SKIPPED = "skipped", "Skipped (no template id configured, or the user has no openid)"


class Notification(models.Model):
    """One template message to one user about one thing (commissions/notifications.py).

    `key` ("withdrawal_paid:42", "commission_accrued:<order_id>:<user_id>", …) is unique: the
    row is claimed before WeChat is called, so a retried task or a duplicate event never
    messages the user twice."""

    key = models.CharField(max_length=96, unique=True)
    kind = models.CharField(max_length=32)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.SENDING)
    template_id = models.CharField(max_length=128, blank=True, default="")
    openid = models.CharField(max_length=64, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    url = models.CharField(max_length=1024, blank=True, default="")
    msgid = models.BigIntegerField(null=True, blank=True, help_text="WeChat's msgid when sent")
    attempts = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True, default="", help_text="e.g. 43004, wechat_timeout")
    error = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("template message")
        verbose_name_plural = _("template messages")
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"
