"""A big distributor for the stats benchmark (called from bench/seed.py; also runnable alone).

The bench user (`bench-user`, whose token bench/run.py sends) becomes an approved distributor
with a year of history ending today (days in settings.TIME_ZONE):

* 1,000,000 clicks on 50 share links, every day of the 366, with about 40 % unique visitors —
  written as the aggregates the click flush would have left (LinkDailyStat,
  DistributorDailyStat, ShareLink totals); no per-click rows exist in the product anyway;
* 100,000 paid orders attributed to the distributor (90 % through a link, 10 % through a
  binding) from 20,000 customers, each a real mall Order row (COPY on PostgreSQL, in batches; no
  OrderItem rows and no ledger postings — the stats never read either), and the aggregates
  the PAID hook would have written for them (orders, GMV, new customers per day and link,
  DistributorCustomerStat per customer, DistributorCustomerTotals);
* 15,000 of those customers bound to the distributor (CustomerBinding), and a team of 30
  level-1 and 120 level-2 approved distributors.

Deterministic (seeded random), idempotent (does nothing when the distributor has daily rows),
about 15-30 s on PostgreSQL. Alone: DATABASE_URL=... python bench/seed_stats.py
"""
from __future__ import annotations

import json
import random
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

if __name__ == "__main__":
    from _django import setup

    setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from distributors.models import (  # noqa: E402
    CustomerBinding,
    Distributor,
    DistributorCustomerStat,
    DistributorCustomerTotals,
    DistributorDailyStat,
    DistributorStatus,
    LinkDailyStat,
    ShareLink,
    TargetType,
)
from distributors.selectors.stats import stats_day  # noqa: E402
from mall.models import Order, OrderStatus  # noqa: E402

ORDERS = 100_000
CLICKS = 1_000_000
CUSTOMERS = 20_000
BOUND = 15_000
LINKS = 50
DAYS = 366
TEAM_L1, TEAM_L2 = 30, 120
BATCH = 5_000
NO_PASSWORD = make_password(None)  # an unusable password, computed once (no hashing per user)
ADDRESS = {"name": "张三", "phone": "13800138000", "province": "浙江省", "city": "杭州市", "district": "西湖区",
           "detail": "龙井路 1 号"}


def _log(message: str) -> None:
    print(f"seed_stats: {message}", file=sys.stderr, flush=True)


def _distributor(user: User, *, code: str, inviter: Distributor | None = None) -> Distributor:
    distributor, _ = Distributor.objects.get_or_create(
        user=user,
        defaults={"status": DistributorStatus.APPROVED, "real_name": "bench", "phone": "13800000000",
                  "invite_code": code, "inviter": inviter, "approved_at": timezone.now()},
    )
    return distributor


def _insert_orders(rows: list[dict]) -> None:
    """Write Order rows (dicts of attnames; model defaults for the rest). PostgreSQL: one COPY,
    several times faster than bulk_create's INSERT for 100,000 rows; elsewhere bulk_create."""
    if connection.vendor != "postgresql":
        Order.objects.bulk_create([Order(**row) for row in rows], batch_size=BATCH)
        return
    fields = [f for f in Order._meta.concrete_fields if not f.primary_key]
    plan = [(f.attname, f.get_default() if f.has_default() else None, f.get_internal_type() == "JSONField")
            for f in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY {connection.ops.quote_name(Order._meta.db_table)} ({columns}) FROM STDIN"
    ) as copy:
        for row in rows:
            values = []
            for name, default, is_json in plan:
                value = row.get(name, default)
                values.append(json.dumps(value, ensure_ascii=False) if is_json else value)
            copy.write_row(values)


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` split into `parts` non-negative integers with some day-to-day variation."""
    weights = [rng.uniform(0.3, 1.7) for _ in range(parts)]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    for i in rng.sample(range(parts), total - sum(counts)):
        counts[i] += 1
    return counts


def seed_stats(*, user: User, n_orders: int = ORDERS, n_clicks: int = CLICKS, n_customers: int = CUSTOMERS,
               n_bound: int = BOUND, n_links: int = LINKS, n_days: int = DAYS, team_l1: int = TEAM_L1,
               team_l2: int = TEAM_L2) -> Distributor:
    """Make `user` the big distributor (sizes: the module's constants; tests pass small ones)."""
    started = time.monotonic()
    rng = random.Random(20240101)
    distributor = _distributor(user, code="BENCHST2")
    if DistributorDailyStat.objects.filter(distributor=distributor).exists():
        return distributor
    tz = ZoneInfo(settings.TIME_ZONE)
    today = stats_day(timezone.now())
    days = [today - timedelta(days=n_days - 1 - i) for i in range(n_days)]

    with transaction.atomic():
        # The team: level 1 and level 2 recruits.
        team_users = User.objects.bulk_create([
            User(username=f"bench-team-{i}", nickname=f"团队{i}", password=NO_PASSWORD)
            for i in range(team_l1 + team_l2)
        ])
        level1 = [_distributor(u, code=f"BT{i:06d}", inviter=distributor) for i, u in enumerate(team_users[:team_l1])]
        for i, u in enumerate(team_users[team_l1:]):
            _distributor(u, code=f"BU{i:06d}", inviter=level1[i % team_l1])

        links = ShareLink.objects.bulk_create([
            ShareLink(code=f"BST{i:05d}", distributor=distributor, target_type=TargetType.STORE, target_id=0,
                      channel=f"bench-{i}")
            for i in range(n_links)
        ])
        customers = User.objects.bulk_create(
            [User(username=f"bench-buyer-{i}", nickname=f"顾客{i}", password=NO_PASSWORD) for i in range(n_customers)],
            batch_size=BATCH,
        )
        _log(f"users and links in {time.monotonic() - started:.1f} s")

        # Clicks: per day, then per link.
        link_day: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # clicks, uv, orders, gmv
        for d, day_clicks in enumerate(_split(n_clicks, n_days, rng)):
            for li, n in enumerate(_split(day_clicks, n_links, rng)):
                row = link_day[(li, d)]
                row[0] += n
                row[1] += n * 2 // 5

        # Orders: per day; a customer's first paid order makes them new that day.
        seen: dict[int, list] = {}  # customer index -> [orders, gmv, first, last]
        new_by_day = defaultdict(int)
        binding_orders = defaultdict(lambda: [0, 0])  # day index -> orders, gmv without a link
        n = 0
        batch: list[dict] = []
        for d, day_orders in enumerate(_split(n_orders, n_days, rng)):
            day_start = datetime.combine(days[d], datetime.min.time(), tzinfo=tz)
            for _ in range(day_orders):
                n += 1
                c = min(int(rng.paretovariate(1.2)) - 1, n_customers - 1) if rng.random() < 0.3 else rng.randrange(
                    n_customers)
                amount = rng.choice((990, 1990, 4990, 12800, 29900))
                paid_at = day_start + timedelta(seconds=rng.randrange(86400))
                li = rng.randrange(n_links) if rng.random() < 0.9 else None
                if li is not None:
                    row = link_day[(li, d)]
                    row[2] += 1
                    row[3] += amount
                else:
                    binding_orders[d][0] += 1
                    binding_orders[d][1] += amount
                stat = seen.get(c)
                if stat is None:
                    seen[c] = [1, amount, paid_at, paid_at]
                    new_by_day[d] += 1
                else:
                    stat[0] += 1
                    stat[1] += amount
                    stat[3] = max(stat[3], paid_at)
                link = links[li] if li is not None else None
                batch.append({
                    "no": f"BS{n:014d}", "user_id": customers[c].pk, "status": OrderStatus.COMPLETED,
                    "total_fen": amount, "paid_fen": amount, "address": ADDRESS, "created_at": paid_at,
                    "pay_deadline": paid_at, "paid_at": paid_at, "completed_at": paid_at,
                    "attribution": {
                        "source": "share_code" if link else "binding", "distributor_id": distributor.pk,
                        "link_id": link.pk if link else None, "link_code": link.code if link else None,
                        "binding_id": None, "level1_distributor_id": distributor.pk,
                        "level2_distributor_id": None, "self_referral": False,
                    },
                })
                if len(batch) >= BATCH:
                    _insert_orders(batch)
                    batch = []
        if batch:
            _insert_orders(batch)
        _log(f"{n} orders in {time.monotonic() - started:.1f} s")

        LinkDailyStat.objects.bulk_create(
            [LinkDailyStat(link=links[li], distributor=distributor, day=days[d], clicks=v[0], unique_visitors=v[1],
                           orders=v[2], gmv_fen=v[3]) for (li, d), v in link_day.items()],
            batch_size=BATCH,
        )
        per_day = defaultdict(lambda: [0, 0, 0, 0])
        per_link = defaultdict(lambda: [0, 0, 0, 0])
        for (li, d), v in link_day.items():
            for i in range(4):
                per_day[d][i] += v[i]
                per_link[li][i] += v[i]
        DistributorDailyStat.objects.bulk_create([
            DistributorDailyStat(
                distributor=distributor, day=days[d], clicks=per_day[d][0], unique_visitors=per_day[d][1],
                orders=per_day[d][2] + binding_orders[d][0], gmv_fen=per_day[d][3] + binding_orders[d][1],
                new_customers=new_by_day[d],
            )
            for d in range(n_days)
        ])
        for li, v in per_link.items():
            ShareLink.objects.filter(pk=links[li].pk).update(clicks=v[0], unique_visitors=v[1], orders=v[2],
                                                             gmv_fen=v[3])
        DistributorCustomerStat.objects.bulk_create(
            [DistributorCustomerStat(distributor=distributor, customer=customers[c], orders=s[0], gmv_fen=s[1],
                                     first_paid_at=s[2], last_paid_at=s[3]) for c, s in seen.items()],
            batch_size=BATCH,
        )
        DistributorCustomerTotals.objects.create(
            distributor=distributor, customers=len(seen), repeat_customers=sum(1 for v in seen.values() if v[0] >= 2)
        )
        now = timezone.now()
        CustomerBinding.objects.bulk_create(
            [CustomerBinding(customer=customers[c], distributor=distributor, source="click", bound_at=now,
                             expires_at=now + timedelta(days=rng.randint(-10, 30)), protected_until=now)
             for c in rng.sample(range(n_customers), n_bound)],
            batch_size=BATCH,
        )
    _log(f"done in {time.monotonic() - started:.1f} s ({len(link_day)} link-days, {len(seen)} paying customers)")
    return distributor


if __name__ == "__main__":
    bench_user, _ = User.objects.get_or_create(username="bench-user", defaults={"nickname": "bench"})
    seed_stats(user=bench_user)
