"""Distribution stats: the order-side daily aggregates (paid, refunded) and GET /distributors/me/stats/."""
from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from distributors import hooks as distributors_hooks
from distributors.models import (
    DistributorCustomerStat,
    DistributorCustomerTotals,
    DistributorDailyStat,
    LinkDailyStat,
    ShareLink,
)
from distributors.selectors import stats as stats_selectors
from distributors.services import stats as stats_services
from mall.models import Order, OrderStatus
from mall.services.orders import order_create, order_mark_paid
from mall.services.refunds import refund_approve, refund_finalize, refund_request
from tests.factories import CustomerBindingFactory, DistributorFactory, ShareLinkFactory, UserFactory
from tests.mall.factories import order_for
from tests.mall.orders_helpers import ADDRESS, make_sku

from .stats_helpers import SHOP_TZ, attribution, today

pytestmark = pytest.mark.django_db

_txn = itertools.count(1)


# --- helpers -----------------------------------------------------------------------------------


def paid_order(buyer, sku, *, distributor=None, link=None, quantity: int = 1) -> Order:
    """An order placed and paid through the mall services, attributed via the ORM before payment."""
    order = order_create(user=buyer, items=[{"sku_id": sku.pk, "quantity": quantity}], address=ADDRESS)
    Order.objects.filter(pk=order.pk).update(attribution=attribution(distributor, link))
    return order_mark_paid(order_no=order.no, amount_fen=order.total_fen, transaction_id=f"42{next(_txn):026d}")


def refund(order: Order, amount_fen: int, operator) -> None:
    """A refund asked for, approved and confirmed by WeChat (through the mall services)."""
    r = refund_request(user=order.user, order_no=order.no, amount_fen=amount_fen, reason="不想要了")
    refund_approve(operator=operator, refund_id=r.pk)
    refund_finalize(refund_no=r.no, succeeded=True, wechat_refund_id=f"50{next(_txn):026d}")


def day_row(distributor, day=None) -> DistributorDailyStat | None:
    return DistributorDailyStat.objects.filter(distributor=distributor, day=day or today()).first()


@pytest.fixture
def clock(monkeypatch):
    """Simulated time: clock.set(aware datetime) makes django.utils.timezone.now() return it."""

    class Clock:
        at: datetime | None = None

        def set(self, at: datetime) -> None:
            self.at = at

    c = Clock()
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: c.at or real_now())
    return c


@pytest.fixture
def sku():
    return make_sku(price_fen=1990, stock=10_000)


# --- aggregates ----------------------------------------------------------------------------------


def test_paid_orders_count_for_the_distributor_link_and_customer(sku):
    dist = DistributorFactory()
    link = ShareLinkFactory(distributor=dist)
    buyer = UserFactory()

    first = paid_order(buyer, sku, distributor=dist, link=link, quantity=2)
    row = day_row(dist)
    assert (row.orders, row.gmv_fen, row.new_customers, row.clicks) == (1, 3980, 1, 0)
    link_row = LinkDailyStat.objects.get(link=link, day=today())
    assert (link_row.orders, link_row.gmv_fen, link_row.distributor_id) == (1, 3980, dist.pk)
    link.refresh_from_db()
    assert (link.orders, link.gmv_fen) == (1, 3980)
    cust = DistributorCustomerStat.objects.get(distributor=dist, customer=buyer)
    assert (cust.orders, cust.gmv_fen, cust.first_paid_at) == (1, 3980, first.paid_at)

    # The same customer again, this time through their binding (no link): a repeat, not a new customer.
    paid_order(buyer, sku, distributor=dist)
    row.refresh_from_db()
    assert (row.orders, row.gmv_fen, row.new_customers) == (2, 5970, 1)
    link.refresh_from_db()
    assert (link.orders, link.gmv_fen) == (1, 3980)  # the link did not bring this one
    assert LinkDailyStat.objects.get(link=link).orders == 1
    cust.refresh_from_db()
    assert (cust.orders, cust.gmv_fen) == (2, 5970)
    totals = DistributorCustomerTotals.objects.get(distributor=dist)
    assert (totals.customers, totals.repeat_customers) == (1, 1)

    # Another customer: new.
    paid_order(UserFactory(), sku, distributor=dist, link=link)
    row.refresh_from_db()
    assert (row.orders, row.gmv_fen, row.new_customers) == (3, 7960, 2)
    assert DistributorDailyStat.objects.count() == 1


def test_unattributed_and_unpaid_orders_count_nowhere(sku):
    dist = DistributorFactory()
    link = ShareLinkFactory(distributor=dist)
    paid_order(UserFactory(), sku)  # nobody brought it
    order = order_create(user=UserFactory(), items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS)
    Order.objects.filter(pk=order.pk).update(attribution=attribution(dist, link))  # created, never paid
    assert not DistributorDailyStat.objects.exists()
    assert not LinkDailyStat.objects.exists()
    assert not DistributorCustomerStat.objects.exists()
    link.refresh_from_db()
    assert (link.orders, link.gmv_fen) == (0, 0)


def test_a_vanished_distributor_or_link_does_not_fail_the_payment(sku):
    dist = DistributorFactory()
    gone_link = ShareLinkFactory(distributor=dist)
    link_id = gone_link.pk
    gone_link.delete()
    order = order_create(user=UserFactory(), items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS)
    snapshot = {**attribution(dist), "link_id": link_id}
    Order.objects.filter(pk=order.pk).update(attribution=snapshot)
    paid = order_mark_paid(order_no=order.no, amount_fen=1990, transaction_id="4200000000000000000000000991")
    assert paid.status == OrderStatus.PAID
    assert day_row(dist).orders == 1
    assert not LinkDailyStat.objects.exists()

    order = order_create(user=UserFactory(), items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS)
    Order.objects.filter(pk=order.pk).update(attribution={**attribution(dist), "distributor_id": 999_999})
    paid = order_mark_paid(order_no=order.no, amount_fen=1990, transaction_id="4200000000000000000000000992")
    assert paid.status == OrderStatus.PAID
    assert DistributorDailyStat.objects.count() == 1


def test_the_day_is_the_payment_day_in_the_shop_time_zone(sku, clock):
    dist = DistributorFactory()
    # 17:30 UTC on 1 March is 01:30 on 2 March in Shanghai.
    clock.set(datetime(2026, 3, 1, 17, 30, tzinfo=ZoneInfo("UTC")))
    paid_order(UserFactory(), sku, distributor=dist)
    assert list(DistributorDailyStat.objects.values_list("day", "orders")) == [(date(2026, 3, 2), 1)]


def test_refunds_come_off_the_payment_day_and_a_full_refund_takes_the_order_back(sku, clock, operator):
    dist = DistributorFactory()
    link = ShareLinkFactory(distributor=dist)
    buyer = UserFactory()
    paid_day = datetime(2026, 5, 10, 12, 0, tzinfo=SHOP_TZ)
    clock.set(paid_day)
    order = paid_order(buyer, sku, distributor=dist, link=link, quantity=3)  # 5970
    paid_order(buyer, sku, distributor=dist, link=link)  # 1990: a repeat customer

    clock.set(paid_day + timedelta(days=3))  # refunded three days later
    refund(order, 970, operator)
    row = day_row(dist, date(2026, 5, 10))
    assert (row.orders, row.gmv_fen, row.new_customers) == (2, 6990, 1)
    assert day_row(dist, date(2026, 5, 13)) is None  # nothing booked on the refund day
    assert DistributorCustomerStat.objects.get(distributor=dist).orders == 2

    refund(order, 5000, operator)  # the rest: fully refunded
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED
    row.refresh_from_db()
    assert (row.orders, row.gmv_fen, row.new_customers) == (1, 1990, 1)
    link_row = LinkDailyStat.objects.get(link=link)
    assert (link_row.orders, link_row.gmv_fen) == (1, 1990)
    link.refresh_from_db()
    assert (link.orders, link.gmv_fen) == (1, 1990)
    cust = DistributorCustomerStat.objects.get(distributor=dist)
    assert (cust.orders, cust.gmv_fen) == (1, 1990)  # no longer a repeat customer
    totals = DistributorCustomerTotals.objects.get(distributor=dist)
    assert (totals.customers, totals.repeat_customers) == (1, 0)


def test_refund_of_an_unattributed_order_changes_nothing(sku, operator):
    dist = DistributorFactory()
    paid_order(UserFactory(), sku, distributor=dist)
    other = paid_order(UserFactory(), sku)
    refund(other, 1990, operator)
    row = day_row(dist)
    assert (row.orders, row.gmv_fen) == (1, 1990)


def test_order_attributed_by_the_attributor_counts(sku):
    """End to end with the distribution app's attributor (share code sent with the order)."""
    from mall import hooks

    if hooks.order_attributor.one() is None:  # pragma: no cover - the attributor lands with the clicks work
        pytest.skip("no attributor registered yet")
    dist = DistributorFactory()
    link = ShareLinkFactory(distributor=dist)
    buyer = UserFactory()
    order = order_create(user=buyer, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS,
                         share_code=link.code)
    assert order.attribution["distributor_id"] == dist.pk
    assert order.attribution["link_id"] == link.pk
    order_mark_paid(order_no=order.no, amount_fen=1990, transaction_id="4200000000000000000000000993")
    link.refresh_from_db()
    assert (link.orders, link.gmv_fen) == (1, 1990)
    assert day_row(dist).orders == 1


def test_incremental_figures_equal_a_recount_from_the_orders(operator):
    """A random mix of payments and refunds over several days and links, through the hooks; the
    aggregates must equal what a scan of the Order rows says."""
    rng = random.Random(4)
    skus = [make_sku(price_fen=p, stock=10_000, title=f"茶{p}") for p in (990, 1990, 12800)]
    dists = [DistributorFactory() for _ in range(3)]
    links = {d.pk: [ShareLinkFactory(distributor=d, channel=c) for c in ("", "moments")] for d in dists}
    buyers = [UserFactory() for _ in range(8)]
    base = datetime(2026, 2, 1, 10, 0, tzinfo=SHOP_TZ)
    orders = []
    for i in range(60):
        dist = rng.choice([*dists, None])
        link = rng.choice([*links[dist.pk], None]) if dist else None
        order = order_for(rng.choice(buyers), rng.choice(skus), rng.randint(1, 3), status=OrderStatus.PAID)
        order.paid_at = base + timedelta(days=rng.randint(0, 4), hours=rng.randint(0, 13), seconds=i)
        order.attribution = attribution(dist, link)
        order.save(update_fields=["paid_at", "attribution"])
        orders.append(order)
    for order in sorted(orders, key=lambda o: o.paid_at):  # payments arrive in time order
        stats_services.on_order_paid(order)
    for order in rng.sample(orders, 20):
        amount = rng.choice([order.paid_fen, order.paid_fen // 2 or 1])
        order.refunded_fen += amount
        order.status = OrderStatus.REFUNDED if order.refunded_fen == order.paid_fen else OrderStatus.PARTIALLY_REFUNDED
        order.save(update_fields=["refunded_fen", "status"])
        stats_services.on_order_refunded(order, refund=None, amount_fen=amount)

    daily: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    by_link: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    by_customer: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for order in Order.objects.exclude(attribution={}):
        a = order.attribution
        day = order.paid_at.astimezone(SHOP_TZ).date()
        counted = 0 if order.refunded_fen == order.paid_fen else 1
        net = order.paid_fen - order.refunded_fen
        for table, key in ((daily, (a["distributor_id"], day)), (by_customer, (a["distributor_id"], order.user_id)),
                           *([(by_link, (a["link_id"], day))] if a["link_id"] else [])):
            table[key][0] += counted
            table[key][1] += net
    assert {(r.distributor_id, r.day): [r.orders, r.gmv_fen] for r in DistributorDailyStat.objects.all()} == daily
    assert {(r.link_id, r.day): [r.orders, r.gmv_fen] for r in LinkDailyStat.objects.all()} == by_link
    assert {
        (r.distributor_id, r.customer_id): [r.orders, r.gmv_fen] for r in DistributorCustomerStat.objects.all()
    } == by_customer
    per_distributor: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for (dist_id, _), (n, _) in by_customer.items():
        per_distributor[dist_id][0] += n >= 1
        per_distributor[dist_id][1] += n >= 2
    assert {
        t.distributor_id: [t.customers, t.repeat_customers] for t in DistributorCustomerTotals.objects.all()
        if t.customers or t.repeat_customers
    } == {k: v for k, v in per_distributor.items() if v != [0, 0]}
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for (link_id, _), (n, fen) in by_link.items():
        totals[link_id][0] += n
        totals[link_id][1] += fen
    assert {link.pk: [link.orders, link.gmv_fen] for link in ShareLink.objects.all() if link.pk in totals} == totals
    # new customers: one per (distributor, customer), on the day of their first paid order
    new = defaultdict(int)
    firsts = {}
    for order in Order.objects.exclude(attribution={}).order_by("paid_at"):
        key = (order.attribution["distributor_id"], order.user_id)
        firsts.setdefault(key, order.paid_at.astimezone(SHOP_TZ).date())
    for (dist_id, _), day in firsts.items():
        new[(dist_id, day)] += 1
    assert {(r.distributor_id, r.day): r.new_customers for r in DistributorDailyStat.objects.filter(
        new_customers__gt=0)} == new
    # The operators' audit recounts the same from the orders and agrees.
    report = stats_selectors.stats_audit(day_from=date(2026, 2, 1), day_to=date(2026, 2, 5))
    assert report["ok"], report
    assert report["checked_orders"] == sum(1 for o in orders if o.attribution)


def test_the_audit_reports_aggregates_that_differ_from_the_orders(sku, capsys):
    from django.core.management import call_command

    dist = DistributorFactory()
    link = ShareLinkFactory(distributor=dist)
    paid_order(UserFactory(), sku, distributor=dist, link=link)
    paid_order(UserFactory(), sku, distributor=dist)
    call_command("run_job", "distributors.stats_audit")
    assert '"ok": true' in capsys.readouterr().out
    LinkDailyStat.objects.filter(link=link).update(gmv_fen=F("gmv_fen") + 1)
    DistributorDailyStat.objects.filter(distributor=dist).update(orders=5)
    report = stats_selectors.stats_audit(day_from=today(), day_to=today())
    assert not report["ok"]
    assert report["checked_orders"] == 2
    assert report["mismatches"] == [
        {"kind": "distributor_day", "id": dist.pk, "day": today().isoformat(),
         "expected": {"orders": 2, "gmv_fen": 3980}, "actual": {"orders": 5, "gmv_fen": 3980}},
        {"kind": "link_day", "id": link.pk, "day": today().isoformat(),
         "expected": {"orders": 1, "gmv_fen": 1990}, "actual": {"orders": 1, "gmv_fen": 1991}},
    ]


# --- GET /api/v1/distributors/me/stats/ ------------------------------------------------------------

URL = "/api/v1/distributors/me/stats/"


def _clicks(distributor, day, clicks, visitors) -> None:
    """Click figures as the click flush writes them (another module's job)."""
    DistributorDailyStat.objects.update_or_create(
        distributor=distributor, day=day, defaults={"clicks": clicks, "unique_visitors": visitors}
    )


def test_stats_figures_are_exact(sku, client_for, clock):
    dist = DistributorFactory()
    link = ShareLinkFactory(distributor=dist)
    # The team: two approved level-1 recruits (one pending does not count), one level-2.
    rec1 = DistributorFactory(inviter=dist)
    DistributorFactory(inviter=dist)
    DistributorFactory(inviter=dist, status="pending")
    DistributorFactory(inviter=rec1)
    now = timezone.now()
    for customer, expires in ((UserFactory(), None), (UserFactory(), now + timedelta(days=3)),
                              (UserFactory(), now - timedelta(days=1))):
        CustomerBindingFactory(customer=customer, distributor=dist, bound_at=now, expires_at=expires,
                               protected_until=now)
    d1, d2 = date(2026, 4, 1), date(2026, 4, 3)
    _clicks(dist, d1, 300, 120)
    _clicks(dist, d2, 200, 80)
    a, b = UserFactory(), UserFactory()
    clock.set(datetime(2026, 4, 1, 9, 0, tzinfo=SHOP_TZ))
    paid_order(a, sku, distributor=dist, link=link)
    paid_order(a, sku, distributor=dist, link=link, quantity=2)
    clock.set(datetime(2026, 4, 3, 20, 0, tzinfo=SHOP_TZ))
    paid_order(b, sku, distributor=dist)
    clock.set(datetime(2026, 4, 5, 9, 0, tzinfo=SHOP_TZ))
    paid_order(UserFactory(), sku, distributor=dist)  # outside the range asked for
    clock.set(None)

    res = client_for(dist.user).get(URL, {"from": "2026-03-31", "to": "2026-04-04"})
    assert res.status_code == 200, res.json()
    body = res.json()
    series = body.pop("series")
    assert body == {
        "from": "2026-03-31",
        "to": "2026-04-04",
        "clicks": 500,
        "unique_visitors": 200,
        "orders": 3,
        "gmv_fen": 1990 * 4,
        "new_customers": 2,
        "conversion_bps": 150,  # 3 / 200
        "conversion_rate": "0.0150",
        "gmv_per_click_fen": 7960 // 500,
        # the commissions app: 10 % default level-1 rate on the 4 units paid in the range
        "epc_fen": 796 // 500,
        "commissions": {"pending_fen": 796, "frozen_fen": 0, "settled_fen": 0, "reversed_fen": 0},
        # the wallet now: every commission so far still frozen, the 5 April one (199) too
        "wallet": {"available_fen": 0, "frozen_fen": 796 + 199, "withdrawing_fen": 0, "withdrawn_fen": 0,
                   "debt_fen": 0},
        "team": {"level1": 2, "level2": 1},
        "bound_customers": 2,
        "customers": 3,  # all time, the 5 April customer too
        "repeat_customers": 1,
    }
    assert series == [
        {"day": "2026-03-31", "clicks": 0, "unique_visitors": 0, "orders": 0, "gmv_fen": 0, "new_customers": 0},
        {"day": "2026-04-01", "clicks": 300, "unique_visitors": 120, "orders": 2, "gmv_fen": 5970,
         "new_customers": 1},
        {"day": "2026-04-02", "clicks": 0, "unique_visitors": 0, "orders": 0, "gmv_fen": 0, "new_customers": 0},
        {"day": "2026-04-03", "clicks": 200, "unique_visitors": 80, "orders": 1, "gmv_fen": 1990,
         "new_customers": 1},
        {"day": "2026-04-04", "clicks": 0, "unique_visitors": 0, "orders": 0, "gmv_fen": 0, "new_customers": 0},
    ]


def test_stats_without_visitors_or_clicks_have_null_ratios(client_for):
    dist = DistributorFactory(status="pending")  # not approved yet: still sees their (empty) figures
    body = client_for(dist.user).get(URL).json()
    assert (body["conversion_bps"], body["conversion_rate"], body["gmv_per_click_fen"], body["epc_fen"]) == (
        None, None, None, None)
    assert body["orders"] == 0
    assert len(body["series"]) == 30


def test_commissions_and_epc_come_from_the_registered_provider(client_for):
    dist = DistributorFactory()
    _clicks(dist, date(2026, 4, 1), 1000, 400)
    calls = []

    def provider(*, distributor_id, day_from, day_to):
        calls.append((distributor_id, day_from, day_to))
        return {"pending_fen": 1000, "frozen_fen": 2000, "settled_fen": 4567, "reversed_fen": 300}

    previous = distributors_hooks.commission_totals.one()
    distributors_hooks.register_commission_totals(provider)
    try:
        body = client_for(dist.user).get(URL, {"from": "2026-04-01", "to": "2026-04-01"}).json()
    finally:
        distributors_hooks.register_commission_totals(previous)  # the commissions app's own provider
    assert calls == [(dist.pk, date(2026, 4, 1), date(2026, 4, 1))]
    assert body["commissions"] == {"pending_fen": 1000, "frozen_fen": 2000, "settled_fen": 4567, "reversed_fen": 300}
    assert body["epc_fen"] == 7567 // 1000


def test_stats_default_range_is_the_last_30_days(client_for):
    dist = DistributorFactory()
    body = client_for(dist.user).get(URL).json()
    assert body["to"] == today().isoformat()
    assert body["from"] == (today() - timedelta(days=29)).isoformat()
    body = client_for(dist.user).get(URL, {"to": "2026-01-31"}).json()
    assert (body["from"], body["to"]) == ("2026-01-02", "2026-01-31")
    body = client_for(dist.user).get(URL, {"from": (today() - timedelta(days=3)).isoformat()}).json()
    assert (body["from"], body["to"], len(body["series"])) == (
        (today() - timedelta(days=3)).isoformat(), today().isoformat(), 4)
    # 366 days is the most
    body = client_for(dist.user).get(URL, {"from": "2025-01-01", "to": "2026-01-01"}).json()
    assert len(body["series"]) == 366


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-4-1"}, "from"),
        ({"from": "20260401"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-02-30"}, "from"),
        ({"from": "2026-04-02", "to": "2026-04-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),  # 367 days
        ({"from": "0001-01-01", "to": "9999-12-31"}, "to"),
        ({"from": (date.today() + timedelta(days=400)).isoformat()}, "from"),  # after today
    ],
)
def test_stats_bad_ranges_are_400(client_for, params, field):
    dist = DistributorFactory()
    res = client_for(dist.user).get(URL, params)
    assert res.status_code == 400
    assert res.json()["code"] == "invalid"
    assert field in res.json()["extra"]["fields"]


def test_stats_need_a_distributor_and_a_login(user_client, api_client):
    res = user_client.get(URL)
    assert res.status_code == 403
    assert res.json()["code"] == "not_a_distributor"
    assert api_client.get(URL).status_code == 401


def test_a_distributor_sees_only_their_own_figures(sku, client_for):
    mine, theirs = DistributorFactory(), DistributorFactory()
    paid_order(UserFactory(), sku, distributor=theirs, quantity=5)
    _clicks(theirs, today(), 50, 40)
    DistributorFactory(inviter=theirs)
    body = client_for(mine.user).get(URL).json()
    assert (body["orders"], body["gmv_fen"], body["clicks"], body["customers"], body["team"]) == (
        0, 0, 0, 0, {"level1": 0, "level2": 0})
    theirs_body = client_for(theirs.user).get(URL).json()
    assert (theirs_body["orders"], theirs_body["gmv_fen"], theirs_body["clicks"]) == (1, 9950, 50)


def _seed_attributed(dist, link, n: int, rng: random.Random) -> None:
    sku = make_sku(price_fen=1500, stock=10)
    buyers = [UserFactory() for _ in range(max(1, n // 3))]
    for _ in range(n):
        order = order_for(rng.choice(buyers), sku, 1, status=OrderStatus.PAID)
        order.paid_at = timezone.now() - timedelta(days=rng.randint(0, 300))
        order.attribution = attribution(dist, link)
        order.save(update_fields=["paid_at", "attribution"])
        stats_services.on_order_paid(order)


def test_stats_cost_a_bounded_number_of_queries_whatever_the_data(client_for, django_assert_max_num_queries):
    rng = random.Random(7)
    small, big = DistributorFactory(), DistributorFactory()
    _seed_attributed(small, ShareLinkFactory(distributor=small), 10, rng)
    _seed_attributed(big, ShareLinkFactory(distributor=big), 200, rng)
    params = {"from": (today() - timedelta(days=365)).isoformat(), "to": today().isoformat()}
    counts = []
    for dist, expected_orders in ((small, 10), (big, 200)):
        client = client_for(dist.user)
        # 5 queries for the figures, 1 for the wallet
        with CaptureQueriesContext(connection) as ctx, django_assert_max_num_queries(6):
            body = client.get(URL, params).json()
        assert body["orders"] == expected_orders
        counts.append(len(ctx.captured_queries))
        assert not any('"mall_order"' in q["sql"] for q in ctx.captured_queries)
    assert counts[0] == counts[1]
