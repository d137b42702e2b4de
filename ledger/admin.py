"""The books in the operators' console: read-only, filterable, exportable.

Nothing here can add, change or delete a ledger row: money moves only through
`ledger.services.ledger_post`.
"""
from __future__ import annotations

from functools import partial

from django.contrib import admin
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin
from core.admin_money import MoneyTabularInline, yuan_text
from core.money import yuan as money_yuan

from .models import Account, Entry, LedgerTransaction

# The console's form of an amount: "1,234.56", None -> "-" (core.money.yuan).
yuan = partial(money_yuan, grouped=True)


class OwnerTypeFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "owner_type"

    def lookups(self, request, model_admin):
        return [("user", "a user"), ("thing", "a campaign or other thing"), ("platform", "the platform")]

    def queryset(self, request, queryset):
        if self.value() == "user":
            return queryset.filter(owner__isnull=False)
        if self.value() == "thing":
            return queryset.filter(owner__isnull=True).exclude(ref="")
        if self.value() == "platform":
            return queryset.filter(owner__isnull=True, ref="")
        return queryset


def _user_link(user) -> str:
    if user is None:
        return "-"
    url = reverse("admin:accounts_user_change", args=[user.pk])
    return format_html('<a href="{}">{}</a>', url, user)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    show_full_result_count = False  # no second COUNT(*) over a big table
    list_display = ("code", "kind", "owner_link", "ref", "allow_negative", "balance_fen", "created_at", "entries_link")
    list_filter = ("kind", OwnerTypeFilter, "allow_negative", "created_at")
    list_select_related = ("owner",)
    search_fields = ("code", "ref", "=owner__id", "owner__username", "owner__nickname")
    date_hierarchy = "created_at"
    ordering = ("code",)
    fields = ("code", "kind", "owner_link", "ref", "allow_negative", "balance_fen", "created_at", "entries_link")
    readonly_fields = fields
    csv_fields = ("id", "code", "kind", "owner_id", "ref", "allow_negative", "balance_fen", "created_at")

    @admin.display(description="owner", ordering="owner__username")
    def owner_link(self, obj):
        return _user_link(obj.owner)

    @admin.display(description="entries")
    def entries_link(self, obj):
        url = reverse("admin:ledger_entry_changelist")
        return format_html('<a href="{}?account__id__exact={}">entries</a>', url, obj.pk)


class EntryInline(MoneyTabularInline):
    model = Entry
    fields = ("account", "amount_fen", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    show_full_result_count = False  # no second COUNT(*) over a big table
    list_display = ("id", "kind", "idempotency_key", "moved", "memo", "cause", "created_by", "created_at")
    list_filter = ("kind", "cause_type", "created_at")
    list_select_related = ("created_by",)
    search_fields = ("=id", "idempotency_key", "cause_id", "memo", "kind")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fields = ("kind", "idempotency_key", "memo", "cause_type", "cause_id", "created_by", "created_at", "moved")
    readonly_fields = fields
    inlines = [EntryInline]
    csv_fields = ("id", "kind", "idempotency_key", "memo", "cause_type", "cause_id", "created_by_id", "created_at")

    def get_queryset(self, request):
        positive = Q(entries__amount_fen__gt=0)
        return super().get_queryset(request).annotate(
            moved_fen=Sum("entries__amount_fen", filter=positive, default=0)
        )

    @admin.display(description="moved (¥)", ordering="moved_fen")
    def moved(self, obj):
        return yuan_text(obj.moved_fen)

    @admin.display(description="cause")
    def cause(self, obj):
        return f"{obj.cause_type}:{obj.cause_id}" if obj.cause_type else "-"


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    show_full_result_count = False  # no second COUNT(*) over a big table
    list_display = ("id", "transaction_link", "kind", "account", "amount_fen", "created_at")
    list_filter = ("account__kind", "transaction__kind", "created_at")
    list_select_related = ("account", "transaction")
    search_fields = ("account__code", "transaction__idempotency_key", "=transaction__id", "=account__owner__id")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fields = ("transaction_link", "kind", "account", "amount_fen", "created_at")
    readonly_fields = fields
    csv_fields = ("id", "transaction_id", "transaction__kind", "transaction__idempotency_key", "account__code",
                  "amount_fen", "created_at")

    @admin.display(description="transaction", ordering="transaction_id")
    def transaction_link(self, obj):
        url = reverse("admin:ledger_ledgertransaction_change", args=[obj.transaction_id])
        return format_html('<a href="{}">#{}</a>', url, obj.transaction_id)

    @admin.display(description="kind", ordering="transaction__kind")
    def kind(self, obj):
        return obj.transaction.kind
