"""The operators' console for distribution: settings, tiers, distributor review, and read-only
views of links, bindings and the daily figures. Every change goes through the services."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from core.admin import ReadOnlyAdmin
from core.admin_money import MoneyAdmin, MoneyTabularInline
from core.errors import DomainError

from .models import (
    BindingEvent,
    CustomerBinding,
    DistributionSettings,
    Distributor,
    DistributorDailyStat,
    DistributorEvent,
    LinkDailyStat,
    ShareLink,
    Tier,
)
from .services import distributors as distributor_services
from .services import settings as settings_services
from .services import tiers as tier_services
from .services.settings import FIELDS as SETTINGS_FIELDS


@admin.register(DistributionSettings)
class DistributionSettingsAdmin(MoneyAdmin):
    """One row; saved through the settings service (validated together, cache refreshed)."""

    fields = SETTINGS_FIELDS
    list_display = ("__str__", "recruitment_mode", "binding_mode", "levels", "default_level1_bps",
                    "default_level2_bps", "updated_at")

    def has_add_permission(self, request):
        return not DistributionSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in SETTINGS_FIELDS if name in form.cleaned_data}
        try:
            settings_services.distribution_settings_update(actor=request.user, **values)
        except DomainError as exc:
            self.message_user(request, f"{exc.code}: {exc.message} {exc.extra}", messages.ERROR)


@admin.register(Tier)
class TierAdmin(MoneyAdmin):
    list_display = ("rank", "name", "level1_bps", "level2_bps", "min_own_gmv_fen", "min_team_gmv_fen",
                    "min_order_count", "min_invited_count", "match")
    ordering = ("rank",)

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        try:
            if change:
                tier_services.tier_update(tier_id=obj.pk, **fields)
            else:
                tier_services.tier_create(**{name: form.cleaned_data[name] for name in form.cleaned_data})
        except DomainError as exc:
            self.message_user(request, f"{exc.code}: {exc.message} {exc.extra}", messages.ERROR)

    def delete_model(self, request, obj):
        try:
            tier_services.tier_delete(tier_id=obj.pk)
        except DomainError as exc:
            self.message_user(request, f"{exc.code}: {exc.message}", messages.ERROR)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200)


class DistributorEventInline(MoneyTabularInline):
    model = DistributorEvent
    extra = 0
    fields = readonly_fields = ("created_at", "kind", "from_value", "to_value", "reason", "actor")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Distributor)
class DistributorAdmin(MoneyAdmin):
    list_display = ("id", "real_name", "user", "status", "tier", "invite_code", "inviter", "applied_at",
                    "approved_at")
    list_filter = ("status", "tier", "applied_at")
    search_fields = ("real_name", "phone", "invite_code", "user__nickname", "user__username")
    list_select_related = ("user", "tier", "inviter")
    readonly_fields = [f.name for f in Distributor._meta.concrete_fields]
    inlines = [DistributorEventInline]
    actions = ("approve", "reject", "freeze", "unfreeze")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _each(self, request, queryset, act, label):
        done = 0
        for distributor in queryset:
            try:
                act(distributor)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{distributor}: {exc.code}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{label}: {done}.", messages.SUCCESS)

    def _with_reason(self, request, queryset, action, label, act):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self._each(request, queryset, lambda d: act(d, form.cleaned_data["reason"]), label)
            return None
        context = {
            **self.admin_site.each_context(request), "title": label, "intro": "A reason is required.",
            "form": form, "queryset": queryset, "action": action, "submit_label": label, "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/mall/action_form.html", context)

    @admin.action(description="Approve selected applications", permissions=["change"])
    def approve(self, request, queryset):
        self._each(request, queryset, lambda d: distributor_services.distributor_approve(
            actor=request.user, distributor_id=d.pk), "Approved")

    @admin.action(description="Reject selected applications (with a reason)", permissions=["change"])
    def reject(self, request, queryset):
        return self._with_reason(request, queryset, "reject", "Reject", lambda d, reason: (
            distributor_services.distributor_reject(actor=request.user, distributor_id=d.pk, reason=reason)))

    @admin.action(description="Freeze selected distributors (with a reason)", permissions=["change"])
    def freeze(self, request, queryset):
        return self._with_reason(request, queryset, "freeze", "Freeze", lambda d, reason: (
            distributor_services.distributor_freeze(actor=request.user, distributor_id=d.pk, reason=reason)))

    @admin.action(description="Unfreeze selected distributors", permissions=["change"])
    def unfreeze(self, request, queryset):
        self._each(request, queryset, lambda d: distributor_services.distributor_unfreeze(
            actor=request.user, distributor_id=d.pk), "Unfrozen")


@admin.register(ShareLink)
class ShareLinkAdmin(ReadOnlyAdmin):
    list_display = ("code", "distributor", "target_type", "target_id", "channel", "clicks", "unique_visitors",
                    "orders", "gmv_fen", "created_at")
    list_filter = ("target_type", "created_at")
    search_fields = ("code", "distributor__real_name", "channel")
    list_select_related = ("distributor",)


@admin.register(CustomerBinding)
class CustomerBindingAdmin(ReadOnlyAdmin):
    list_display = ("customer", "distributor", "source", "bound_at", "expires_at", "protected_until")
    list_filter = ("source", "bound_at")
    search_fields = ("customer__nickname", "distributor__real_name", "distributor__invite_code")
    list_select_related = ("customer", "distributor")


@admin.register(BindingEvent)
class BindingEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "customer", "kind", "from_distributor", "to_distributor", "link")
    list_filter = ("kind", "created_at")
    list_select_related = ("customer", "from_distributor", "to_distributor", "link")


@admin.register(DistributorDailyStat)
class DistributorDailyStatAdmin(ReadOnlyAdmin):
    list_display = ("day", "distributor", "clicks", "unique_visitors", "orders", "gmv_fen", "new_customers")
    list_filter = ("day",)
    date_hierarchy = "day"
    list_select_related = ("distributor",)


@admin.register(LinkDailyStat)
class LinkDailyStatAdmin(ReadOnlyAdmin):
    list_display = ("day", "link", "distributor", "clicks", "unique_visitors", "orders", "gmv_fen")
    list_filter = ("day",)
    date_hierarchy = "day"
    list_select_related = ("link", "distributor")
