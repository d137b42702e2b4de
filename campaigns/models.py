"""Campaigns: friend-crowdfunded purchases (好友众筹). Money is integer fen.

A crowdfund holds its item's stock from the moment it starts; friends' contributions first
*reserve* room on it (one conditional UPDATE: raised + reserved + amount ≤ goal), then are
paid by WeChat (purpose CROWDFUND_PURPOSE, out_trade_no = the contribution's number); paid
money sits in the crowdfund's escrow account until the crowdfund is funded (the order is
created, paid from the escrow) or ends otherwise (every paid contribution refunded by a
WeChat refund of its own payment). docs/campaigns.md tells the whole story.

The status machines (CROWDFUND_TRANSITIONS, CONTRIBUTION_TRANSITIONS,
CAMPAIGN_REFUND_TRANSITIONS) sit next to their models; every move goes through
core.transitions.transition and writes a CrowdfundEvent.
"""
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.money import yuan
from core.transitions import transitions_check

# WechatPayment.purpose of a contribution's payment, and Order.paid_via of a funded order.
CROWDFUND_PURPOSE = "campaigns.crowdfund"
MAX_MESSAGE_CHARS = 60


def escrow_ref(*, crowdfund_id: int) -> str:
    """The `ref` of a crowdfund's escrow account in the ledger (code "<ref>:campaign_escrow")."""
    return f"crowdfund{crowdfund_id}"


class CrowdfundSettings(models.Model):
    """The operator's crowdfund settings: one row (pk=1), edited at /api/v1/ops/settings/crowdfunds/."""

    enabled = models.BooleanField(default=True, help_text="Crowdfunding on for the whole shop")
    default_duration_hours = models.PositiveIntegerField(default=24)
    max_duration_hours = models.PositiveIntegerField(default=7 * 24)
    min_contribution_fen = models.PositiveBigIntegerField(default=100)
    pay_window_minutes = models.PositiveIntegerField(
        default=10, help_text="How long a contribution's reservation waits for its payment")
    min_goal_fen = models.PositiveBigIntegerField(default=0, help_text="The smallest crowdfund goal (0: any)")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("crowdfund settings")
        verbose_name_plural = _("crowdfund settings")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="crowdfund_settings_singleton"),
            models.CheckConstraint(condition=Q(default_duration_hours__gte=1)
                                   & Q(default_duration_hours__lte=F("max_duration_hours")),
                                   name="crowdfund_settings_default_within_max"),
            models.CheckConstraint(condition=Q(max_duration_hours__lte=7 * 24), name="crowdfund_settings_max_7_days"),
            models.CheckConstraint(condition=Q(min_contribution_fen__gte=1), name="crowdfund_settings_min_positive"),
            models.CheckConstraint(condition=Q(pay_window_minutes__gte=1) & Q(pay_window_minutes__lte=120),
                                   name="crowdfund_settings_pay_window"),
        ]

    def __str__(self) -> str:
        return "crowdfund settings"


class CrowdfundProductRule(models.Model):
    """Per product: crowdfunding off, or a minimum price (goal) for it."""

    product = models.OneToOneField("mall.Product", on_delete=models.CASCADE, related_name="crowdfund_rule")
    enabled = models.BooleanField(default=True)
    min_goal_fen = models.PositiveBigIntegerField(
        default=0, help_text="A crowdfund of this product needs at least this goal")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("product crowdfund rule")
        verbose_name_plural = _("product crowdfund rules")

    def __str__(self) -> str:
        return f"crowdfund rule for product {self.product_id}"


class CrowdfundStatus(models.TextChoices):
    OPEN = "open", "Open (friends chip in)"
    FUNDED = "funded", "Funded (the goal is reached)"
    ORDERED = "ordered", "Ordered (the order is placed and paid)"
    EXPIRED = "expired", "Expired (deadline passed; contributions being refunded)"
    CANCELLED = "cancelled", "Cancelled by the initiator (contributions being refunded)"
    REFUNDED = "refunded", "Refunded (every paid contribution given back)"


_C = CrowdfundStatus
# API.md: open → funded → ordered; open → expired → refunded; open → cancelled → refunded.
# funded → ordered happens in the same transaction (the order is created at once).
CROWDFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    _C.OPEN: frozenset({_C.FUNDED, _C.EXPIRED, _C.CANCELLED}),
    _C.FUNDED: frozenset({_C.ORDERED}),
    _C.ORDERED: frozenset(),
    _C.EXPIRED: frozenset({_C.REFUNDED}),
    _C.CANCELLED: frozenset({_C.REFUNDED}),
    _C.REFUNDED: frozenset(),
}
transitions_check(CROWDFUND_TRANSITIONS, CrowdfundStatus)
CROWDFUND_CLOSED = frozenset({_C.EXPIRED, _C.CANCELLED, _C.REFUNDED})


class Crowdfund(models.Model):
    initiator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="crowdfunds")
    product = models.ForeignKey("mall.Product", on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey("mall.Sku", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    # Snapshots taken when it started: the goal is the price at that moment.
    price_fen = models.BigIntegerField()
    goal_fen = models.BigIntegerField()
    title = models.CharField(max_length=120)
    sku_name = models.CharField(max_length=64)
    image = models.CharField(max_length=512, blank=True, default="")
    address = models.JSONField()
    message = models.CharField(max_length=MAX_MESSAGE_CHARS, blank=True, default="")
    # raised: paid and counted; reserved: held by contributions waiting for their payment.
    raised_fen = models.BigIntegerField(default=0)
    reserved_fen = models.BigIntegerField(default=0)
    contributors = models.PositiveIntegerField(default=0, help_text="Paid, counted contributions")
    status = models.CharField(max_length=16, choices=CrowdfundStatus.choices, default=CrowdfundStatus.OPEN)
    share_code = models.CharField(max_length=16, unique=True)
    share_link = models.ForeignKey("distributors.ShareLink", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+",
                                   help_text="The distributor link friends open (when one is credited)")
    attribution = models.JSONField(default=dict, blank=True, help_text="Who gets credit for the final order")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    deadline = models.DateTimeField()
    stock_held = models.BooleanField(default=True, help_text="The item's stock is held by this crowdfund")
    order = models.OneToOneField("mall.Order", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="crowdfund")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    funded_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("crowdfund")
        verbose_name_plural = _("crowdfunds")
        indexes = [
            models.Index(fields=["status", "deadline"]),
            models.Index(fields=["initiator", "-created_at"]),
            models.Index(fields=["product", "-created_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(goal_fen__gt=0), name="crowdfund_goal_positive"),
            models.CheckConstraint(condition=Q(goal_fen=F("price_fen") * F("quantity")), name="crowdfund_goal_price"),
            models.CheckConstraint(condition=Q(raised_fen__gte=0) & Q(reserved_fen__gte=0),
                                   name="crowdfund_amounts_non_negative"),
            # Never over-funded, whatever the concurrency: the last line behind the reservation.
            models.CheckConstraint(condition=Q(raised_fen__lte=F("goal_fen") - F("reserved_fen")),
                                   name="crowdfund_never_over_goal"),
        ]

    def __str__(self) -> str:
        return f"crowdfund {self.pk} {self.title} ({self.status})"

    @property
    def missing_fen(self) -> int:
        return self.goal_fen - self.raised_fen - self.reserved_fen


class ContributionStatus(models.TextChoices):
    """Money paid in by someone: a crowdfund contribution, and a red-envelope backing too."""

    PENDING_PAYMENT = "pending_payment", "Waiting for its payment (reserved)"
    PAID = "paid", "Paid and counted"
    EXPIRED = "expired", "Expired unpaid (its WeChat order closed)"
    REFUNDING = "refunding", "Paid but not counted, or its campaign failed: being given back"
    REFUNDED = "refunded", "Given back"


_K = ContributionStatus
# A payment that arrives for an expired reservation is counted when room is left (expired →
# paid), refunded otherwise (→ refunding); a paid contribution of a crowdfund that fails is
# refunded. Refunds of a funded order are partial refunds of paid contributions
# (Contribution.refunded_fen), not a status change.
CONTRIBUTION_TRANSITIONS: dict[str, frozenset[str]] = {
    _K.PENDING_PAYMENT: frozenset({_K.PAID, _K.EXPIRED, _K.REFUNDING}),
    _K.EXPIRED: frozenset({_K.PAID, _K.REFUNDING}),
    _K.PAID: frozenset({_K.REFUNDING}),
    _K.REFUNDING: frozenset({_K.REFUNDED}),
    _K.REFUNDED: frozenset(),
}
transitions_check(CONTRIBUTION_TRANSITIONS, ContributionStatus)


class Contribution(models.Model):
    no = models.CharField(max_length=32, unique=True, help_text="out_trade_no of its WeChat payment")
    crowdfund = models.ForeignKey(Crowdfund, on_delete=models.PROTECT, related_name="contributions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="contributions")
    amount_fen = models.BigIntegerField()
    message = models.CharField(max_length=MAX_MESSAGE_CHARS, blank=True, default="")
    anonymous = models.BooleanField(default=False)
    is_rest = models.BooleanField(default=False, help_text="The initiator paying what was missing")
    status = models.CharField(max_length=16, choices=ContributionStatus.choices,
                              default=ContributionStatus.PENDING_PAYMENT)
    reserved_until = models.DateTimeField()
    transaction_id = models.CharField(max_length=64, blank=True, default="")
    refunded_fen = models.BigIntegerField(default=0, help_text="Given back (refunds of the funded order, or all)")
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("crowdfund contribution")
        verbose_name_plural = _("crowdfund contributions")
        indexes = [
            models.Index(fields=["crowdfund", "status", "-created_at"]),
            models.Index(fields=["status", "reserved_until"]),
            models.Index(fields=["user", "-created_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="contribution_amount_positive"),
            models.CheckConstraint(condition=Q(refunded_fen__gte=0) & Q(refunded_fen__lte=F("amount_fen")),
                                   name="contribution_refunded_within_amount"),
        ]

    def __str__(self) -> str:
        return f"{self.no} ¥{yuan(self.amount_fen)} ({self.status})"


class RefundReason(models.TextChoices):
    EXPIRED = "expired", "The crowdfund expired"
    CANCELLED = "cancelled", "The initiator cancelled"
    NO_ROOM = "no_room", "Paid when no room was left (never over-funded)"
    CLOSED = "closed", "Paid after the crowdfund closed"
    ORDER_REFUND = "order_refund", "A refund of the funded order, pro rata"
    ENVELOPE_CANCELLED = "env_cancelled", "The red envelope was never opened (or never paid)"
    ENVELOPE_LATE = "env_late", "A red-envelope payment arrived after it could still count"


class CampaignRefundStatus(models.TextChoices):
    REQUESTED = "requested", "Requested (sent or about to be sent to WeChat)"
    SUCCEEDED = "succeeded", "Refunded"
    FAILED = "failed", "Failed at WeChat (sent again as a new attempt)"
    SETTLED = "settled", "Paid back outside the API (an operator, after WeChat refused)"


_F = CampaignRefundStatus
CAMPAIGN_REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    _F.REQUESTED: frozenset({_F.SUCCEEDED, _F.FAILED}),
    _F.SUCCEEDED: frozenset(),
    _F.FAILED: frozenset({_F.SETTLED}),  # refund_retries.campaign_refund_settle, on the last attempt only
    _F.SETTLED: frozenset(),
}
transitions_check(CAMPAIGN_REFUND_TRANSITIONS, CampaignRefundStatus)


class CampaignRefund(models.Model):
    """Money going back to one payer: a WeChat refund of their crowdfund contribution's payment,
    or of their red-envelope backing's (exactly one of `contribution` and `backing`).

    `no` is the out_refund_no (idempotent at WeChat: sending it again is safe). A failed
    attempt is followed by a new row (attempt + 1) until CAMPAIGNS_REFUND_ATTEMPTS; then it
    waits for an operator. `mall_refund_no` ties the parts of a refund of the funded order."""

    no = models.CharField(max_length=64, unique=True)
    contribution = models.ForeignKey(Contribution, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="refunds")
    backing = models.ForeignKey("campaigns.EnvelopeBacking", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="refunds")
    amount_fen = models.BigIntegerField()
    reason = models.CharField(max_length=16, choices=RefundReason.choices)
    mall_refund_no = models.CharField(max_length=32, blank=True, default="", db_index=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, choices=CampaignRefundStatus.choices,
                              default=CampaignRefundStatus.REQUESTED)
    error_code = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("contribution refund")
        verbose_name_plural = _("contribution refunds")
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="campaign_refund_amount_positive"),
            models.UniqueConstraint(fields=["contribution", "reason", "mall_refund_no", "attempt"],
                                    name="campaign_refund_one_per_attempt"),
            models.UniqueConstraint(fields=["backing", "reason", "attempt"], condition=Q(backing__isnull=False),
                                    name="campaign_refund_backing_one_per_attempt"),
            models.CheckConstraint(condition=Q(contribution__isnull=True) ^ Q(backing__isnull=True),
                                   name="campaign_refund_one_payer"),
        ]

    def __str__(self) -> str:
        return f"{self.no} ¥{yuan(self.amount_fen)} ({self.status})"

    @property
    def out_trade_no(self) -> str:
        """The payment it gives back: the contribution's or the backing's number."""
        return self.contribution.no if self.contribution_id else self.backing.no


class CrowdfundEvent(models.Model):
    """One row per status change of a crowdfund, a contribution or a refund of one."""

    crowdfund = models.ForeignKey(Crowdfund, on_delete=models.CASCADE, related_name="events")
    contribution = models.ForeignKey(Contribution, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(max_length=16, default="crowdfund")  # crowdfund | contribution | refund
    kind = models.CharField(max_length=32)
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, blank=True, default="")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("crowdfund event")
        verbose_name_plural = _("crowdfund events")
        ordering = ["id"]
        indexes = [models.Index(fields=["crowdfund", "id"])]

    def __str__(self) -> str:
        return f"crowdfund {self.crowdfund_id} {self.subject} {self.kind} {self.from_status}→{self.to_status}"


# --- red envelopes (红包) -----------------------------------------------------------------

# WechatPayment.purpose of an envelope's funding and its top-ups paid by WeChat.
ENVELOPE_PURPOSE = "campaigns.red_envelope"


def envelope_escrow_ref(*, envelope_id: int) -> str:
    """The `ref` of an envelope's escrow account in the ledger (code "<ref>:campaign_escrow")."""
    return f"envelope{envelope_id}"


class RedEnvelopeSettings(models.Model):
    """The operator's red-envelope limits: one row (pk=1)."""

    enabled = models.BooleanField(default=True)
    max_total_fen = models.PositiveBigIntegerField(default=1_000_000,
                                                   help_text="The largest pool (own money + top-ups)")
    max_count = models.PositiveIntegerField(default=1_000, help_text="The most shares an envelope may have")
    max_share_fen = models.PositiveIntegerField(default=20_000, help_text="The largest share (default 200 yuan)")
    default_expires_hours = models.PositiveIntegerField(default=24)
    max_expires_hours = models.PositiveIntegerField(default=72)
    unopened_cancel_days = models.PositiveIntegerField(default=7)
    pay_window_minutes = models.PositiveIntegerField(default=10)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("red envelope settings")
        verbose_name_plural = _("red envelope settings")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="envelope_settings_singleton"),
            models.CheckConstraint(condition=Q(max_count__gte=1) & Q(max_count__lte=100_000),
                                   name="envelope_settings_count"),
            models.CheckConstraint(condition=Q(max_share_fen__gte=1), name="envelope_settings_share"),
            models.CheckConstraint(condition=Q(default_expires_hours__gte=1)
                                   & Q(default_expires_hours__lte=F("max_expires_hours")),
                                   name="envelope_settings_expiry"),
        ]

    def __str__(self) -> str:
        return "red envelope settings"


class EnvelopeStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Waiting for the owner's WeChat payment"
    FUNDING = "funding", "Funded; others may top it up; not opened yet"
    ACTIVE = "active", "Open: shares are being grabbed"
    EMPTY = "empty", "Every share grabbed"
    EXPIRED = "expired", "Lifetime over: the rest went back to the owner"
    CANCELLED = "cancelled", "Never opened (or never paid): every backer refunded"


_E = EnvelopeStatus
# API.md: pending_payment → funding → active → empty; active → expired; funding → cancelled
# (unopened for the operator's days); pending_payment → cancelled (the owner never paid).
ENVELOPE_TRANSITIONS: dict[str, frozenset[str]] = {
    _E.PENDING_PAYMENT: frozenset({_E.FUNDING, _E.CANCELLED}),
    _E.FUNDING: frozenset({_E.ACTIVE, _E.CANCELLED}),
    _E.ACTIVE: frozenset({_E.EMPTY, _E.EXPIRED}),
    _E.EMPTY: frozenset(),
    _E.EXPIRED: frozenset(),
    _E.CANCELLED: frozenset(),
}
transitions_check(ENVELOPE_TRANSITIONS, EnvelopeStatus)


class SplitMode(models.TextChoices):
    RANDOM = "random", "Random (拼手气)"
    EQUAL = "equal", "Equal"


class PayWith(models.TextChoices):
    WALLET = "wallet", "Wallet balance"
    WECHAT = "wechat", "WeChat Pay"


class RedEnvelope(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="red_envelopes")
    status = models.CharField(max_length=16, choices=EnvelopeStatus.choices, default=EnvelopeStatus.PENDING_PAYMENT)
    split = models.CharField(max_length=8, choices=SplitMode.choices, default=SplitMode.RANDOM)
    count = models.PositiveIntegerField()
    total_fen = models.BigIntegerField(help_text="The owner's own money")
    pool_fen = models.BigIntegerField(default=0, help_text="Paid so far: the owner's money and every paid top-up")
    greeting = models.CharField(max_length=MAX_MESSAGE_CHARS, blank=True, default="")
    share_code = models.CharField(max_length=16, unique=True)
    share_link = models.ForeignKey("distributors.ShareLink", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+",
                                   help_text="The owner's own distributor link to it (when the owner is one)")
    expires_hours = models.PositiveIntegerField()
    max_share_fen = models.PositiveIntegerField(help_text="The operator's share maximum when it was created")
    open_when_paid = models.BooleanField(default=False)
    best_position = models.PositiveIntegerField(null=True, blank=True,
                                                help_text="The share with the best luck (ties drawn at opening)")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    funded_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Set when it is opened")
    closed_at = models.DateTimeField(null=True, blank=True)
    returned_fen = models.BigIntegerField(default=0, help_text="What nobody grabbed, back to the owner")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("red envelope")
        verbose_name_plural = _("red envelopes")
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["owner", "-created_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(count__gte=1), name="envelope_count_positive"),
            models.CheckConstraint(condition=Q(total_fen__gte=F("count")), name="envelope_total_at_least_1_fen_each"),
            models.CheckConstraint(condition=Q(pool_fen__gte=0), name="envelope_pool_non_negative"),
        ]

    def __str__(self) -> str:
        return f"envelope {self.pk} ({self.status})"


# An envelope backing (the owner's money or a fan's top-up) moves exactly like a crowdfund
# contribution: waiting for its payment, paid, expired unpaid (and paid anyway), given back.
BackingStatus = ContributionStatus
BACKING_TRANSITIONS = CONTRIBUTION_TRANSITIONS


class EnvelopeBacking(models.Model):
    """Money put into an envelope: the owner's own (is_owner) or a fan's top-up."""

    no = models.CharField(max_length=32, unique=True, help_text="out_trade_no when paid by WeChat")
    envelope = models.ForeignKey(RedEnvelope, on_delete=models.PROTECT, related_name="backings")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="envelope_backings")
    is_owner = models.BooleanField(default=False)
    amount_fen = models.BigIntegerField()
    pay_with = models.CharField(max_length=8, choices=PayWith.choices)
    status = models.CharField(max_length=16, choices=BackingStatus.choices, default=BackingStatus.PENDING_PAYMENT)
    transaction_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("red envelope backing")
        verbose_name_plural = _("red envelope backings")
        indexes = [models.Index(fields=["envelope", "status"]), models.Index(fields=["status", "created_at"])]
        constraints = [models.CheckConstraint(condition=Q(amount_fen__gt=0), name="backing_amount_positive")]

    def __str__(self) -> str:
        return f"{self.no} ¥{yuan(self.amount_fen)} ({self.status})"


class EnvelopeShare(models.Model):
    """One share of an opened envelope, in grab order (`position` 0 is grabbed first).

    The database is the truth of every grab: a share has at most one grabber (the row), a user
    at most one share per envelope (a unique constraint), and a grab answered 200 has been
    committed here. `posting` is the ledger transaction that moved its money from the escrow to
    the grabber's wallet (set-based batches); `returned` marks a share nobody grabbed whose
    money went back to the owner when the envelope expired."""

    envelope = models.ForeignKey(RedEnvelope, on_delete=models.PROTECT, related_name="shares")
    position = models.PositiveIntegerField()
    amount_fen = models.BigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="envelope_shares")
    grabbed_at = models.DateTimeField(null=True, blank=True)
    posting = models.ForeignKey("ledger.LedgerTransaction", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    returned = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("red envelope share")
        verbose_name_plural = _("red envelope shares")
        indexes = [models.Index(fields=["envelope", "user"]),
                   models.Index(fields=["envelope", "position"], condition=Q(user__isnull=True),
                                name="share_free_by_position")]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gte=1), name="share_amount_at_least_1_fen"),
            models.UniqueConstraint(fields=["envelope", "position"], name="share_one_per_position"),
            models.UniqueConstraint(fields=["envelope", "user"], condition=Q(user__isnull=False),
                                    name="share_one_per_user"),
            models.CheckConstraint(condition=~(Q(returned=True) & Q(user__isnull=False)),
                                   name="share_returned_only_if_ungrabbed"),
        ]

    def __str__(self) -> str:
        return f"envelope {self.envelope_id} #{self.position} ¥{yuan(self.amount_fen)}"


class EnvelopeEvent(models.Model):
    """One row per status change of an envelope or a backing (grabs are their share rows)."""

    envelope = models.ForeignKey(RedEnvelope, on_delete=models.CASCADE, related_name="events")
    backing = models.ForeignKey(EnvelopeBacking, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32)
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, blank=True, default="")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("red envelope event")
        verbose_name_plural = _("red envelope events")
        ordering = ["id"]
        indexes = [models.Index(fields=["envelope", "id"])]

    def __str__(self) -> str:
        return f"envelope {self.envelope_id} {self.kind} {self.from_status}→{self.to_status}"


from .models_bargain import *  # noqa: E402, F401, F403  (bargains (砍价): campaigns/models_bargain.py)
