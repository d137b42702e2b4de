"""Reads of the distribution figures: a distributor's stats, leaderboards, evangelists.

Everything here reads the daily aggregates (DistributorDailyStat), the per-distributor
customer totals (DistributorCustomerTotals) and small per-distributor lookups (team, bindings);
never the Order or click rows in bulk. So a distributor's stats cost the same three queries
with a hundred orders or a million (the bound-customers count, a few milliseconds for a big
distributor, is cached for a minute). The one look at Order is "has this person paid for an
order of their own?" for at most one page of distributors (an indexed lookup by user), which
is what tells an evangelist apart; and the operators' audit (stats_audit), which recounts.

Ratios are integers or strings, never floats: `conversion_bps` (orders per unique visitor in
basis points, floored) and `conversion_rate` (the same as a decimal string with 4 places, e.g.
"0.0123"); both are null when there were no unique visitors. Money per click is integer fen,
floored, null without clicks.
"""
from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import BigIntegerField, Exists, ExpressionWrapper, F, OuterRef, QuerySet, Sum
from django.utils import timezone

from core.errors import InvalidInput
from mall.models import Order, OrderStatus

from ..hooks import commission_totals
from ..models import (
    Distributor,
    DistributorCustomerTotals,
    DistributorDailyStat,
    DistributorStatus,
    LinkDailyStat,
    ShareLink,
)
from .distributors import distributor_customers

DEFAULT_DAYS = 30
BOUND_CACHE_SECONDS = 60
MAX_DAYS = 366
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

LEADERBOARD_PERIODS = {"day": 1, "week": 7, "month": 30}
LEADERBOARD_MEASURES = ("gmv", "orders", "conversion")
LEADERBOARD_SIZE = 20
LEADERBOARD_CACHE_SECONDS = 60
# A conversion rank needs this many unique visitors in the period (1 order of 1 visit is no feat).
LEADERBOARD_MIN_VISITORS = 20

COMMISSION_STATUSES = ("pending_fen", "frozen_fen", "settled_fen", "reversed_fen")


def stats_day(moment: datetime) -> date:
    """The calendar day of a moment in the shop's time zone (settings.TIME_ZONE)."""
    return moment.astimezone(ZoneInfo(settings.TIME_ZONE)).date()


def stats_today() -> date:
    return stats_day(timezone.now())


def _parse_day(name: str, raw: str) -> date:
    if not DATE_RE.match(raw):
        raise InvalidInput(f"{name} must be a date YYYY-MM-DD.", extra={"fields": {name: ["Use YYYY-MM-DD."]}})
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} is not a valid date.", extra={"fields": {name: ["Not a valid date."]}}) from None


def stats_range_parse(*, date_from: str | None, date_to: str | None, today: date | None = None) -> tuple[date, date]:
    """The inclusive day range of `?from=&to=`: both optional (default: the last 30 days up to
    today; `from` alone runs to today; `to` alone starts 29 days before it). At most MAX_DAYS
    days, `from` not after `to`; anything else is `invalid` (400) with the field named."""
    today = today or stats_today()
    day_from = _parse_day("from", date_from) if date_from else None
    day_to = _parse_day("to", date_to) if date_to else None
    if day_to is None:
        day_to = today
    if day_from is None:
        day_from = day_to - timedelta(days=DEFAULT_DAYS - 1)
    if day_from > day_to:
        raise InvalidInput("from is after to.", extra={"fields": {"from": ["Must not be after to."]}})
    if (day_to - day_from).days + 1 > MAX_DAYS:
        raise InvalidInput(
            f"The range is longer than {MAX_DAYS} days.", extra={"fields": {"to": [f"At most {MAX_DAYS} days."]}}
        )
    return day_from, day_to


def conversion_bps(*, orders: int, unique_visitors: int) -> int | None:
    return orders * 10000 // unique_visitors if unique_visitors > 0 else None


def bps_as_rate(bps: int | None) -> str | None:
    """Basis points as a decimal ratio string with 4 places (123 → "0.0123")."""
    if bps is None:
        return None
    return f"{bps // 10000}.{bps % 10000:04d}"


def bound_customers_count(*, distributor_id: int) -> int:
    """Customers bound to the distributor now. Counting a big distributor's bindings takes a few
    milliseconds and bindings change slowly, so the figure is cached for BOUND_CACHE_SECONDS."""
    key = f"distributors:bound:v1:{distributor_id}"
    count = cache.get(key)
    if count is None:
        count = distributor_customers(distributor=Distributor(pk=distributor_id)).count()
        cache.set(key, count, BOUND_CACHE_SECONDS)
    return count


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _head(*, by: str, value: int) -> dict | None:
    """The distributor (by "id" or "user_id") with its customer totals and team size, in one
    query. Plain SQL: this runs on every stats request, and compiling the same query through
    the ORM (four correlated subqueries) costs several times what PostgreSQL takes to run it."""
    if by not in ("id", "user_id"):
        raise ValueError(by)
    distributor, totals = _table(Distributor), _table(DistributorCustomerTotals)
    # Table names come from our models; values are parameters.
    sql = (
        f"SELECT d.id, "  # noqa: S608
        f"COALESCE((SELECT t.customers FROM {totals} t WHERE t.distributor_id = d.id), 0), "
        f"COALESCE((SELECT t.repeat_customers FROM {totals} t WHERE t.distributor_id = d.id), 0), "
        f"(SELECT COUNT(*) FROM {distributor} c WHERE c.inviter_id = d.id AND c.status = %s), "
        f"(SELECT COUNT(*) FROM {distributor} c JOIN {distributor} m ON c.inviter_id = m.id "
        f"WHERE m.inviter_id = d.id AND c.status = %s) "
        f"FROM {distributor} d WHERE d.{by} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [DistributorStatus.APPROVED, DistributorStatus.APPROVED, value])
        row = cursor.fetchone()
    if row is None:
        return None
    keys = ("pk", "customers", "repeat_customers", "team_level1", "team_level2")
    return dict(zip(keys, (int(v) for v in row), strict=True))


def distributor_stats(*, distributor: Distributor, day_from: date, day_to: date) -> dict:
    """The stats page of one distributor for an inclusive day range."""
    return _stats(_head(by="id", value=distributor.pk), day_from=day_from, day_to=day_to)


def distributor_stats_for_user(*, user, day_from: date, day_to: date) -> dict | None:
    """The stats page of the user's own distributor; None when the user is not a distributor.

    Three queries whatever the data: the distributor with its customer totals and team size,
    the daily rows of the range, and (once a minute) the bound customers count."""
    head = _head(by="user_id", value=user.pk)
    return None if head is None else _stats(head, day_from=day_from, day_to=day_to)


def _stats(head: dict, *, day_from: date, day_to: date) -> dict:
    distributor_id = head["pk"]
    names = ("clicks", "unique_visitors", "orders", "gmv_fen", "new_customers")
    # Plain SQL for the same reason as _head (one statement, at most 366 rows by the unique index).
    sql = (
        f"SELECT day, {', '.join(names)} FROM {_table(DistributorDailyStat)} "  # noqa: S608
        "WHERE distributor_id = %s AND day >= %s AND day <= %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [distributor_id, day_from, day_to])
        fetched = cursor.fetchall()
    rows = {}
    for day, *values in fetched:
        day = day if isinstance(day, date) else date.fromisoformat(day)  # SQLite gives text
        rows[day] = {"day": day, **dict(zip(names, values, strict=True))}
    totals = dict.fromkeys(names, 0)
    series = []
    zero = dict.fromkeys(names, 0)
    day = day_from
    one_day = timedelta(days=1)
    while day <= day_to:
        row = rows.get(day)
        if row is None:
            series.append({"day": day, **zero})
        else:
            series.append(row)
            for name in names:
                totals[name] += row[name]
        day += one_day
    bps = conversion_bps(orders=totals["orders"], unique_visitors=totals["unique_visitors"])
    clicks = totals["clicks"]
    commissions = commission_totals_for(distributor_id=distributor_id, day_from=day_from, day_to=day_to)
    earned = None
    if commissions is not None:
        earned = commissions["pending_fen"] + commissions["frozen_fen"] + commissions["settled_fen"]
    return {
        "from": day_from,
        "to": day_to,
        **totals,
        "conversion_bps": bps,
        "conversion_rate": bps_as_rate(bps),
        "gmv_per_click_fen": totals["gmv_fen"] // clicks if clicks else None,
        "epc_fen": earned // clicks if earned is not None and clicks else None,
        "commissions": commissions,
        "team": {"level1": head["team_level1"], "level2": head["team_level2"]},
        "bound_customers": bound_customers_count(distributor_id=distributor_id),
        "customers": head["customers"],
        "repeat_customers": head["repeat_customers"],
        "series": series,
    }


def commission_totals_for(*, distributor_id: int, day_from: date, day_to: date) -> dict[str, int] | None:
    """The commission figures from the `distributors.commission_totals` hook (distributors/hooks.py),
    or None while no commissions app has registered."""
    fn = commission_totals.one()
    if fn is None:
        return None
    totals = fn(distributor_id=distributor_id, day_from=day_from, day_to=day_to) or {}
    return {key: int(totals.get(key) or 0) for key in COMMISSION_STATUSES}


# --- own purchases (who is an evangelist) -------------------------------------------------------


def _own_paid_orders() -> QuerySet[Order]:
    """Orders a person paid for themselves (fully refunded ones do not count)."""
    return Order.objects.filter(paid_at__isnull=False).exclude(status=OrderStatus.REFUNDED)


def users_with_own_paid_orders(*, user_ids: list[int]) -> set[int]:
    if not user_ids:
        return set()
    return set(_own_paid_orders().filter(user_id__in=user_ids).values_list("user_id", flat=True).distinct())


# --- leaderboards -------------------------------------------------------------------------------


def leaderboard_range(*, period: str, today: date | None = None) -> tuple[date, date]:
    """Rolling periods ending today: day = today, week = the last 7 days, month = the last 30."""
    today = today or stats_today()
    return today - timedelta(days=LEADERBOARD_PERIODS[period] - 1), today


def _leaderboard_rows(*, period: str, by: str, today: date) -> list[dict]:
    day_from, day_to = leaderboard_range(period=period, today=today)
    qs = (
        DistributorDailyStat.objects.filter(
            day__gte=day_from, day__lte=day_to, distributor__status=DistributorStatus.APPROVED
        )
        .values("distributor_id")
        .annotate(orders_sum=Sum("orders"), gmv_sum=Sum("gmv_fen"), visitors_sum=Sum("unique_visitors"))
    )
    if by == "gmv":
        qs = qs.filter(gmv_sum__gt=0).order_by("-gmv_sum", "-orders_sum", "distributor_id")
    elif by == "orders":
        qs = qs.filter(orders_sum__gt=0).order_by("-orders_sum", "-gmv_sum", "distributor_id")
    else:
        qs = (
            qs.filter(orders_sum__gt=0, visitors_sum__gte=LEADERBOARD_MIN_VISITORS)
            .annotate(bps=ExpressionWrapper(F("orders_sum") * 10000 / F("visitors_sum"),
                                            output_field=BigIntegerField()))
            .order_by("-bps", "-orders_sum", "distributor_id")
        )
    top = list(qs[:LEADERBOARD_SIZE])
    people = {
        d["pk"]: d
        for d in Distributor.objects.filter(pk__in=[r["distributor_id"] for r in top]).values(
            "pk", "user_id", "user__nickname", "user__avatar_url"
        )
    }
    buyers = users_with_own_paid_orders(user_ids=[d["user_id"] for d in people.values()])
    board = []
    for rank, row in enumerate(top, start=1):
        person = people[row["distributor_id"]]
        board.append({
            "rank": rank,
            "user_id": person["user_id"],
            "nickname": person["user__nickname"],
            "avatar_url": person["user__avatar_url"],
            "orders": row["orders_sum"],
            "gmv_fen": row["gmv_sum"],
            "unique_visitors": row["visitors_sum"],
            "conversion_bps": conversion_bps(orders=row["orders_sum"], unique_visitors=row["visitors_sum"]),
            "evangelist": person["user_id"] not in buyers,
        })
    return board


def leaderboard(*, period: str, by: str, today: date | None = None) -> dict:
    """Top approved distributors of a rolling period by GMV, orders or conversion; cached 60 s.

    Each entry carries all three figures; `evangelist` is true for someone whose links bring
    orders while they have no paid order of their own."""
    if period not in LEADERBOARD_PERIODS:
        raise InvalidInput("Unknown period.",
                           extra={"fields": {"period": [f"One of {', '.join(LEADERBOARD_PERIODS)}."]}})
    if by not in LEADERBOARD_MEASURES:
        raise InvalidInput("Unknown measure.", extra={"fields": {"by": [f"One of {', '.join(LEADERBOARD_MEASURES)}."]}})
    today = today or stats_today()
    key = f"distributors:leaderboard:v1:{period}:{by}:{today.isoformat()}"
    board = cache.get(key)
    if board is None:
        board = _leaderboard_rows(period=period, by=by, today=today)
        cache.set(key, board, LEADERBOARD_CACHE_SECONDS)
    day_from, day_to = leaderboard_range(period=period, today=today)
    return {"period": period, "by": by, "from": day_from, "to": day_to, "results": board}


# --- operators: evangelists --------------------------------------------------------------------


def evangelist_list(*, day_from: date, day_to: date) -> QuerySet[Distributor]:
    """Distributors whose links brought paid orders in the range and who have no paid order of
    their own, most orders brought first. Annotated: orders, gmv_fen, clicks, unique_visitors."""
    return (
        Distributor.objects.filter(daily__day__gte=day_from, daily__day__lte=day_to)
        .annotate(
            orders_sum=Sum("daily__orders"),
            gmv_sum=Sum("daily__gmv_fen"),
            clicks_sum=Sum("daily__clicks"),
            visitors_sum=Sum("daily__unique_visitors"),
        )
        .filter(orders_sum__gt=0)
        .exclude(Exists(_own_paid_orders().filter(user_id=OuterRef("user_id"))))
        .select_related("user")
        .order_by("-orders_sum", "-gmv_sum", "pk")
    )


# --- audit: the aggregates against the Order rows ------------------------------------------------


def stats_audit(*, day_from: date, day_to: date, limit: int = 20) -> dict:
    """Recount the order side (orders, gmv_fen) of DistributorDailyStat and LinkDailyStat for
    orders paid on the given days from the Order rows, and compare. Read-only; for operators
    and the daily job (it reads Order rows, which the stats themselves never do).

    On PostgreSQL it reads one REPEATABLE READ snapshot, so a payment committing meanwhile
    cannot show up as a false mismatch. `new_customers` is not checked (it depends on the
    whole history). Orders that name a distributor or link that no longer exists are skipped,
    as the hooks skip them."""
    tz = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(day_from, clock.min, tzinfo=tz)
    end = datetime.combine(day_to + timedelta(days=1), clock.min, tzinfo=tz)
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if snapshot:  # (inside a caller's transaction, it reads with the caller's isolation)
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        daily: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
        by_link: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
        checked = 0
        orders = (
            Order.objects.filter(paid_at__gte=start, paid_at__lt=end)
            .exclude(attribution={})
            .values_list("paid_at", "paid_fen", "refunded_fen", "attribution")
        )
        for paid_at, paid_fen, refunded_fen, attribution in orders.iterator(chunk_size=2000):
            distributor_id, link_id = attribution.get("distributor_id"), attribution.get("link_id")
            if not isinstance(distributor_id, int):
                continue
            checked += 1
            day = paid_at.astimezone(tz).date()
            counted, net = (0 if refunded_fen >= paid_fen else 1), paid_fen - refunded_fen
            daily[(distributor_id, day)][0] += counted
            daily[(distributor_id, day)][1] += net
            if isinstance(link_id, int):
                by_link[(link_id, day)][0] += counted
                by_link[(link_id, day)][1] += net
        existing_distributors = set(
            Distributor.objects.filter(pk__in={d for d, _ in daily}).values_list("pk", flat=True))
        existing_links = set(
            ShareLink.objects.filter(pk__in={link for link, _ in by_link}).values_list("pk", flat=True))
        actual_daily = {
            (r[0], r[1]): [r[2], r[3]]
            for r in DistributorDailyStat.objects.filter(day__gte=day_from, day__lte=day_to)
            .values_list("distributor_id", "day", "orders", "gmv_fen")
        }
        actual_links = {
            (r[0], r[1]): [r[2], r[3]]
            for r in LinkDailyStat.objects.filter(day__gte=day_from, day__lte=day_to)
            .values_list("link_id", "day", "orders", "gmv_fen")
        }
    mismatches = []
    for kind, expected, actual, known in (("distributor_day", daily, actual_daily, existing_distributors),
                                          ("link_day", by_link, actual_links, existing_links)):
        for key in sorted(set(expected) | set(actual)):
            want = expected.get(key, [0, 0]) if key[0] in known else [0, 0]
            got = actual.get(key, [0, 0])
            if want != got:
                mismatches.append({"kind": kind, "id": key[0], "day": key[1].isoformat(),
                                   "expected": {"orders": want[0], "gmv_fen": want[1]},
                                   "actual": {"orders": got[0], "gmv_fen": got[1]}})
    return {"ok": not mismatches, "checked_orders": checked, "mismatch_count": len(mismatches),
            "mismatches": mismatches[:limit]}


def stats_audit_recent() -> dict:
    """The daily job: yesterday and today (shop days)."""
    today = stats_today()
    return stats_audit(day_from=today - timedelta(days=1), day_to=today)
