"""The operators' console for crowdfunds and red envelopes.

Crowdfunds, contributions and their refunds are read-only here (core.admin.ReadOnlyAdmin,
with CSV export of the selected rows): their money and statuses move only through the
campaigns services (reservations, WeChat payments and refunds, the ledger). The settings
(one row) and the per-product rules are edited, and saved through the same services as
/api/v1/ops/settings/crowdfunds/ and /api/v1/ops/products/{id}/crowdfund-rule/.

Red envelopes, their backings (inline), events (inline) and shares are read-only the same
way (grabs, postings and refunds move only through the envelope services); the red-envelope
settings (one row) are edited and saved through envelope_settings_update, as
/api/v1/ops/settings/red-envelopes/.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Exists, OuterRef, Q

from core.admin import ReadOnlyAdmin
from core.admin_money import MoneyAdmin, MoneyTabularInline

from .models import (
    CampaignRefund,
    Contribution,
    Crowdfund,
    CrowdfundEvent,
    CrowdfundProductRule,
    CrowdfundSettings,
    EnvelopeBacking,
    EnvelopeEvent,
    EnvelopeShare,
    RedEnvelope,
    RedEnvelopeSettings,
)
from .selectors.ops import NEEDS_OPERATOR_EVENT
from .services import envelope_settings as envelope_settings_services
from .services import settings as settings_services


class _ReadOnlyInline(MoneyTabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ContributionInline(_ReadOnlyInline):
    model = Contribution
    fields = readonly_fields = ("no", "user", "amount_fen", "refunded_fen", "status", "is_rest", "anonymous",
                                "message", "created_at", "paid_at", "reserved_until")
    ordering = ("-created_at", "-pk")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class CrowdfundEventInline(_ReadOnlyInline):
    model = CrowdfundEvent
    show_change_link = False
    fields = readonly_fields = ("created_at", "subject", "kind", "from_status", "to_status", "contribution",
                                "actor", "data")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "contribution")


def _needs_operator():
    return Exists(CrowdfundEvent.objects.filter(crowdfund_id=OuterRef("pk"), kind=NEEDS_OPERATOR_EVENT))


class NeedsOperatorFilter(admin.SimpleListFilter):
    title = "refund needs an operator"
    parameter_name = "needs_operator"

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(_needs_operator())
        if self.value() == "no":
            return queryset.exclude(_needs_operator())
        return queryset


@admin.register(Crowdfund)
class CrowdfundAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "initiator", "goal_fen", "raised_fen", "reserved_fen", "contributors", "status",
                    "deadline", "needs_operator", "created_at")
    list_filter = ("status", "created_at", NeedsOperatorFilter)
    search_fields = ("title", "initiator__username", "initiator__nickname", "=share_code")
    list_select_related = ("initiator",)
    raw_id_fields = ("initiator", "product", "sku", "share_link", "order")
    date_hierarchy = "created_at"
    inlines = [ContributionInline, CrowdfundEventInline]
    csv_fields = ("id", "title", "sku_name", "initiator_id", "initiator__nickname", "product_id", "sku_id",
                  "quantity", "price_fen", "goal_fen", "raised_fen", "reserved_fen", "contributors", "status",
                  "deadline", "created_at", "funded_at", "closed_at", "order__no")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(ops_needs_operator=_needs_operator())

    @admin.display(description="refund needs operator", boolean=True)
    def needs_operator(self, obj) -> bool:
        return bool(getattr(obj, "ops_needs_operator", False))


class CampaignRefundInline(_ReadOnlyInline):
    model = CampaignRefund
    fields = readonly_fields = ("no", "amount_fen", "reason", "mall_refund_no", "attempt", "status", "error_code",
                                "created_at", "finished_at")


@admin.register(Contribution)
class ContributionAdmin(ReadOnlyAdmin):
    list_display = ("id", "no", "crowdfund", "user", "amount_fen", "refunded_fen", "status", "is_rest",
                    "created_at", "paid_at")
    list_filter = ("status", "is_rest", "created_at")
    search_fields = ("=no", "=transaction_id", "user__username", "user__nickname")
    list_select_related = ("crowdfund", "user")
    raw_id_fields = ("crowdfund", "user")
    inlines = [CampaignRefundInline]
    csv_fields = ("id", "no", "crowdfund_id", "user_id", "amount_fen", "refunded_fen", "status", "is_rest",
                  "anonymous", "transaction_id", "created_at", "paid_at")


@admin.register(CampaignRefund)
class CampaignRefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "no", "contribution", "amount_fen", "reason", "attempt", "status", "error_code",
                    "created_at", "finished_at")
    list_filter = ("status", "reason", "created_at")
    search_fields = ("=no", "=contribution__no", "=mall_refund_no")
    list_select_related = ("contribution",)
    raw_id_fields = ("contribution",)
    csv_fields = ("id", "no", "contribution__no", "contribution__crowdfund_id", "amount_fen", "reason",
                  "mall_refund_no", "attempt", "status", "error_code", "created_at", "finished_at")


# --- settings and rules: edited, saved through the services -----------------------------

SETTINGS_FIELDS = settings_services.FIELDS


class _BoundedSettingsForm(forms.ModelForm):
    """A settings form checking its service's bounds (`limits`) and that the default (first of
    `default_max`) is not above the maximum, so a refused value shows next to its field and
    nothing is saved."""

    limits: dict[str, tuple[int, int]] = {}
    default_max: tuple[str, str, str] = ("", "", "")  # default field, maximum field, message

    def clean(self):
        data = super().clean()
        for name, (low, high) in self.limits.items():
            value = data.get(name)
            if value is not None and not low <= value <= high:
                self.add_error(name, f"A whole number from {low} to {high}.")
        low_name, high_name, message = self.default_max
        default, most = data.get(low_name), data.get(high_name)
        if default is not None and most is not None and default > most:
            self.add_error(low_name, message)
        return data


class CrowdfundSettingsForm(_BoundedSettingsForm):
    limits = settings_services.LIMITS
    default_max = ("default_duration_hours", "max_duration_hours",
                   "The default duration cannot be longer than the maximum.")

    class Meta:
        model = CrowdfundSettings
        fields = SETTINGS_FIELDS


@admin.register(CrowdfundSettings)
class CrowdfundSettingsAdmin(MoneyAdmin):
    """One row (pk 1); saved through crowdfund_settings_update (who changed it is recorded)."""

    form = CrowdfundSettingsForm
    fields = (*SETTINGS_FIELDS, "updated_at", "updated_by")
    readonly_fields = ("updated_at", "updated_by")
    list_display = ("__str__", "enabled", "default_duration_hours", "max_duration_hours", "min_contribution_fen",
                    "pay_window_minutes", "min_goal_fen", "updated_at")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not CrowdfundSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in SETTINGS_FIELDS if name in form.cleaned_data}
        row = settings_services.crowdfund_settings_update(actor=request.user, **values)
        obj.pk = row.pk


class CrowdfundProductRuleForm(forms.ModelForm):
    class Meta:
        model = CrowdfundProductRule
        fields = ("product", "enabled", "min_goal_fen")

    def clean_min_goal_fen(self):
        value = self.cleaned_data["min_goal_fen"]
        if value is not None and not 0 <= value <= settings_services.MAX_FEN:
            raise forms.ValidationError(f"A whole number of fen from 0 to {settings_services.MAX_FEN}.")
        return value


@admin.register(CrowdfundProductRule)
class CrowdfundProductRuleAdmin(MoneyAdmin):
    """Crowdfunding off for a product, or its minimum goal; saved through
    crowdfund_product_rule_set. The product is fixed once the rule exists; a rule is not
    deleted (turn it back on with no minimum instead)."""

    form = CrowdfundProductRuleForm
    list_display = ("id", "product", "enabled", "min_goal_fen", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("product__title",)
    list_select_related = ("product",)
    raw_id_fields = ("product",)
    readonly_fields = ("updated_at",)

    def get_readonly_fields(self, request, obj=None):
        return ("product", *self.readonly_fields) if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        rule = settings_services.crowdfund_product_rule_set(
            product_id=obj.product_id, enabled=form.cleaned_data["enabled"],
            min_goal_fen=form.cleaned_data["min_goal_fen"])
        obj.pk = rule.pk


# --- red envelopes ----------------------------------------------------------------------

class EnvelopeBackingInline(_ReadOnlyInline):
    model = EnvelopeBacking
    show_change_link = False
    fields = readonly_fields = ("no", "user", "is_owner", "amount_fen", "pay_with", "status", "transaction_id",
                                "created_at", "paid_at")
    ordering = ("-created_at", "-pk")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class EnvelopeEventInline(_ReadOnlyInline):
    model = EnvelopeEvent
    show_change_link = False
    fields = readonly_fields = ("created_at", "kind", "from_status", "to_status", "backing", "actor", "data")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "backing")


@admin.register(RedEnvelope)
class RedEnvelopeAdmin(ReadOnlyAdmin):
    """No shares inline: the share list (EnvelopeShareAdmin) shows only grabbed or returned
    shares, so which position of an envelope being grabbed holds which amount stays unseen."""

    list_display = ("id", "owner", "status", "split", "count", "total_fen", "pool_fen", "returned_fen",
                    "created_at", "opened_at", "expires_at", "closed_at")
    list_filter = ("status", "split", "created_at")
    search_fields = ("=share_code", "owner__username", "owner__nickname")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    date_hierarchy = "created_at"
    inlines = [EnvelopeBackingInline, EnvelopeEventInline]
    csv_fields = ("id", "owner_id", "owner__nickname", "status", "split", "count", "total_fen", "pool_fen",
                  "max_share_fen", "expires_hours", "share_code", "created_at", "funded_at", "opened_at",
                  "expires_at", "closed_at", "returned_fen")


@admin.register(EnvelopeShare)
class EnvelopeShareAdmin(ReadOnlyAdmin):
    list_display = ("id", "envelope", "position", "amount_fen", "user", "grabbed_at", "posting", "returned")
    list_filter = ("returned", "grabbed_at")
    search_fields = ("=envelope__id", "user__username", "user__nickname")
    list_select_related = ("envelope", "user", "posting")
    raw_id_fields = ("envelope", "user", "posting")
    csv_fields = ("id", "envelope_id", "position", "amount_fen", "user_id", "grabbed_at", "posting_id", "returned")

    def get_queryset(self, request):
        """Grabbed or returned shares only: the unclaimed ones of an active envelope would tell
        where the big share is (their count and total: /api/v1/ops/red-envelopes/{id}/)."""
        return super().get_queryset(request).filter(Q(user__isnull=False) | Q(returned=True))


ENVELOPE_SETTINGS_FIELDS = envelope_settings_services.FIELDS


class RedEnvelopeSettingsForm(_BoundedSettingsForm):
    limits = envelope_settings_services.LIMITS
    default_max = ("default_expires_hours", "max_expires_hours", envelope_settings_services.DEFAULT_ABOVE_MAX)

    class Meta:
        model = RedEnvelopeSettings
        fields = ENVELOPE_SETTINGS_FIELDS


@admin.register(RedEnvelopeSettings)
class RedEnvelopeSettingsAdmin(MoneyAdmin):
    """One row (pk 1); saved through envelope_settings_update (who changed it is recorded)."""

    form = RedEnvelopeSettingsForm
    fields = (*ENVELOPE_SETTINGS_FIELDS, "updated_at", "updated_by")
    readonly_fields = ("updated_at", "updated_by")
    list_display = ("__str__", "enabled", "max_total_fen", "max_count", "max_share_fen", "default_expires_hours",
                    "max_expires_hours", "unopened_cancel_days", "pay_window_minutes", "updated_at")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not RedEnvelopeSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in ENVELOPE_SETTINGS_FIELDS if name in form.cleaned_data}
        row = envelope_settings_services.envelope_settings_update(actor=request.user, **values)
        obj.pk = row.pk
