"""The operators' withdrawal review: the queue, one withdrawal with its history, risk signals.

A page of the queue costs a constant number of queries, whatever its size: the rows come with
their user, distributor and reviewer (`select_related`), and `withdrawal_risk_signals` works
on a batch of withdrawals at once — each signal is one grouped query over all of the batch's
users or distributors, never one query per row.

A risk signal is a small dict `{code, level, message, value}`; `level` is info < warning <
danger, and a row's `risk_level` is the highest of its signals (None when it has none):

* `new_account` (warning): the user joined, or the distributor was approved, less than
  NEW_ACCOUNT_DAYS ago.
* `recent_refunds` (info / warning / danger): refunds took commission back from them in the
  last REFUND_WINDOW_DAYS; the level grows with the share of all they earned that was taken back.
* `shared_ip` (warning / danger): at least SHARED_IP_MIN_CUSTOMERS of their customers logged in
  from one IP (warning) or from one device, i.e. IP + user agent (danger).
* `self_referral` (warning / danger): paid orders attributed to them that they bought
  themselves, or whose buyer shares one of their login IPs (or was placed from one); danger
  from SHARED_IP_MIN_CUSTOMERS such buyers.
* `large_amount` (warning): more than LARGE_AMOUNT_FACTOR × the average of their previous
  withdrawals; `first_withdrawal` (info) when there is none to compare with.
* `debt_outstanding` (danger): they owe commission refunded after it settled.

"Their customers" are the customers bound to the distributor (CustomerBinding) and the buyers
of paid orders attributed to them (the order's attribution snapshot), the distributor excluded.
IPs and devices come from login tokens (`AuthToken.ip`, `user_agent`); `self_referral` also
looks at the IP an order was placed from (`Order.client_ip`). Attributed orders are found
through the JSON snapshot (`attribution->>'distributor_id'`, not indexed): fine for a page of
distributors, a cost to watch on a very large orders table.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from accounts.models import AuthToken
from core.errors import NotFound
from core.money import BPS
from distributors.models import CustomerBinding, Distributor
from ledger.models import Account, AccountKind, Entry
from ledger.selectors import user_balances
from mall.models import Order

from ..models import Commission, CommissionStatus, Withdrawal, WithdrawalEvent, WithdrawalStatus

LEVELS = ("info", "warning", "danger")
NEW_ACCOUNT_DAYS = 7
REFUND_WINDOW_DAYS = 30
REFUND_SHARE_WARNING_BPS = 2_000  # a fifth of their commissions taken back
REFUND_SHARE_DANGER_BPS = 5_000  # half
SHARED_IP_MIN_CUSTOMERS = 3
LARGE_AMOUNT_FACTOR = 3
RISK_SCAN_MAX = 5_000  # the `risk` filter judges at most this many matching rows (newest first)
RISK_SCAN_BATCH = 500
# Withdrawals that took money out (or are on the way): what "their history" of amounts means.
COUNTED = (WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED, WithdrawalStatus.PAYING,
           WithdrawalStatus.CONFIRMING, WithdrawalStatus.PAID)

ORDERINGS = {
    "requested_at": ("requested_at", "pk"),
    "-requested_at": ("-requested_at", "-pk"),
    "amount_fen": ("amount_fen", "pk"),
    "-amount_fen": ("-amount_fen", "-pk"),
    "reviewed_at": (F("reviewed_at").asc(nulls_last=True), "pk"),
    "-reviewed_at": (F("reviewed_at").desc(nulls_last=True), "-pk"),
    "id": ("pk",),
    "-id": ("-pk",),
}
DEFAULT_ORDERING = "-requested_at"


# --- the queue --------------------------------------------------------------------------

def withdrawal_list_for_review(
    *,
    status: str | None = None,
    user_id: int | None = None,
    distributor_id: int | None = None,
    min_fen: int | None = None,
    max_fen: int | None = None,
    requested_from: datetime | None = None,
    requested_to: datetime | None = None,
    reviewed_by: int | None = None,
    q: str | None = None,
    risk: str | None = None,
    ordering: str = DEFAULT_ORDERING,
) -> QuerySet[Withdrawal]:
    """The review queue, filtered (all filters AND; amounts and times inclusive).

    `q` matches the distributor's real name or phone, the user's nickname (contains, any case)
    or the start of the transfer number. `risk` keeps rows whose highest signal is at least
    that level — judged over the newest RISK_SCAN_MAX matching rows, in batches."""
    qs = Withdrawal.objects.select_related("user", "distributor", "reviewed_by")
    if status:
        qs = qs.filter(status=status)
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    if distributor_id is not None:
        qs = qs.filter(distributor_id=distributor_id)
    if min_fen is not None:
        qs = qs.filter(amount_fen__gte=min_fen)
    if max_fen is not None:
        qs = qs.filter(amount_fen__lte=max_fen)
    if requested_from is not None:
        qs = qs.filter(requested_at__gte=requested_from)
    if requested_to is not None:
        qs = qs.filter(requested_at__lte=requested_to)
    if reviewed_by is not None:
        qs = qs.filter(reviewed_by_id=reviewed_by)
    if q:
        q = q.strip()
        qs = qs.filter(Q(distributor__real_name__icontains=q) | Q(distributor__phone__contains=q)
                       | Q(user__nickname__icontains=q) | Q(transfer_no__istartswith=q))
    if risk:
        qs = qs.filter(pk__in=withdrawal_ids_at_risk(queryset=qs, min_level=risk))
    return qs.order_by(*ORDERINGS.get(ordering, ORDERINGS[DEFAULT_ORDERING]))


def withdrawal_get_for_review(*, withdrawal_id: int) -> Withdrawal:
    w = Withdrawal.objects.select_related("user", "distributor", "reviewed_by").filter(pk=withdrawal_id).first()
    if w is None:
        raise NotFound("Withdrawal not found.")
    return w


def withdrawal_ids_at_risk(*, queryset: QuerySet[Withdrawal], min_level: str,
                           limit: int = RISK_SCAN_MAX) -> list[int]:
    """Ids of the (newest `limit`) rows of `queryset` whose risk level is at least `min_level`."""
    floor = LEVELS.index(min_level)
    ids = list(queryset.order_by("-pk").values_list("pk", flat=True)[:limit])
    keep: list[int] = []
    for start in range(0, len(ids), RISK_SCAN_BATCH):
        batch = ids[start:start + RISK_SCAN_BATCH]
        for withdrawal_id, signals in withdrawal_risk_signals(withdrawal_ids=batch).items():
            level = risk_level(signals)
            if level is not None and LEVELS.index(level) >= floor:
                keep.append(withdrawal_id)
    return keep


def withdrawals_risk_attach(*, withdrawals: Sequence[Withdrawal]) -> Sequence[Withdrawal]:
    """Set `risk_signals`, `risk_level`, `risk_codes` and `debt_fen` (what the requester owes
    now, ≥ 0) on each row of a page, in a constant number of queries: the debt is read with
    the signals, in the same one query over the page's users."""
    signals = withdrawal_risk_signals(withdrawal_ids=[w.pk for w in withdrawals])
    for w in withdrawals:
        w.risk_signals = signals.get(w.pk, [])
        w.risk_level = risk_level(w.risk_signals)
        w.risk_codes = [s["code"] for s in w.risk_signals]
        w.debt_fen = debt_from_signals(w.risk_signals)
    return withdrawals


def debt_from_signals(signals: Iterable[dict]) -> int:
    """The requester's outstanding debt in fen (≥ 0): the `debt_outstanding` signal's value,
    raised whenever their debt account is below zero."""
    for s in signals:
        if s["code"] == "debt_outstanding":
            return int(s["value"]["debt_fen"])
    return 0


def risk_level(signals: Iterable[dict]) -> str | None:
    levels = [LEVELS.index(s["level"]) for s in signals]
    return LEVELS[max(levels)] if levels else None


# --- one withdrawal -----------------------------------------------------------------------

def withdrawal_detail_for_review(*, withdrawal_id: int) -> dict:
    """The withdrawal, its events (who did what, when), the distributor's history and the risk."""
    w = withdrawal_get_for_review(withdrawal_id=withdrawal_id)
    events = list(WithdrawalEvent.objects.filter(withdrawal_id=w.pk).select_related("actor").order_by("pk"))

    previous = {s: {"count": 0, "amount_fen": 0, "net_fen": 0} for s in WithdrawalStatus.values}
    for row in (Withdrawal.objects.filter(user_id=w.user_id, pk__lt=w.pk).order_by().values("status")
                .annotate(n=Count("pk"), amount=Sum("amount_fen"), net=Sum("net_fen"))):
        previous[row["status"]] = {"count": row["n"], "amount_fen": int(row["amount"] or 0),
                                   "net_fen": int(row["net"] or 0)}

    live = F("amount_fen") - F("reversed_fen")
    commissions = {s: {"count": 0, "amount_fen": 0} for s in CommissionStatus.values}
    accrued = reversed_total = 0
    for row in (Commission.objects.filter(beneficiary_id=w.user_id).order_by().values("status")
                .annotate(n=Count("pk"), live=Sum(live), amount=Sum("amount_fen"), back=Sum("reversed_fen"))):
        # reversed commissions hold 0 live fen: show what was taken back under `reversed`
        fen = int(row["back"] or 0) if row["status"] == CommissionStatus.REVERSED else int(row["live"] or 0)
        commissions[row["status"]] = {"count": row["n"], "amount_fen": fen}
        accrued += int(row["amount"] or 0)
        reversed_total += int(row["back"] or 0)

    balances = user_balances(user=w.user)
    signals = withdrawal_risk_signals(withdrawal_ids=[w.pk]).get(w.pk, [])
    return {
        "withdrawal": w,
        "events": events,
        "history": {
            "previous_withdrawals": {
                "count": sum(v["count"] for v in previous.values()),
                "by_status": previous,
            },
            "commissions": {
                "accrued_fen": accrued,
                "reversed_fen": reversed_total,
                "by_status": commissions,
            },
            "wallet": {
                "available_fen": balances[AccountKind.USER_WALLET],
                "frozen_fen": balances[AccountKind.USER_FROZEN],
                "withdrawing_fen": balances[AccountKind.USER_WITHDRAWING],
                "debt_fen": -balances[AccountKind.USER_DEBT],
            },
        },
        "debt_fen": -balances[AccountKind.USER_DEBT],
        "risk_level": risk_level(signals),
        "risk_signals": signals,
    }


# --- risk signals -------------------------------------------------------------------------

def _signal(code: str, level: str, message: str, value) -> dict:
    return {"code": code, "level": level, "message": message, "value": value}


def _subquery_value(expr_qs: QuerySet, name: str) -> Subquery:
    """A correlated COUNT/SUM subquery over `expr_qs` (already grouped by its correlation)."""
    return Coalesce(Subquery(expr_qs.values(name)[:1]), Value(0), output_field=BigIntegerField())


def _attributed_paid_orders(distributor_ids: Iterable[int]) -> QuerySet[Order]:
    """Paid orders whose attribution snapshot names one of the distributors (as `d`)."""
    return (Order.objects.filter(paid_at__isnull=False)
            .annotate(d=Cast(KT("attribution__distributor_id"), BigIntegerField()))
            .filter(d__in=list(distributor_ids)))


def _largest_customer_groups(distributor_ids: list[int], *, by_device: bool) -> dict[int, tuple[int, str, str]]:
    """Per distributor: (distinct customers, ip, user agent) of the largest group of their
    customers who logged in from one IP (or one IP + user agent). One query for all."""
    bound = (CustomerBinding.objects.filter(distributor_id__in=distributor_ids)
             .annotate(d=F("distributor_id"), c=F("customer_id")).values_list("d", "c"))
    bought = _attributed_paid_orders(distributor_ids).annotate(c=F("user_id")).values_list("d", "c")
    customers_sql, params = bound.union(bought).query.sql_with_params()  # UNION: each pair once
    qn = connection.ops.quote_name
    token, dist = qn(AuthToken._meta.db_table), qn(Distributor._meta.db_table)
    device_col = ", t.user_agent" if by_device else ""
    device_where = " AND t.user_agent <> ''" if by_device else ""
    sql = (
        f"SELECT x.d, t.ip{device_col}, COUNT(DISTINCT x.c) AS n FROM ({customers_sql}) x "  # noqa: S608
        f"JOIN {token} t ON t.user_id = x.c JOIN {dist} dd ON dd.id = x.d "
        f"WHERE t.ip IS NOT NULL AND x.c <> dd.user_id{device_where} "
        f"GROUP BY x.d, t.ip{device_col} HAVING COUNT(DISTINCT x.c) >= %s"
    )
    best: dict[int, tuple[int, str, str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, 2])
        for row in cursor.fetchall():
            d, ip, n = row[0], str(row[1]), row[-1]
            agent = row[2] if by_device else ""
            if n > best.get(d, (0, "", ""))[0] or (n == best[d][0] and ip < best[d][1]):
                best[d] = (n, ip, agent)
    return best


def _self_referrals(distributor_ids: list[int]) -> dict[int, dict]:
    """Per distributor: paid attributed orders bought by the distributor themself, and those whose
    buyer logged in from one of the distributor's login IPs (or ordered from one). One query."""
    distributor_user = Subquery(Distributor.objects.filter(pk=OuterRef("d")).values("user_id")[:1])
    orders = _attributed_paid_orders(distributor_ids).annotate(du=distributor_user)
    their_ips = AuthToken.objects.filter(user_id=OuterRef(OuterRef("du")), ip__isnull=False).values("ip")
    buyer_shares = Exists(AuthToken.objects.filter(user_id=OuterRef("user_id"), ip__in=their_ips))
    placed_from = Q(client_ip__in=AuthToken.objects.filter(user_id=OuterRef("du"), ip__isnull=False).values("ip"))
    rows = (orders.annotate(shares=buyer_shares)
            .filter(Q(user_id=F("du")) | Q(shares=True) | placed_from)
            .values_list("d", "user_id", "du", "paid_fen"))
    out: dict[int, dict] = defaultdict(lambda: {"own_orders": 0, "own_fen": 0, "shared_ip_orders": 0,
                                                "shared_ip_fen": 0, "shared_ip_buyers": set()})
    for d, buyer, du, paid in rows:
        agg = out[d]
        if buyer == du:
            agg["own_orders"] += 1
            agg["own_fen"] += paid
        else:
            agg["shared_ip_orders"] += 1
            agg["shared_ip_fen"] += paid
            agg["shared_ip_buyers"].add(buyer)
    return out


def withdrawal_risk_signals(*, withdrawal_ids: Sequence[int], now: datetime | None = None) -> dict[int, list[dict]]:
    """Risk signals for a batch of withdrawals: {withdrawal id: [signal, …]} (only triggered
    signals; every id requested that exists is a key). About eight queries for any batch size."""
    ids = list(withdrawal_ids)
    if not ids:
        return {}
    now = now or timezone.now()
    earlier = (Withdrawal.objects.filter(user_id=OuterRef("user_id"), pk__lt=OuterRef("pk"), status__in=COUNTED)
               .order_by().values("user_id"))
    rows = list(
        Withdrawal.objects.filter(pk__in=ids)
        .annotate(prev_n=_subquery_value(earlier.annotate(n=Count("pk")), "n"),
                  prev_fen=_subquery_value(earlier.annotate(fen=Sum("amount_fen")), "fen"))
        .values_list("pk", "user_id", "distributor_id", "amount_fen", "user__date_joined",
                     "distributor__approved_at", "prev_n", "prev_fen")
    )
    user_ids = sorted({r[1] for r in rows})
    distributor_ids = sorted({r[2] for r in rows})

    debts = dict(Account.objects.filter(owner_id__in=user_ids, kind=AccountKind.USER_DEBT, balance_fen__lt=0)
                 .values_list("owner_id", "balance_fen"))
    accrued = dict(Commission.objects.filter(beneficiary_id__in=user_ids).order_by().values("beneficiary_id")
                   .annotate(fen=Sum("amount_fen")).values_list("beneficiary_id", "fen"))
    since = now - timedelta(days=REFUND_WINDOW_DAYS)
    reversals = {
        owner: (n, -int(fen or 0))
        for owner, n, fen in Entry.objects.filter(
            account__owner_id__in=user_ids, transaction__kind="commission.reverse", created_at__gte=since,
        ).order_by().values("account__owner_id").annotate(
            n=Count("transaction_id", distinct=True), fen=Sum("amount_fen"),
        ).values_list("account__owner_id", "n", "fen")
    }
    by_ip = _largest_customer_groups(distributor_ids, by_device=False)
    by_device = _largest_customer_groups(distributor_ids, by_device=True)
    self_refs = _self_referrals(distributor_ids)

    out: dict[int, list[dict]] = {}
    for pk, user_id, distributor_id, amount, joined, approved_at, prev_n, prev_fen in rows:
        signals: list[dict] = []
        user_days = (now - joined).days if joined else None
        dist_days = (now - approved_at).days if approved_at else None
        if (user_days is not None and user_days < NEW_ACCOUNT_DAYS) or (
                dist_days is not None and dist_days < NEW_ACCOUNT_DAYS):
            approved_text = f"approved {dist_days} days ago" if dist_days is not None else "not approved"
            signals.append(_signal(
                "new_account", "warning",
                f"New account: joined {user_days} days ago, distributor {approved_text}.",
                {"user_days": user_days, "distributor_days": dist_days, "threshold_days": NEW_ACCOUNT_DAYS}))

        if user_id in reversals:
            n, fen = reversals[user_id]
            share = fen * BPS // accrued[user_id] if accrued.get(user_id) else BPS
            level = ("danger" if share >= REFUND_SHARE_DANGER_BPS
                     else "warning" if share >= REFUND_SHARE_WARNING_BPS else "info")
            signals.append(_signal(
                "recent_refunds", level,
                f"{n} refund(s) took back {fen} fen of their commissions in the last {REFUND_WINDOW_DAYS} days "
                f"({share / 100:.0f}% of all they earned).",
                {"count": n, "reversed_fen": fen, "share_bps": share, "window_days": REFUND_WINDOW_DAYS}))

        device = by_device.get(distributor_id)
        ip_group = by_ip.get(distributor_id)
        if device and device[0] >= SHARED_IP_MIN_CUSTOMERS:
            signals.append(_signal(
                "shared_ip", "danger",
                f"{device[0]} of their customers logged in from one device (IP {device[1]}, same browser).",
                {"customers": device[0], "ip": device[1], "by": "device", "user_agent": device[2][:80]}))
        elif ip_group and ip_group[0] >= SHARED_IP_MIN_CUSTOMERS:
            signals.append(_signal(
                "shared_ip", "warning", f"{ip_group[0]} of their customers logged in from one IP ({ip_group[1]}).",
                {"customers": ip_group[0], "ip": ip_group[1], "by": "ip"}))

        ref = self_refs.get(distributor_id)
        if ref:
            buyers = len(ref["shared_ip_buyers"])
            level = "danger" if buyers >= SHARED_IP_MIN_CUSTOMERS else "warning"
            signals.append(_signal(
                "self_referral", level,
                f"Paid orders credited to them: {ref['own_orders']} bought by themself, {ref['shared_ip_orders']} "
                f"by {buyers} buyer(s) sharing their IP.",
                {"own_orders": ref["own_orders"], "own_fen": ref["own_fen"],
                 "shared_ip_orders": ref["shared_ip_orders"], "shared_ip_fen": ref["shared_ip_fen"],
                 "shared_ip_buyers": buyers}))

        if prev_n:
            average = prev_fen // prev_n
            if amount > LARGE_AMOUNT_FACTOR * average:
                signals.append(_signal(
                    "large_amount", "warning",
                    f"{amount} fen is more than {LARGE_AMOUNT_FACTOR}× their average withdrawal ({average} fen).",
                    {"amount_fen": amount, "average_fen": average, "previous": prev_n,
                     "factor": LARGE_AMOUNT_FACTOR}))
        else:
            signals.append(_signal("first_withdrawal", "info", "Their first withdrawal: no history to compare.",
                                   {"amount_fen": amount}))

        if user_id in debts:
            debt = -debts[user_id]
            signals.append(_signal("debt_outstanding", "danger",
                                   f"They owe {debt} fen of commission refunded after it settled.",
                                   {"debt_fen": debt}))
        out[pk] = signals
    return out


# --- export -------------------------------------------------------------------------------

EXPORT_HEADER = [
    "id", "status", "requested_at", "user_id", "nickname", "distributor_id", "real_name", "amount_fen", "fee_fen",
    "net_fen", "reviewed_by_id", "reviewed_by", "reviewed_at", "reason", "transfer_no", "paying_at", "paid_at",
    "failed_at", "error_code",
]
_EXPORT_FIELDS = (
    "pk", "status", "requested_at", "user_id", "user__nickname", "distributor_id", "distributor__real_name",
    "amount_fen", "fee_fen", "net_fen", "reviewed_by_id", "reviewed_by__username", "reviewed_at", "reason",
    "transfer_no", "paying_at", "paid_at", "failed_at", "error_code",
)


def withdrawal_export_rows(*, queryset: QuerySet[Withdrawal]) -> Iterator[tuple]:
    """The rows of the payout report (EXPORT_HEADER order), streamed in chunks; times local."""
    for row in queryset.values_list(*_EXPORT_FIELDS).iterator(chunk_size=2000):
        yield tuple(timezone.localtime(v) if isinstance(v, datetime) else v for v in row)

