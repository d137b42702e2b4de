"""Reads of the ledger, including the audit."""
from __future__ import annotations

import logging

from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from .models import USER_KINDS, Account, Entry, LedgerTransaction

logger = logging.getLogger(__name__)

AUDIT_SAMPLE = 50  # how many offenders the report lists


def ledger_audit() -> dict:
    """Recompute every balance from its entries and every transaction's sum.

    Set-based: three aggregate queries whatever the size of the books.
    """
    entry_sum = (
        Entry.objects.filter(account=OuterRef("pk"))
        .order_by()
        .values("account")
        .annotate(total=Sum("amount_fen"))
        .values("total")
    )
    accounts = Account.objects.annotate(entries_fen=Coalesce(Subquery(entry_sum), Value(0)))
    mismatched = [
        {"account": a["code"], "balance_fen": a["balance_fen"], "entries_fen": a["entries_fen"]}
        for a in accounts.exclude(balance_fen=Coalesce(Subquery(entry_sum), Value(0))).values(
            "code", "balance_fen", "entries_fen"
        )[:AUDIT_SAMPLE]
    ]
    negative = list(
        Account.objects.filter(allow_negative=False, balance_fen__lt=0).values_list("code", flat=True)[:AUDIT_SAMPLE]
    )
    unbalanced_qs = (
        Entry.objects.order_by()
        .values("transaction_id")
        .annotate(total=Sum("amount_fen"), n=Count("id"))
        .exclude(total=0, n__gte=2)
    )
    unbalanced = [
        {"transaction": row["transaction_id"], "sum_fen": row["total"], "entries": row["n"]}
        for row in unbalanced_qs[:AUDIT_SAMPLE]
    ]
    empty = list(
        LedgerTransaction.objects.filter(entries__isnull=True).values_list("pk", flat=True)[:AUDIT_SAMPLE]
    )
    unbalanced.extend({"transaction": pk, "sum_fen": 0, "entries": 0} for pk in empty)
    total_balance = Account.objects.aggregate(t=Coalesce(Sum("balance_fen"), Value(0)))["t"]
    report = {
        "ok": not mismatched and not unbalanced and not negative and total_balance == 0,
        "accounts": Account.objects.count(),
        "transactions": LedgerTransaction.objects.count(),
        "total_balance_fen": total_balance,
        "mismatched_accounts": mismatched,
        "unbalanced_transactions": unbalanced,
        "negative_accounts": negative,
    }
    if not report["ok"]:
        logger.error("ledger.audit failed: %s", report)
    return report


def user_balances(*, user) -> dict[str, int]:
    """The user's ledger balances by account kind (0 for accounts not opened yet)."""
    balances = {kind: 0 for kind in USER_KINDS}
    for kind, balance in Account.objects.filter(owner=user, kind__in=USER_KINDS).values_list("kind", "balance_fen"):
        balances[kind] = balance
    return balances


def user_entries(*, user) -> QuerySet[Entry]:
    """The user's ledger lines, newest first."""
    return (
        Entry.objects.filter(account__owner=user)
        .select_related("account", "transaction")
        .order_by("-id")
    )
