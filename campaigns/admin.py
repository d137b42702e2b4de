"""The operators' console for crowdfunds.

Crowdfunds, contributions and their refunds are read-only here (core.admin.ReadOnlyAdmin,
with CSV export of the selected rows): their money and statuses move only through the
campaigns services (reservations, WeChat payments and refunds, the ledger). The settings
(one row) and the per-product rules are edited, and saved through the same services as
/api/v1/ops/settings/crowdfunds/ and /api/v1/ops/products/{id}/crowdfund-rule/.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Exists, OuterRef

from core.admin import ReadOnlyAdmin

from .models import CampaignRefund, Contribution, Crowdfund, CrowdfundEvent, CrowdfundProductRule, CrowdfundSettings
from .selectors.ops import NEEDS_OPERATOR_EVENT
from .services import settings as settings_services


class _ReadOnlyInline(admin.TabularInline):
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


class CrowdfundSettingsForm(forms.ModelForm):
    """The service's bounds (settings_services.LIMITS) checked on the form, so a refused value
    shows next to its field and nothing is saved."""

    class Meta:
        model = CrowdfundSettings
        fields = SETTINGS_FIELDS

    def clean(self):
        data = super().clean()
        for name, (low, high) in settings_services.LIMITS.items():
            value = data.get(name)
            if value is not None and not low <= value <= high:
                self.add_error(name, f"A whole number from {low} to {high}.")
        default, most = data.get("default_duration_hours"), data.get("max_duration_hours")
        if default is not None and most is not None and default > most:
            self.add_error("default_duration_hours", "The default duration cannot be longer than the maximum.")
        return data


@admin.register(CrowdfundSettings)
class CrowdfundSettingsAdmin(admin.ModelAdmin):
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
class CrowdfundProductRuleAdmin(admin.ModelAdmin):
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
