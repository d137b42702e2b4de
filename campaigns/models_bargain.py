"""Bargains (砍价): an operator's offer, a shopper's bargain on it, and each friend's help.

A shopper starts a bargain on an offer (one unit of the offer's stock is taken at once); the
cut plan (campaigns/bargain_cuts.py) is drawn then and stored in `Bargain.cuts`; each friend's
help claims the next position with ONE conditional UPDATE of the bargain and takes that
position's cut, so the price reaches the floor exactly at the planned number of helps and never
goes below it. docs/campaigns.md, "Bargain (砍价)". Money is integer fen; nothing is paid yet
(buying at the current price or the floor comes in a later session: `Bargain.order`).
"""
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.transitions import transitions_check

from .bargain_cuts import MAX_HELPS

__all__ = ["BARGAIN_TRANSITIONS", "Bargain", "BargainEvent", "BargainHelp", "BargainOffer", "BargainSettings",
           "BargainStatus"]


class BargainSettings(models.Model):
    """The operator's anti-abuse settings for bargain helps: one row (pk=1)."""

    new_account_minutes = models.PositiveIntegerField(
        default=0, help_text="Helpers whose account is younger than this are refused (0: off)")
    helps_per_user_per_day = models.PositiveIntegerField(default=10, help_text="Helps one user may give per day")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("bargain settings")
        verbose_name_plural = _("bargain settings")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="bargain_settings_singleton"),
            models.CheckConstraint(condition=Q(new_account_minutes__lte=60 * 24 * 365),
                                   name="bargain_settings_account_age"),
            models.CheckConstraint(condition=Q(helps_per_user_per_day__gte=1)
                                   & Q(helps_per_user_per_day__lte=1000),
                                   name="bargain_settings_helps_per_day"),
        ]

    def __str__(self) -> str:
        return "bargain settings"


class BargainOffer(models.Model):
    """What an operator puts up for bargaining: one SKU from `start_price_fen` down to
    `floor_price_fen` in `helps_needed` helps, each bargain lasting `hours`."""

    product = models.ForeignKey("mall.Product", on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey("mall.Sku", on_delete=models.PROTECT, related_name="+")
    start_price_fen = models.BigIntegerField()
    floor_price_fen = models.BigIntegerField()
    helps_needed = models.PositiveIntegerField()
    hours = models.PositiveIntegerField(help_text="How long one bargain lasts once started")
    stock = models.PositiveIntegerField(help_text="How many bargains this offer may have running or bought")
    stock_left = models.IntegerField(help_text="Taken by each bargain started, given back when one expires")
    per_user_limit = models.PositiveIntegerField(default=1, help_text="Bargains one user may start on it")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("bargain offer")
        verbose_name_plural = _("bargain offers")
        indexes = [models.Index(fields=["active", "ends_at"]), models.Index(fields=["product"])]
        constraints = [
            models.CheckConstraint(condition=Q(floor_price_fen__gte=1), name="bargain_offer_floor_positive"),
            models.CheckConstraint(condition=Q(start_price_fen__gt=F("floor_price_fen")),
                                   name="bargain_offer_start_above_floor"),
            models.CheckConstraint(condition=Q(start_price_fen__gte=F("floor_price_fen") + F("helps_needed")),
                                   name="bargain_offer_one_fen_per_help"),
            models.CheckConstraint(condition=Q(helps_needed__gte=1) & Q(helps_needed__lte=MAX_HELPS),
                                   name="bargain_offer_helps_range"),
            models.CheckConstraint(condition=Q(hours__gte=1), name="bargain_offer_hours_positive"),
            models.CheckConstraint(condition=Q(stock_left__gte=0) & Q(stock_left__lte=F("stock")),
                                   name="bargain_offer_stock_left_range"),
            models.CheckConstraint(condition=Q(per_user_limit__gte=1), name="bargain_offer_per_user_positive"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="bargain_offer_window"),
        ]

    def __str__(self) -> str:
        return f"bargain offer {self.pk} sku {self.sku_id}"


class BargainStatus(models.TextChoices):
    ACTIVE = "active", "Active (friends are helping)"
    FLOOR_REACHED = "floor_reached", "Floor reached (every planned help given)"
    ORDERED = "ordered", "Ordered (bought at the current price or the floor)"
    EXPIRED = "expired", "Expired (time limit passed without an order)"


_B = BargainStatus
# active → floor_reached (the last planned help, in that help's transaction); active or
# floor_reached → ordered (buying: later session); → expired at the deadline (stock back).
BARGAIN_TRANSITIONS: dict[str, frozenset[str]] = {
    _B.ACTIVE: frozenset({_B.FLOOR_REACHED, _B.ORDERED, _B.EXPIRED}),
    _B.FLOOR_REACHED: frozenset({_B.ORDERED, _B.EXPIRED}),
    _B.ORDERED: frozenset(),
    _B.EXPIRED: frozenset(),
}
transitions_check(BARGAIN_TRANSITIONS, BargainStatus)


class Bargain(models.Model):
    offer = models.ForeignKey(BargainOffer, on_delete=models.PROTECT, related_name="bargains")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bargains")
    # Snapshots of the offer when it started.
    start_price_fen = models.BigIntegerField()
    floor_price_fen = models.BigIntegerField()
    helps_needed = models.PositiveIntegerField()
    current_price_fen = models.BigIntegerField()
    helps_done = models.PositiveIntegerField(default=0)
    cuts = models.JSONField(help_text="The cut plan drawn at the start, position 0 first (fen)")
    status = models.CharField(max_length=16, choices=BargainStatus.choices, default=BargainStatus.ACTIVE)
    deadline = models.DateTimeField()
    stock_held = models.BooleanField(default=True, help_text="One unit of the offer's stock is held by it")
    order = models.OneToOneField("mall.Order", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="bargain")
    share_code = models.CharField(max_length=16, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    floor_reached_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("bargain")
        verbose_name_plural = _("bargains")
        indexes = [
            models.Index(fields=["status", "deadline"]),
            models.Index(fields=["offer", "owner"]),
            models.Index(fields=["owner", "-created_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(floor_price_fen__gte=1)
                                   & Q(start_price_fen__gte=F("floor_price_fen") + F("helps_needed")),
                                   name="bargain_prices"),
            # Never below the floor, never above the start, whatever the concurrency.
            models.CheckConstraint(condition=Q(current_price_fen__gte=F("floor_price_fen"))
                                   & Q(current_price_fen__lte=F("start_price_fen")),
                                   name="bargain_price_within_range"),
            models.CheckConstraint(condition=Q(helps_done__lte=F("helps_needed")), name="bargain_helps_within_plan"),
            models.CheckConstraint(condition=Q(helps_done__lt=F("helps_needed"))
                                   | Q(current_price_fen=F("floor_price_fen")),
                                   name="bargain_all_helps_reach_floor"),
        ]

    def __str__(self) -> str:
        return f"bargain {self.pk} ({self.status})"


class BargainHelp(models.Model):
    """One friend's cut: the bargain's `position`-th help (0-based), `cut_fen` from the plan."""

    bargain = models.ForeignKey(Bargain, on_delete=models.PROTECT, related_name="helps")
    helper = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bargain_helps")
    position = models.PositiveIntegerField()
    cut_fen = models.BigIntegerField()
    price_after_fen = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("bargain help")
        verbose_name_plural = _("bargain helps")
        indexes = [models.Index(fields=["helper", "created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["bargain", "helper"], name="bargain_help_once_per_helper"),
            models.UniqueConstraint(fields=["bargain", "position"], name="bargain_help_one_per_position"),
            models.CheckConstraint(condition=Q(cut_fen__gte=1), name="bargain_help_cut_positive"),
        ]

    def __str__(self) -> str:
        return f"bargain {self.bargain_id} help #{self.position} by {self.helper_id}"


class BargainEvent(models.Model):
    """One row per status change of a bargain (helps are their own rows)."""

    bargain = models.ForeignKey(Bargain, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32)
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, blank=True, default="")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("bargain event")
        verbose_name_plural = _("bargain events")
        ordering = ["id"]
        indexes = [models.Index(fields=["bargain", "id"])]

    def __str__(self) -> str:
        return f"bargain {self.bargain_id} {self.kind} {self.from_status}→{self.to_status}"
