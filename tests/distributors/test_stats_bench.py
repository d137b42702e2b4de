"""bench/seed_stats.py writes aggregates that agree with the Order rows it writes (small sizes here),
so the stats benchmark reads figures the hooks would have produced. No timing is asserted."""
from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone

from bench.seed_stats import seed_stats
from distributors.models import (
    CustomerBinding,
    DistributorCustomerStat,
    DistributorCustomerTotals,
    DistributorDailyStat,
    LinkDailyStat,
    ShareLink,
)
from mall.models import Order
from tests.factories import UserFactory

from .stats_helpers import SHOP_TZ, today

pytestmark = pytest.mark.django_db

SIZES = {"n_orders": 400, "n_clicks": 7000, "n_customers": 60, "n_bound": 25, "n_links": 3, "n_days": 12,
         "team_l1": 2, "team_l2": 3}


def test_seeded_aggregates_match_the_seeded_orders(client_for):
    user = UserFactory()
    dist = seed_stats(user=user, **SIZES)
    assert seed_stats(user=user, **SIZES) == dist  # a second run adds nothing
    assert Order.objects.count() == 400

    daily, by_link, by_customer = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0]), defaultdict(
        lambda: [0, 0])
    firsts = {}
    for order in Order.objects.order_by("paid_at"):
        a = order.attribution
        assert a["distributor_id"] == dist.pk
        day = order.paid_at.astimezone(SHOP_TZ).date()
        for table, key in ((daily, day), (by_customer, order.user_id), *([(by_link, (a["link_id"], day))]
                                                                         if a["link_id"] else [])):
            table[key][0] += 1
            table[key][1] += order.paid_fen
        firsts.setdefault(order.user_id, day)
    rows = DistributorDailyStat.objects.filter(distributor=dist)
    assert {r.day: [r.orders, r.gmv_fen] for r in rows if r.orders} == daily
    assert sum(r.clicks for r in rows) == 7000
    assert [r.day for r in rows.order_by("day")] == [today() - timedelta(days=11 - i) for i in range(12)]
    new = defaultdict(int)
    for day in firsts.values():
        new[day] += 1
    assert {r.day: r.new_customers for r in rows if r.new_customers} == new
    assert {(r.link_id, r.day): [r.orders, r.gmv_fen] for r in LinkDailyStat.objects.all() if r.orders} == by_link
    for link in ShareLink.objects.filter(distributor=dist):
        link_rows = LinkDailyStat.objects.filter(link=link)
        assert (link.clicks, link.orders, link.gmv_fen) == (
            sum(r.clicks for r in link_rows), sum(r.orders for r in link_rows), sum(r.gmv_fen for r in link_rows))
    assert {r.customer_id: [r.orders, r.gmv_fen] for r in DistributorCustomerStat.objects.all()} == by_customer
    totals = DistributorCustomerTotals.objects.get(distributor=dist)
    assert (totals.customers, totals.repeat_customers) == (
        len(by_customer), sum(1 for n, _ in by_customer.values() if n >= 2))

    body = client_for(user).get("/api/v1/distributors/me/stats/", {"from": (today() - timedelta(days=11)).isoformat(),
                                                                   "to": today().isoformat()}).json()
    assert (body["orders"], body["clicks"], body["gmv_fen"]) == (400, 7000, sum(v[1] for v in daily.values()))
    assert body["team"] == {"level1": 2, "level2": 3}
    assert body["bound_customers"] == CustomerBinding.objects.filter(
        distributor=dist, expires_at__gt=timezone.now()).count() > 0
