"""Operators' reports: the overview of a period, and commission statements.

A period is a range of calendar days in the shop's time zone (settings.TIME_ZONE,
Asia/Shanghai), both ends included: [from 00:00, the day after `to` 00:00). Every figure is a
set-based aggregate — the overview costs five queries however many rows there are, a statement
two or three — and the statements stream their rows from server-side cursors
(`iterator(chunk_size=…)`), so a large one never sits in memory.

Which rows count (the same rule everywhere; docs/commissions.md, Reports):
* orders placed in the period (`created_at`) — by their status now; orders paid in the period
  (`paid_at`) — their count and `paid_fen` (GMV), and what has been refunded of them so far;
* refunds requested in the period (`created_at`) by status; refunds that succeeded in the
  period (`completed_at`) — their count and amount;
* commissions accrued in the period (`created_at`, the moment the order was paid) — by their
  status now;
* withdrawals requested in the period (`requested_at`) — by their status now; withdrawals paid
  in the period (`paid_at`) — amount, net and the fees collected;
* distributors who applied (`applied_at`) or were approved (`approved_at`) in the period.

Commissions may read mall and distributors (lower apps); nothing here writes.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from core.errors import InvalidInput, NotFound
from core.money import yuan
from distributors.models import Distributor
from distributors.selectors.stats import stats_range_parse
from mall.models import Order, OrderStatus, Refund, RefundStatus

from ..models import Commission, CommissionStatus, Withdrawal, WithdrawalStatus

CHUNK_SIZE = 2000
# Days outside these make no sense for a shop and would overflow the time-zone arithmetic.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9998, 12, 31)

COMMISSION_STATUSES = tuple(CommissionStatus.values)
WITHDRAWAL_STATUSES = tuple(WithdrawalStatus.values)


# --- the period -------------------------------------------------------------------------

def report_range_parse(*, date_from: str | None, date_to: str | None, today: date | None = None) -> tuple[date, date]:
    """`?from=&to=` as an inclusive day range: both optional (default: the last 30 days up to
    today), YYYY-MM-DD, `from` not after `to`, at most 366 days; otherwise `invalid` (400)."""
    day_from, day_to = stats_range_parse(date_from=date_from, date_to=date_to, today=today)
    for name, day in (("from", day_from), ("to", day_to)):
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise InvalidInput(f"{name} is out of range.", extra={
                "fields": {name: [f"Between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}."]}})
    return day_from, day_to


def report_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def report_bounds(*, day_from: date, day_to: date) -> tuple[datetime, datetime]:
    """[start, end): midnight of `day_from` and midnight after `day_to`, in the shop's zone."""
    zone = report_zone()
    start = datetime.combine(day_from, time.min, tzinfo=zone)
    end = datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def _within(field: str, start: datetime, end: datetime) -> Q:
    return Q(**{f"{field}__gte": start, f"{field}__lt": end})


def _int(value) -> int:
    return int(value or 0)


# --- the overview -----------------------------------------------------------------------

def report_overview(*, day_from: date, day_to: date) -> dict:
    """The period's figures in five aggregate queries (orders, refunds, commissions,
    withdrawals, distributors). Money in fen. The campaigns' figures are added beside these by the
    API (campaigns sits above commissions): campaigns.selectors.ops.crowdfund_report."""
    start, end = report_bounds(day_from=day_from, day_to=day_to)
    return {
        "from": day_from,
        "to": day_to,
        "time_zone": settings.TIME_ZONE,
        **_orders(start, end),
        "refunds": _refunds(start, end),
        "commissions": _commissions(start, end),
        "withdrawals": _withdrawals(start, end),
        "distributors": _distributors(start, end),
    }


def _orders(start: datetime, end: datetime) -> dict:
    placed, paid = _within("created_at", start, end), _within("paid_at", start, end)
    by_status = {s: Count("pk", filter=placed & Q(status=s)) for s in OrderStatus.values}
    row = Order.objects.filter(placed | paid).aggregate(
        placed=Count("pk", filter=placed),
        paid=Count("pk", filter=paid),
        gmv_fen=Sum("paid_fen", filter=paid),
        refunded_fen=Sum("refunded_fen", filter=paid),
        **{f"status_{s}": agg for s, agg in by_status.items()},
    )
    gmv, refunded = _int(row["gmv_fen"]), _int(row["refunded_fen"])
    return {
        "gmv": {"orders": _int(row["paid"]), "gmv_fen": gmv, "refunded_fen": refunded, "net_gmv_fen": gmv - refunded},
        "orders": {
            "placed": _int(row["placed"]),
            "paid": _int(row["paid"]),
            "by_status": {s: _int(row[f"status_{s}"]) for s in OrderStatus.values},
        },
    }


def _refunds(start: datetime, end: datetime) -> dict:
    requested = _within("created_at", start, end)
    succeeded = _within("completed_at", start, end) & Q(status=RefundStatus.SUCCEEDED)
    row = Refund.objects.filter(requested | succeeded).aggregate(
        requested=Count("pk", filter=requested),
        count=Count("pk", filter=succeeded),
        refunded_fen=Sum("amount_fen", filter=succeeded),
        **{f"status_{s}": Count("pk", filter=requested & Q(status=s)) for s in RefundStatus.values},
    )
    return {
        "count": _int(row["count"]),
        "refunded_fen": _int(row["refunded_fen"]),
        "requested": _int(row["requested"]),
        "requested_by_status": {s: _int(row[f"status_{s}"]) for s in RefundStatus.values},
    }


def _commissions(start: datetime, end: datetime) -> dict:
    aggs = {}
    for s in COMMISSION_STATUSES:
        where = Q(status=s)
        aggs[f"s_{s}_count"] = Count("pk", filter=where)
        aggs[f"s_{s}_amount"] = Sum("amount_fen", filter=where)
        aggs[f"s_{s}_reversed"] = Sum("reversed_fen", filter=where)
    row = Commission.objects.filter(_within("created_at", start, end)).aggregate(
        total_count=Count("pk"), total_amount=Sum("amount_fen"), total_reversed=Sum("reversed_fen"), **aggs,
    )
    by_status = {}
    for s in COMMISSION_STATUSES:
        amount, reversed_ = _int(row[f"s_{s}_amount"]), _int(row[f"s_{s}_reversed"])
        by_status[s] = {"count": _int(row[f"s_{s}_count"]), "amount_fen": amount, "reversed_fen": reversed_,
                        "net_fen": amount - reversed_}
    amount, reversed_ = _int(row["total_amount"]), _int(row["total_reversed"])
    return {"count": _int(row["total_count"]), "amount_fen": amount, "reversed_fen": reversed_,
            "net_fen": amount - reversed_, "by_status": by_status}


def _withdrawals(start: datetime, end: datetime) -> dict:
    requested = _within("requested_at", start, end)
    paid = _within("paid_at", start, end) & Q(status=WithdrawalStatus.PAID)
    aggs = {}
    for s in WITHDRAWAL_STATUSES:
        aggs[f"s_{s}_count"] = Count("pk", filter=requested & Q(status=s))
        aggs[f"s_{s}_amount"] = Sum("amount_fen", filter=requested & Q(status=s))
    row = Withdrawal.objects.filter(requested | paid).aggregate(
        requested_count=Count("pk", filter=requested),
        requested_amount=Sum("amount_fen", filter=requested),
        paid_count=Count("pk", filter=paid),
        paid_amount=Sum("amount_fen", filter=paid),
        paid_fee=Sum("fee_fen", filter=paid),
        paid_net=Sum("net_fen", filter=paid),
        **aggs,
    )
    return {
        "requested": {"count": _int(row["requested_count"]), "amount_fen": _int(row["requested_amount"])},
        "by_status": {s: {"count": _int(row[f"s_{s}_count"]), "amount_fen": _int(row[f"s_{s}_amount"])}
                      for s in WITHDRAWAL_STATUSES},
        "paid": {"count": _int(row["paid_count"]), "amount_fen": _int(row["paid_amount"]),
                 "net_fen": _int(row["paid_net"]), "fee_fen": _int(row["paid_fee"])},
        "fees_collected_fen": _int(row["paid_fee"]),
    }


def _distributors(start: datetime, end: datetime) -> dict:
    applied, approved = _within("applied_at", start, end), _within("approved_at", start, end)
    row = Distributor.objects.filter(applied | approved).aggregate(
        applied=Count("pk", filter=applied), approved=Count("pk", filter=approved),
    )
    return {"applied": _int(row["applied"]), "approved": _int(row["approved"])}


# --- statements -------------------------------------------------------------------------

def report_distributor_get(*, distributor_id: int) -> Distributor:
    distributor = Distributor.objects.filter(pk=distributor_id).only("pk", "real_name", "invite_code").first()
    if distributor is None:
        raise NotFound("No such distributor.")
    return distributor


COMMISSION_LINE_HEADER = ["date", "order_no", "level", "base_fen", "rate_bps", "fixed_fen", "amount_fen",
                          "reversed_fen", "net_fen", "status", "settles_at", "net_yuan"]
COMMISSION_TOTALS_HEADER = ["status", "lines", "base_fen", "amount_fen", "reversed_fen", "net_fen", "net_yuan"]
WITHDRAWAL_LINE_HEADER = ["date", "withdrawal_id", "requested_at", "status", "amount_fen", "fee_fen", "net_fen",
                          "paid_at", "transfer_no", "reason", "net_yuan"]
WITHDRAWAL_TOTALS_HEADER = ["status", "count", "amount_fen", "fee_fen", "net_fen", "net_yuan"]


def commission_statement_rows(*, distributor: Distributor, day_from: date, day_to: date) -> Iterator[list]:
    """One distributor's statement as rows of plain values (ints, strings, None), in sections
    separated by an empty row, each opened by a one-cell title row:

    1. `statement`: a header and one row — distributor, period, time zone;
    2. `commissions`: every commission accrued in the period, oldest first;
    3. `commission totals`: per status and `all` (lines, base, amount, reversed, net);
    4. `withdrawals`: every withdrawal requested in the period, oldest first;
    5. `withdrawal totals`: per status and `all`.

    Two streamed queries (commissions with their order numbers, withdrawals); the totals are
    added up while the lines go by, so they match the lines exactly."""
    start, end = report_bounds(day_from=day_from, day_to=day_to)
    zone = report_zone()

    yield ["statement"]
    yield ["distributor_id", "distributor", "invite_code", "from", "to", "time_zone"]
    yield [distributor.pk, distributor.real_name, distributor.invite_code, day_from.isoformat(), day_to.isoformat(),
           settings.TIME_ZONE]
    yield []

    yield ["commissions"]
    yield COMMISSION_LINE_HEADER
    totals = {s: [0, 0, 0, 0] for s in (*COMMISSION_STATUSES, "all")}  # lines, base, amount, reversed
    lines = (
        Commission.objects.filter(_within("created_at", start, end), distributor_id=distributor.pk)
        .order_by("created_at", "pk")
        .values_list("created_at", "order__no", "level", "base_fen", "rate_bps", "fixed_fen", "amount_fen",
                     "reversed_fen", "status", "settles_at")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for created_at, order_no, level, base, rate_bps, fixed_fen, amount, reversed_, status, settles_at in lines:
        for key in (status, "all"):
            t = totals.setdefault(key, [0, 0, 0, 0])
            t[0] += 1
            t[1] += base
            t[2] += amount
            t[3] += reversed_
        yield [timezone.localtime(created_at, zone).date().isoformat(), order_no, level, base, rate_bps, fixed_fen,
               amount, reversed_, amount - reversed_, status,
               timezone.localtime(settles_at, zone).isoformat() if settles_at else None, yuan(amount - reversed_)]
    yield []

    yield ["commission totals"]
    yield COMMISSION_TOTALS_HEADER
    for key, (n, base, amount, reversed_) in totals.items():
        yield [key, n, base, amount, reversed_, amount - reversed_, yuan(amount - reversed_)]
    yield []

    yield ["withdrawals"]
    yield WITHDRAWAL_LINE_HEADER
    wtotals = {s: [0, 0, 0, 0] for s in (*WITHDRAWAL_STATUSES, "all")}  # count, amount, fee, net
    withdrawals = (
        Withdrawal.objects.filter(_within("requested_at", start, end), distributor_id=distributor.pk)
        .order_by("requested_at", "pk")
        .values_list("pk", "requested_at", "status", "amount_fen", "fee_fen", "net_fen", "paid_at", "transfer_no",
                     "reason")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for pk, requested_at, status, amount, fee, net, paid_at, transfer_no, reason in withdrawals:
        for key in (status, "all"):
            t = wtotals.setdefault(key, [0, 0, 0, 0])
            t[0] += 1
            t[1] += amount
            t[2] += fee
            t[3] += net
        local = timezone.localtime(requested_at, zone)
        yield [local.date().isoformat(), pk, local.isoformat(), status, amount, fee, net,
               timezone.localtime(paid_at, zone).isoformat() if paid_at else None, transfer_no, reason, yuan(net)]
    yield []

    yield ["withdrawal totals"]
    yield WITHDRAWAL_TOTALS_HEADER
    for key, (n, amount, fee, net) in wtotals.items():
        yield [key, n, amount, fee, net, yuan(net)]


SUMMARY_HEADER = [
    "distributor_id", "distributor", "invite_code",
    "commission_lines", "amount_fen", "reversed_fen", "net_fen",
    "pending_fen", "frozen_fen", "settled_fen",
    "withdrawals", "withdrawals_amount_fen", "paid_amount_fen", "paid_fee_fen", "paid_net_fen",
    "net_yuan",
]


def commission_statement_summary_rows(*, day_from: date, day_to: date) -> Iterator[list]:
    """All distributors at once: a header, one row per distributor with commissions accrued or
    withdrawals requested in the period (by id), then a `total` row.

    `pending_fen`/`frozen_fen`/`settled_fen` are what is left (amount − reversed) of the
    commissions now in that status; `net_fen` is their sum. Withdrawals: how many were
    requested in the period and for how much; of those, what is paid (amount, fee, net).

    Two grouped, streamed queries (commissions and withdrawals per distributor, both ordered
    by distributor id) merged side by side, so the rows never sit in memory."""
    start, end = report_bounds(day_from=day_from, day_to=day_to)
    live = F("amount_fen") - F("reversed_fen")
    commissions = (
        Commission.objects.filter(_within("created_at", start, end))
        .values("distributor_id", "distributor__real_name", "distributor__invite_code")
        .annotate(
            lines=Count("pk"), amount=Sum("amount_fen"), reversed=Sum("reversed_fen"),
            pending=Sum(live, filter=Q(status=CommissionStatus.PENDING)),
            frozen=Sum(live, filter=Q(status=CommissionStatus.FROZEN)),
            settled=Sum(live, filter=Q(status=CommissionStatus.SETTLED)),
        )
        .order_by("distributor_id")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    is_paid = Q(status=WithdrawalStatus.PAID)
    withdrawals = (
        Withdrawal.objects.filter(_within("requested_at", start, end))
        .values("distributor_id", "distributor__real_name", "distributor__invite_code")
        .annotate(
            count=Count("pk"), amount=Sum("amount_fen"),
            paid_amount=Sum("amount_fen", filter=is_paid), paid_fee=Sum("fee_fen", filter=is_paid),
            paid_net=Sum("net_fen", filter=is_paid),
        )
        .order_by("distributor_id")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    yield SUMMARY_HEADER
    total = [0] * 12
    for c, w in _merge_by_distributor(commissions, withdrawals):
        who = c or w
        amount, reversed_ = _int(c and c["amount"]), _int(c and c["reversed"])
        figures = [
            _int(c and c["lines"]), amount, reversed_, amount - reversed_,
            _int(c and c["pending"]), _int(c and c["frozen"]), _int(c and c["settled"]),
            _int(w and w["count"]), _int(w and w["amount"]), _int(w and w["paid_amount"]),
            _int(w and w["paid_fee"]), _int(w and w["paid_net"]),
        ]
        total = [a + b for a, b in zip(total, figures, strict=True)]
        yield [who["distributor_id"], who["distributor__real_name"], who["distributor__invite_code"], *figures,
               yuan(figures[3])]
    yield ["total", None, None, *total, yuan(total[3])]


def _merge_by_distributor(left: Iterable[dict], right: Iterable[dict]) -> Iterator[tuple[dict | None, dict | None]]:
    """Pairs rows of two streams ordered by distributor_id (a merge join): (l, r), (l, None) or (None, r)."""
    left, right = iter(left), iter(right)
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a["distributor_id"] < b["distributor_id"]):
            yield a, None
            a = next(left, None)
        elif a is None or b["distributor_id"] < a["distributor_id"]:
            yield None, b
            b = next(right, None)
        else:
            yield a, b
            a, b = next(left, None), next(right, None)
