"""The operators' console for commissions: rules are saved through the services (a refused
change shows the error and saves nothing); commissions are read-only."""
from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from core.admin import ReadOnlyAdmin
from core.errors import DomainError

from .models import Commission, CommissionRule
from .services import rules as rule_services

RULE_FIELDS = ("level1_bps", "level2_bps", "level1_fixed_fen", "level2_fixed_fen", "is_active")


@admin.register(CommissionRule)
class CommissionRuleAdmin(admin.ModelAdmin):
    list_display = ("id", "scope", "sku", "product", "tier", "level1_bps", "level2_bps", "level1_fixed_fen",
                    "level2_fixed_fen", "is_active", "updated_at")
    list_filter = ("scope", "is_active")
    raw_id_fields = ("sku", "product")
    readonly_fields = ("created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # scope and target are fixed once created
            return (*self.readonly_fields, "scope", "sku", "product", "tier")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        request._commission_rule_refused = False
        data = form.cleaned_data
        try:
            if change:
                fields = {name: data[name] for name in form.changed_data if name in RULE_FIELDS}
                saved = rule_services.commission_rule_update(rule_id=obj.pk, **fields)
            else:
                saved = rule_services.commission_rule_create(
                    scope=data.get("scope"),
                    sku_id=data["sku"].pk if data.get("sku") else None,
                    product_id=data["product"].pk if data.get("product") else None,
                    tier_id=data["tier"].pk if data.get("tier") else None,
                    **{name: data.get(name) for name in RULE_FIELDS if name != "is_active"},
                    is_active=bool(data.get("is_active")),
                )
            obj.pk = saved.pk
        except DomainError as exc:
            request._commission_rule_refused = True
            self.message_user(request, f"{exc.code}: {exc.message}", messages.ERROR)

    def delete_model(self, request, obj):
        """Rules are kept for history: deleting deactivates."""
        rule_services.commission_rule_delete(rule_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            rule_services.commission_rule_delete(rule_id=rule.pk)

    def _refused(self, request) -> bool:
        return getattr(request, "_commission_rule_refused", False)

    def response_add(self, request, obj, post_url_continue=None):
        if self._refused(request):
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if self._refused(request):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def log_addition(self, request, obj, message):
        if not self._refused(request):
            return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not self._refused(request):
            return super().log_change(request, obj, message)


@admin.register(Commission)
class CommissionAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "order_item", "level", "beneficiary", "base_fen", "rate_bps", "fixed_fen",
                    "rule_source", "amount_fen", "reversed_fen", "status", "settles_at", "created_at")
    list_filter = ("status", "level")
    search_fields = ("order__no",)
    list_select_related = ("order", "beneficiary")
    raw_id_fields = ("order", "order_item", "distributor", "beneficiary")
