"""Applying click counts to the database with set-based SQL.

`click_counts_apply` adds page views and unique visitors to LinkDailyStat,
DistributorDailyStat and the ShareLink totals: INSERT … ON CONFLICT DO UPDATE with
`col = col + excluded.col` (PostgreSQL and SQLite 3.24+), APPLY_CHUNK rows per statement,
always in id order (two flushes of different shards then lock rows in the same order).

Without Redis (or when Redis fails) a click is counted here directly: in one transaction,
INSERT … ON CONFLICT DO NOTHING into LinkVisitorDay (a new row = a new unique visitor), then
the upserts (`clicks_count_db`).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date

from django.db import connection, transaction
from django.db.models import Case, F, Value, When

from ...models import DistributorDailyStat, LinkDailyStat, LinkVisitorDay, ShareLink

APPLY_CHUNK = 500


def _upsert(table: str, keys: tuple[str, ...], fixed: tuple[str, ...], adds: tuple[str, ...],
            rows: list[tuple]) -> None:
    """INSERT rows (values for keys + fixed + adds); on a conflict of `keys`, add the `adds`
    columns to the existing row (`fixed` columns are only written on insert). One statement per
    APPLY_CHUNK rows; PostgreSQL and SQLite (3.24+). The table's other counters start at 0."""
    if not rows:
        return
    q = connection.ops.quote_name
    model = {LinkDailyStat._meta.db_table: LinkDailyStat,
             DistributorDailyStat._meta.db_table: DistributorDailyStat}[table]
    named = (*keys, *fixed, *adds)
    zeros = [f.column for f in model._meta.concrete_fields
             if f.get_internal_type() == "BigIntegerField" and f.column not in named]
    columns = ", ".join(q(c) for c in (*named, *zeros))
    placeholder = "(" + ", ".join(["%s"] * len(named) + ["0"] * len(zeros)) + ")"
    updates = ", ".join(f"{q(c)} = {q(table)}.{q(c)} + excluded.{q(c)}" for c in adds)
    for start in range(0, len(rows), APPLY_CHUNK):
        chunk = rows[start:start + APPLY_CHUNK]
        sql = (
            f"INSERT INTO {q(table)} ({columns}) VALUES "  # noqa: S608 - our own table and column names
            + ", ".join([placeholder] * len(chunk))
            + f" ON CONFLICT ({', '.join(q(k) for k in keys)}) DO UPDATE SET {updates}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [v for row in chunk for v in row])


def click_counts_apply(*, day: date, counts: Mapping[tuple[int, int], tuple[int, int]]) -> int:
    """Add page views and unique visitors {(link_id, distributor_id): (pv, uv)} for `day` to
    LinkDailyStat, DistributorDailyStat and the ShareLink totals. Call inside a transaction.
    Links that no longer exist are skipped. Returns the number of links updated."""
    if not counts:
        return 0
    existing = set()
    ids = sorted({link_id for link_id, _ in counts})
    for start in range(0, len(ids), APPLY_CHUNK):
        existing.update(ShareLink.objects.filter(pk__in=ids[start:start + APPLY_CHUNK]).values_list("pk", flat=True))
    link_rows = sorted(
        (link_id, dist_id, day, pv, uv) for (link_id, dist_id), (pv, uv) in counts.items() if link_id in existing
    )
    per_distributor: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for _, dist_id, _, pv, uv in link_rows:
        per_distributor[dist_id][0] += pv
        per_distributor[dist_id][1] += uv
    # Always in id order: two flushes of different shards then lock rows in the same order.
    _upsert(LinkDailyStat._meta.db_table, ("link_id", "day"), ("distributor_id",), ("clicks", "unique_visitors"),
            [(link_id, day, dist_id, pv, uv) for link_id, dist_id, _, pv, uv in link_rows])
    _upsert(DistributorDailyStat._meta.db_table, ("distributor_id", "day"), (), ("clicks", "unique_visitors"),
            [(dist_id, day, pv, uv) for dist_id, (pv, uv) in sorted(per_distributor.items())])
    for start in range(0, len(link_rows), APPLY_CHUNK):
        chunk = link_rows[start:start + APPLY_CHUNK]
        ShareLink.objects.filter(pk__in=[r[0] for r in chunk]).update(
            clicks=F("clicks") + Case(*[When(pk=r[0], then=Value(r[3])) for r in chunk], default=Value(0)),
            unique_visitors=F("unique_visitors")
            + Case(*[When(pk=r[0], then=Value(r[4])) for r in chunk], default=Value(0)),
        )
    return len(link_rows)


def visitor_day_insert(*, link_id: int, day: date, visitor: str) -> bool:
    """Record (link, day, visitor); True when it was not there yet (a new unique visitor)."""
    table = connection.ops.quote_name(LinkVisitorDay._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (link_id, day, visitor) VALUES (%s, %s, %s) "  # noqa: S608 - our table name
            "ON CONFLICT (link_id, day, visitor) DO NOTHING",
            [link_id, day, visitor],
        )
        return cursor.rowcount == 1


def click_count_db(*, link_id: int, distributor_id: int, visitor: str, day: date) -> bool:
    """Count one click on the database path; True when the visitor is new for the link today."""
    with transaction.atomic():
        new = visitor_day_insert(link_id=link_id, day=day, visitor=visitor)
        click_counts_apply(day=day, counts={(link_id, distributor_id): (1, int(new))})
    return new


def clicks_count_db(items: list[tuple[str, int, int, str, date]]) -> None:
    """The database path for a batch of clicks (code, link id, distributor id, visitor, day),
    one transaction (the write-behind sender when Redis fails)."""
    with transaction.atomic():
        per_day: dict[date, dict[tuple[int, int], list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for _, link_id, dist_id, visitor, day in items:
            new = visitor_day_insert(link_id=link_id, day=day, visitor=visitor)
            counts = per_day[day][(link_id, dist_id)]
            counts[0] += 1
            counts[1] += int(new)
        for day, counts in per_day.items():
            click_counts_apply(day=day, counts={k: (pv, uv) for k, (pv, uv) in counts.items()})
