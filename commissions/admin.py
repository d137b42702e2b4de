"""The operators' console for commissions: rules are saved through the services (a refused
change shows the error and saves nothing); commissions are read-only."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin, csv_response
from core.admin_money import MoneyAdmin, MoneyTabularInline, yuan_text
from core.errors import DomainError

from .models import Commission, CommissionRule, Notification, Withdrawal, WithdrawalEvent
from .selectors import withdrawals_review as review_selectors
from .services import payouts as payout_services
from .services import rules as rule_services
from .services import withdrawals as withdrawal_services

RULE_FIELDS = ("level1_bps", "level2_bps", "level1_fixed_fen", "level2_fixed_fen", "is_active")


@admin.register(CommissionRule)
class CommissionRuleAdmin(MoneyAdmin):
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


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """Template messages sent (or skipped / failed) to distributors, one row per event and user."""

    list_display = ("id", "kind", "user", "status", "error_code", "attempts", "msgid", "created_at", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("key", "openid", "user__nickname")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


# --- withdrawals: review through the services, never by editing ----------------------------

class WithdrawalReasonForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Shown to the distributor")


class WithdrawalEventInline(MoneyTabularInline):
    model = WithdrawalEvent
    extra = 0
    fields = readonly_fields = ("created_at", "from_status", "to_status", "actor", "reason", "data")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class _RiskChangeList(ChangeList):
    """The page's risk signals in a constant number of queries (one batch for the whole page)."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        review_selectors.withdrawals_risk_attach(withdrawals=self.result_list)


RISK_COLOURS = {"info": "#417690", "warning": "#b36b00", "danger": "#ba2121"}


@admin.register(Withdrawal)
class WithdrawalAdmin(MoneyAdmin):
    """The payout review queue. Nothing is edited here: approving and rejecting call the
    services (which lock the row, check the transition, move the money and write the event)."""

    list_display = ("id", "user", "distributor", "amount_fen", "fee_fen", "net_fen", "status", "risk", "debt",
                    "requested_at", "reviewed_by", "reviewed_at", "paid_at", "transfer_no")
    list_filter = ("status", "requested_at", "reviewed_at", ("reviewed_by", admin.RelatedOnlyFieldListFilter))
    search_fields = ("distributor__real_name", "distributor__phone", "user__nickname", "user__username",
                     "=transfer_no")
    list_select_related = ("user", "distributor", "reviewed_by")
    readonly_fields = [f.name for f in Withdrawal._meta.concrete_fields]
    raw_id_fields = ("user", "distributor", "reviewed_by")
    inlines = [WithdrawalEventInline]
    date_hierarchy = "requested_at"
    actions = ("approve_selected", "reject_selected", "cancel_transfer_selected", "export_csv")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # money fields, statuses and reviewers change only through the services

    def has_delete_permission(self, request, obj=None):
        return False

    def has_review_permission(self, request):
        return request.user.has_perm("commissions.review_withdrawal")

    def get_changelist(self, request, **kwargs):
        return _RiskChangeList

    @admin.display(description="risk")
    def risk(self, obj):
        level = getattr(obj, "risk_level", None)
        if level is None:
            return "-"
        return format_html('<span style="color:{}" title="{}">{}: {}</span>', RISK_COLOURS[level],
                           "; ".join(s["message"] for s in obj.risk_signals), level, ", ".join(obj.risk_codes))

    @admin.display(description="debt (¥)")
    def debt(self, obj):
        """What the requester owes now (loaded with the page's risk signals, not per row)."""
        debt = getattr(obj, "debt_fen", None)
        return "-" if debt is None else yuan_text(debt)

    def _review(self, request, queryset, *, action: str, reason: str = "") -> None:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        done, errors = [], {}
        for start in range(0, len(ids), withdrawal_services.MAX_BULK):
            result = withdrawal_services.withdrawals_review_bulk(
                operator=request.user, ids=ids[start:start + withdrawal_services.MAX_BULK], action=action,
                reason=reason)
            done += result["done"]
            errors.update(result["errors"])
        for withdrawal_id, error in sorted(errors.items()):
            self.message_user(request, f"#{withdrawal_id}: {error['code']}: {error['message']}", messages.ERROR)
        if done:
            label = "Approved" if action == "approve" else "Rejected"
            self.message_user(request, f"{label}: {len(done)} ({', '.join(f'#{i}' for i in done)}).",
                              messages.SUCCESS)

    @admin.action(description="Approve selected withdrawals (the payouts go out)", permissions=["review"])
    def approve_selected(self, request, queryset):
        self._review(request, queryset, action="approve")

    @admin.action(description="Reject selected withdrawals (with a reason; the money goes back)",
                  permissions=["review"])
    def reject_selected(self, request, queryset):
        form = WithdrawalReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self._review(request, queryset, action="reject", reason=form.cleaned_data["reason"])
            return None
        context = {
            **self.admin_site.each_context(request), "title": "Reject withdrawals",
            "intro": "A reason is required; the distributor sees it and the money goes back to the wallet.",
            "form": form, "queryset": queryset, "action": "reject_selected", "submit_label": "Reject",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/mall/action_form.html", context)

    @admin.action(description="Cancel the transfer of selected withdrawals the user has not confirmed yet "
                              "(with a reason; the money goes back once WeChat cancels it)", permissions=["review"])
    def cancel_transfer_selected(self, request, queryset):
        form = WithdrawalReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = []
            for withdrawal_id in queryset.order_by("pk").values_list("pk", flat=True)[:withdrawal_services.MAX_BULK]:
                try:
                    w = payout_services.withdrawal_cancel(withdrawal_id=withdrawal_id, actor=request.user,
                                                          reason=form.cleaned_data["reason"])
                except DomainError as exc:
                    self.message_user(request, f"#{withdrawal_id}: {exc.code}: {exc.message}", messages.ERROR)
                    continue
                done.append(f"#{w.pk} {w.status}")
            if done:
                self.message_user(request, f"Cancel asked of WeChat: {', '.join(done)}.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request), "title": "Cancel transfers",
            "intro": "Only a withdrawal waiting for the user's confirmation (a merchant transfer bill) can be "
                     "cancelled. A reason is required; the money goes back to the wallet once WeChat has "
                     "cancelled the bill. A bill the user confirmed meanwhile is paid instead.",
            "form": form, "queryset": queryset, "action": "cancel_transfer_selected",
            "submit_label": "Cancel transfers", "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/mall/action_form.html", context)

    @admin.action(description="Export the selected withdrawals as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        rows = review_selectors.withdrawal_export_rows(queryset=queryset.order_by("requested_at", "pk"))
        return csv_response(f"withdrawals-{timezone.localtime():%Y%m%d-%H%M%S}.csv", review_selectors.EXPORT_HEADER,
                            rows)
