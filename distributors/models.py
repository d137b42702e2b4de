"""The distribution network: settings, distributors and their recruiter tree, tiers,
share links, clicks (daily aggregates), customer bindings (锁粉)."""
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.transitions import transitions_check


class RecruitmentMode(models.TextChoices):
    OPEN = "open", "Anyone may become a distributor"
    APPLICATION = "application", "By application and operator review"
    PURCHASE = "purchase", "Automatically after paying at least a threshold in completed orders"


class BindingMode(models.TextChoices):
    PERMANENT = "permanent", "Permanent: the first distributor keeps the customer"
    DAYS = "days", "For N days, then the next click binds anew"
    LAST_CLICK = "last_click", "Last click wins (after the protection period)"


class DistributionSettings(models.Model):
    """The operator's distribution settings: one row (pk=1)."""

    recruitment_mode = models.CharField(max_length=16, choices=RecruitmentMode.choices,
                                        default=RecruitmentMode.APPLICATION)
    recruitment_threshold_fen = models.BigIntegerField(default=0)
    binding_mode = models.CharField(max_length=16, choices=BindingMode.choices, default=BindingMode.DAYS)
    binding_days = models.PositiveIntegerField(default=30)
    protection_days = models.PositiveIntegerField(default=7, help_text="No takeover within this many days")
    levels = models.PositiveSmallIntegerField(default=2)
    self_purchase_commission = models.BooleanField(default=False)
    # Commission and withdrawal defaults (read by the commissions app).
    default_level1_bps = models.PositiveIntegerField(default=1000)
    default_level2_bps = models.PositiveIntegerField(default=500)
    freeze_days = models.PositiveIntegerField(default=7)
    withdrawal_min_fen = models.BigIntegerField(default=100)
    withdrawal_fee_bps = models.PositiveIntegerField(default=0)
    withdrawal_min_fee_fen = models.BigIntegerField(default=0)
    withdrawal_daily_count = models.PositiveIntegerField(default=3)
    withdrawal_daily_amount_fen = models.BigIntegerField(default=5_000_000)
    transfer_max_fen = models.BigIntegerField(default=2_000_000, help_text="Largest single WeChat transfer")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("distribution settings")
        verbose_name_plural = _("distribution settings")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="distribution_settings_singleton"),
            models.CheckConstraint(condition=Q(levels__in=[1, 2]), name="distribution_levels_1_or_2"),
            models.CheckConstraint(
                condition=Q(default_level1_bps__lte=10000 - F("default_level2_bps")),
                name="distribution_default_rates_within_100pct",
            ),
        ]

    def __str__(self) -> str:
        return "distribution settings"


class Tier(models.Model):
    name = models.CharField(max_length=32, unique=True)
    rank = models.PositiveIntegerField(unique=True, help_text="Higher is better; rank 0 is the entry tier")
    level1_bps = models.PositiveIntegerField(null=True, blank=True, help_text="Overrides the default")
    level2_bps = models.PositiveIntegerField(null=True, blank=True, help_text="Overrides the default")
    # Upgrade conditions (0 = not required); `match` says whether all or any must hold.
    min_own_gmv_fen = models.BigIntegerField(default=0)
    min_team_gmv_fen = models.BigIntegerField(default=0)
    min_order_count = models.PositiveIntegerField(default=0)
    min_invited_count = models.PositiveIntegerField(default=0)
    match = models.CharField(max_length=3, choices=[("all", "all"), ("any", "any")], default="all")

    class Meta:
        verbose_name = _("distributor tier")
        verbose_name_plural = _("distributor tiers")
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class DistributorStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    FROZEN = "frozen", "Frozen"


# pending ──approve──▶ approved ──freeze──▶ frozen ──unfreeze──▶ approved
#    └──reject──▶ rejected ──(apply again)──▶ pending / approved
DISTRIBUTOR_TRANSITIONS: dict[str, frozenset[str]] = {
    DistributorStatus.PENDING: frozenset({DistributorStatus.APPROVED, DistributorStatus.REJECTED}),
    DistributorStatus.APPROVED: frozenset({DistributorStatus.FROZEN}),
    DistributorStatus.FROZEN: frozenset({DistributorStatus.APPROVED}),
    DistributorStatus.REJECTED: frozenset({DistributorStatus.PENDING, DistributorStatus.APPROVED}),
}
transitions_check(DISTRIBUTOR_TRANSITIONS, DistributorStatus)


class Distributor(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="distributor")
    status = models.CharField(max_length=16, choices=DistributorStatus.choices, default=DistributorStatus.PENDING)
    real_name = models.CharField(max_length=32)
    phone = models.CharField(max_length=20)
    invite_code = models.CharField(max_length=12, unique=True)
    inviter = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="invitees")
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="distributors")
    reason = models.CharField(max_length=200, blank=True, default="", help_text="Last rejection or freeze reason")
    applied_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    tier_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("distributor")
        verbose_name_plural = _("distributors")
        indexes = [models.Index(fields=["status", "-applied_at"]), models.Index(fields=["inviter", "status"])]
        constraints = [
            models.CheckConstraint(condition=~Q(inviter=F("pk")), name="distributor_not_own_inviter"),
        ]

    def __str__(self) -> str:
        return f"{self.real_name} ({self.invite_code})"


class DistributorEvent(models.Model):
    """Status changes, tier changes and other notable moments of a distributor."""

    distributor = models.ForeignKey(Distributor, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32)
    from_value = models.CharField(max_length=32, blank=True, default="")
    to_value = models.CharField(max_length=32, blank=True, default="")
    reason = models.CharField(max_length=200, blank=True, default="")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("distributor event")
        verbose_name_plural = _("distributor events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.distributor_id} {self.kind} {self.from_value}→{self.to_value}"


class TargetType(models.TextChoices):
    PRODUCT = "product", "Product"
    CROWDFUND = "crowdfund", "Crowdfund"
    RED_ENVELOPE = "red_envelope", "Red envelope"
    STORE = "store", "Store"
    RECRUIT = "recruit", "Recruitment invite"


class ShareLink(models.Model):
    code = models.CharField(max_length=12, unique=True)
    distributor = models.ForeignKey(Distributor, on_delete=models.PROTECT, related_name="links")
    target_type = models.CharField(max_length=16, choices=TargetType.choices)
    target_id = models.BigIntegerField(default=0, help_text="0 for the store and recruitment links")
    channel = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # Running totals, moved with F() by the counter flush and the order hooks.
    clicks = models.BigIntegerField(default=0)
    unique_visitors = models.BigIntegerField(default=0)
    orders = models.BigIntegerField(default=0)
    gmv_fen = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("share link")
        verbose_name_plural = _("share links")
        indexes = [models.Index(fields=["distributor", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["distributor", "target_type", "target_id", "channel"], name="share_link_one_per_target"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class LinkDailyStat(models.Model):
    """Per link and day: page views, unique visitors, orders, GMV. Updated incrementally."""

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="daily")
    distributor = models.ForeignKey(Distributor, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    clicks = models.BigIntegerField(default=0)
    unique_visitors = models.BigIntegerField(default=0)
    orders = models.BigIntegerField(default=0)
    gmv_fen = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("link daily figures")
        verbose_name_plural = _("link daily figures")
        constraints = [models.UniqueConstraint(fields=["link", "day"], name="link_daily_unique")]
        indexes = [models.Index(fields=["distributor", "day"])]

    def __str__(self) -> str:
        return f"link {self.link_id} {self.day}"


class DistributorDailyStat(models.Model):
    """Per distributor and day: the figures the stats endpoint and leaderboards read."""

    distributor = models.ForeignKey(Distributor, on_delete=models.CASCADE, related_name="daily")
    day = models.DateField()
    clicks = models.BigIntegerField(default=0)
    unique_visitors = models.BigIntegerField(default=0)
    orders = models.BigIntegerField(default=0)
    gmv_fen = models.BigIntegerField(default=0)
    new_customers = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("distributor daily figures")
        verbose_name_plural = _("distributor daily figures")
        constraints = [models.UniqueConstraint(fields=["distributor", "day"], name="distributor_daily_unique")]
        indexes = [models.Index(fields=["day", "distributor"])]

    def __str__(self) -> str:
        return f"distributor {self.distributor_id} {self.day}"


class CustomerBinding(models.Model):
    """锁粉: the customer's current distributor. One row per customer; history in BindingEvent."""

    customer = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="binding")
    distributor = models.ForeignKey(Distributor, on_delete=models.PROTECT, related_name="bindings")
    link = models.ForeignKey(ShareLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=16, help_text="click, scan, order")
    bound_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True, help_text="None: permanent")
    protected_until = models.DateTimeField()

    class Meta:
        verbose_name = _("customer binding")
        verbose_name_plural = _("customer bindings")
        indexes = [models.Index(fields=["distributor", "-bound_at"])]

    def __str__(self) -> str:
        return f"{self.customer_id} → {self.distributor_id}"


class BindingEvent(models.Model):
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    from_distributor = models.ForeignKey(Distributor, null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="+")
    to_distributor = models.ForeignKey(Distributor, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    kind = models.CharField(max_length=16, help_text="bound, rebound, kept, expired")
    link = models.ForeignKey(ShareLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("binding event")
        verbose_name_plural = _("binding events")
        indexes = [models.Index(fields=["customer", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.kind} {self.from_distributor_id}→{self.to_distributor_id}"


class LinkVisitorDay(models.Model):
    """Who visited a link on a day — the database path's unique-visitor check (without Redis).

    One row per (link, day, visitor); inserting a row that is already there is how a repeat
    visit is recognised. Rows older than a few days are purged by the counter flush job."""

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    visitor = models.CharField(max_length=48)

    class Meta:
        verbose_name = _("link visitor of the day")
        verbose_name_plural = _("link visitors of the day")
        constraints = [
            models.UniqueConstraint(fields=["link", "day", "visitor"], name="link_visitor_day_unique"),
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"link {self.link_id} {self.day} {self.visitor}"


class ClickFlushBatch(models.Model):
    """A batch of Redis click counters moved into the daily stats: its unique key, written in
    the same transaction as the counts, makes applying one batch twice impossible."""

    key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("click flush batch")
        verbose_name_plural = _("click flush batches")

    def __str__(self) -> str:
        return self.key


class DistributorCustomerStat(models.Model):
    """Per distributor and paying customer: orders and GMV the distributor brought from them.

    Written by the order hooks (distributors/services/stats.py) with F() only. The first paid
    order creates the row (a *new customer* on that day); `orders >= 2` is a repeat customer.
    A fully refunded order takes its order back; refunds take their amount off `gmv_fen`."""

    distributor = models.ForeignKey(Distributor, on_delete=models.CASCADE, related_name="customer_stats")
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    orders = models.BigIntegerField(default=0)
    gmv_fen = models.BigIntegerField(default=0)
    first_paid_at = models.DateTimeField()
    last_paid_at = models.DateTimeField()

    class Meta:
        verbose_name = _("distributor customer figures")
        verbose_name_plural = _("distributor customer figures")
        constraints = [
            models.UniqueConstraint(fields=["distributor", "customer"], name="distributor_customer_stat_unique"),
        ]
        indexes = [models.Index(fields=["distributor", "orders"], name="dist_customer_stat_orders")]

    def __str__(self) -> str:
        return f"distributor {self.distributor_id} customer {self.customer_id}: {self.orders}"


class DistributorCustomerTotals(models.Model):
    """Per distributor: how many customers have a counted paid order it brought (`customers`,
    DistributorCustomerStat.orders >= 1) and how many have two or more (`repeat_customers`).
    Moved by the order hooks with F() when a customer's count crosses 1 or 2, so the stats
    read one row instead of counting the customers."""

    distributor = models.OneToOneField(Distributor, primary_key=True, on_delete=models.CASCADE,
                                       related_name="customer_totals")
    customers = models.BigIntegerField(default=0)
    repeat_customers = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("distributor customer totals")
        verbose_name_plural = _("distributor customer totals")

    def __str__(self) -> str:
        return f"distributor {self.distributor_id}: {self.customers} customers, {self.repeat_customers} repeat"
