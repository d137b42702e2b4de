"""Concurrent payments for one distributor and day keep the aggregates exact (PostgreSQL row locks)."""
from __future__ import annotations

import pytest
from django.db import transaction

from distributors.models import (
    DistributorCustomerStat,
    DistributorCustomerTotals,
    DistributorDailyStat,
    LinkDailyStat,
    ShareLink,
)
from distributors.services import stats as stats_services
from mall.models import Order, OrderStatus
from tests.concurrency import run_at_once
from tests.factories import DistributorFactory, ShareLinkFactory, UserFactory
from tests.mall.factories import order_for
from tests.mall.orders_helpers import make_sku

from .stats_helpers import attribution, today

THREADS = 16


def _run_together(fns) -> list[BaseException]:
    """Call the fns together, one thread each; any exception in one fails the test
    (run_at_once), so the list returned is always empty."""
    run_at_once(lambda i: fns[i](), len(fns), domain_errors=False)
    return []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_payments_for_one_distributor_and_day_count_exactly():
    dist = DistributorFactory()
    link = ShareLinkFactory(distributor=dist)
    sku = make_sku(price_fen=1234, stock=1000)
    customers = [UserFactory() for _ in range(THREADS // 2)]

    def orders_for(n):
        orders = []
        for i in range(n):
            order = order_for(customers[i % len(customers)], sku, 1 + i % 3, status=OrderStatus.PAID)
            order.attribution = attribution(dist, link)
            order.save(update_fields=["attribution"])
            orders.append(order)
        return orders

    def pay(order_id):
        def fn():
            with transaction.atomic():
                order = Order.objects.select_for_update().get(pk=order_id)
                stats_services.on_order_paid(order, transaction_id="x")
        return fn

    # Round 1: every customer's first order, all at the same moment. Round 2: two more orders
    # of every customer at once: the existing rows cross 1 → 2 (a repeat customer) and 2 → 3.
    first = orders_for(len(customers))
    assert _run_together([pay(o.pk) for o in first]) == []
    second = orders_for(THREADS)
    assert _run_together([pay(o.pk) for o in second]) == []
    n = len(first) + len(second)
    gmv = sum(o.paid_fen for o in first + second)
    day = DistributorDailyStat.objects.get(distributor=dist, day=today())
    assert (day.orders, day.gmv_fen, day.new_customers) == (n, gmv, len(customers))
    link_day = LinkDailyStat.objects.get(link=link, day=today())
    assert (link_day.orders, link_day.gmv_fen) == (n, gmv)
    link.refresh_from_db()
    assert (link.orders, link.gmv_fen) == (n, gmv)
    assert sorted(DistributorCustomerStat.objects.filter(distributor=dist).values_list("orders", flat=True)) == [
        3] * len(customers)
    totals = DistributorCustomerTotals.objects.get(distributor=dist)
    assert (totals.customers, totals.repeat_customers) == (len(customers), len(customers))
    assert DistributorDailyStat.objects.count() == LinkDailyStat.objects.count() == 1
    assert ShareLink.objects.count() == 1
