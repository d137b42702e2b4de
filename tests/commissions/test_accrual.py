"""Commissions: rule resolution, rounding, the 100 % cap, accrual once, freezing, reversal by refunds."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from commissions.models import Commission, CommissionRule
from commissions.services.accrual import commission_amount, commission_rate_resolve
from distributors.models import DistributionSettings, Distributor
from ledger.models import Account, LedgerTransaction
from mall.models import Order
from mall.services.orders import order_complete_overdue, order_ship
from mall.services.refunds import refund_approve, refund_finalize, refund_request
from tests.concurrency import run_at_once
from tests.factories import DistributorFactory, TierFactory, UserFactory, distribution_settings_set
from tests.mall.orders_helpers import make_sku

from .accrual_helpers import attributed_order, pay

pytestmark = pytest.mark.django_db


def frozen_balance(user) -> int:
    return Account.objects.filter(owner=user, kind="user_frozen").aggregate(t=Sum("balance_fen"))["t"] or 0


def test_resolution_order_sku_product_tier_default(chain):
    mid, _ = chain
    sku = make_sku(price_fen=1000)
    gold = TierFactory(name="金", rank=5)
    Distributor.objects.filter(pk=mid.pk).update(tier=gold)
    args = {"sku_id": sku.pk, "product_id": sku.product_id, "tier_id": gold.pk}
    assert commission_rate_resolve(level=1, **args) == (1000, None, "default")
    CommissionRule.objects.create(scope="tier", tier=gold, level1_bps=1200)
    assert commission_rate_resolve(level=1, **args) == (1200, None, "tier")
    assert commission_rate_resolve(level=2, **args) == (500, None, "default")  # the tier sets level 1 only
    CommissionRule.objects.create(scope="product", product_id=sku.product_id, level1_bps=1500, level2_bps=300)
    assert commission_rate_resolve(level=1, **args) == (1500, None, "product")
    assert commission_rate_resolve(level=2, **args) == (300, None, "product")
    CommissionRule.objects.create(scope="sku", sku=sku, level1_fixed_fen=88)
    assert commission_rate_resolve(level=1, **args) == (None, 88, "sku")
    assert commission_rate_resolve(level=2, **args) == (300, None, "product")


def test_rounding_down_and_fixed_amounts():
    assert commission_amount(base_fen=999, quantity=1, rate_bps=1000, fixed_fen=None) == 99  # 99.9 → 99
    assert commission_amount(base_fen=1, quantity=1, rate_bps=9999, fixed_fen=None) == 0
    assert commission_amount(base_fen=3000, quantity=3, rate_bps=None, fixed_fen=150) == 450
    assert commission_amount(base_fen=300, quantity=3, rate_bps=None, fixed_fen=150) == 300  # never above the base


def test_accrual_on_payment_two_levels_with_the_ledger(chain):
    mid, top = chain
    tea, cup = make_sku(price_fen=1999), make_sku(price_fen=500, title="杯")
    order = attributed_order(UserFactory(), [(tea, 2), (cup, 1)], level1=mid, level2=top)
    pay(order)
    rows = {(c.order_item.sku_id, c.level): c.amount_fen for c in Commission.objects.select_related("order_item")}
    assert rows == {(tea.pk, 1): 399, (tea.pk, 2): 199, (cup.pk, 1): 50, (cup.pk, 2): 25}  # 3998·10 %, ·5 %
    assert set(Commission.objects.values_list("status", flat=True)) == {"pending"}
    assert (frozen_balance(mid.user), frozen_balance(top.user)) == (449, 224)
    assert LedgerTransaction.objects.filter(kind="commission.accrue").count() == 1
    pay(order)  # the same payment again: nothing more
    from commissions.services.accrual import on_order_paid

    on_order_paid(Order.objects.get(pk=order.pk))  # even the hook itself, twice
    assert Commission.objects.count() == 4
    assert (frozen_balance(mid.user), frozen_balance(top.user)) == (449, 224)


def test_the_two_levels_never_exceed_the_base(chain):
    mid, top = chain
    sku = make_sku(price_fen=1000)
    CommissionRule.objects.create(scope="sku", sku=sku, level1_bps=9000, level2_bps=5000)
    pay(attributed_order(UserFactory(), [(sku, 1)], level1=mid, level2=top))
    assert dict(Commission.objects.values_list("level", "amount_fen")) == {1: 900, 2: 100}


@pytest.mark.parametrize("status", ["pending", "frozen", "rejected"])
def test_unapproved_beneficiaries_earn_nothing(chain, status):
    mid, top = chain
    Distributor.objects.filter(pk=top.pk).update(status=status)
    pay(attributed_order(UserFactory(), [(make_sku(price_fen=1000), 1)], level1=mid, level2=top))
    assert list(Commission.objects.values_list("distributor_id", flat=True)) == [mid.pk]
    assert frozen_balance(top.user) == 0


def test_one_level_setting_pays_level_one_only(chain):
    mid, top = chain
    DistributionSettings.objects.filter(pk=1).update(levels=1)
    distribution_settings_set()
    pay(attributed_order(UserFactory(), [(make_sku(price_fen=1000), 1)], level1=mid, level2=top))
    assert list(Commission.objects.values_list("level", flat=True)) == [1]


def test_completion_freezes_with_the_settlement_date(chain):
    mid, top = chain
    order = attributed_order(UserFactory(), [(make_sku(price_fen=1000), 1)], level1=mid, level2=top)
    pay(order)
    order_ship(operator=None, order_no=order.no, carrier="SF", tracking_no="SF0001")
    Order.objects.filter(pk=order.pk).update(shipped_at=timezone.now() - timedelta(days=11))
    before = timezone.now()
    order_complete_overdue(order_no=order.no)
    rows = list(Commission.objects.all())
    assert {c.status for c in rows} == {"frozen"}
    for c in rows:
        assert before + timedelta(days=7) <= c.settles_at <= timezone.now() + timedelta(days=7)


def test_refunds_reverse_in_proportion_and_add_up(chain, operator):
    mid, top = chain
    buyer = UserFactory()
    order = attributed_order(buyer, [(make_sku(price_fen=3333), 1)], level1=mid, level2=top)
    pay(order)  # level 1: 333, level 2: 166
    for amount in (1000, 2333):
        refund = refund_request(user=buyer, order_no=order.no, amount_fen=amount, reason="退")
        refund_approve(operator=operator, refund_id=refund.pk)
        refund_finalize(refund_no=refund.no, succeeded=True)
        if amount == 1000:  # a third refunded: floor(333·1000/3333) = 99, floor(166·1000/3333) = 49
            assert dict(Commission.objects.values_list("level", "reversed_fen")) == {1: 99, 2: 49}
            assert (frozen_balance(mid.user), frozen_balance(top.user)) == (234, 117)
    assert dict(Commission.objects.values_list("level", "reversed_fen")) == {1: 333, 2: 166}
    assert set(Commission.objects.values_list("status", flat=True)) == {"reversed"}
    assert (frozen_balance(mid.user), frozen_balance(top.user)) == (0, 0)
    assert LedgerTransaction.objects.filter(kind="commission.reverse").count() == 2


def test_the_api_shows_my_commissions_and_wallet_only(chain, client_for):
    mid, top = chain
    pay(attributed_order(UserFactory(), [(make_sku(price_fen=1000), 1)], level1=mid, level2=top))
    mine = client_for(mid.user).get("/api/v1/commissions/").json()
    assert [(c["level"], c["amount_fen"], c["status"]) for c in mine["results"]] == [(1, 100, "pending")]
    assert client_for(mid.user).get("/api/v1/commissions/?status=settled").json()["count"] == 0
    assert client_for(mid.user).get("/api/v1/commissions/?status=bogus").status_code == 400
    assert client_for(mid.user).get("/api/v1/wallet/").json() == {
        "available_fen": 0, "frozen_fen": 100, "withdrawing_fen": 0, "withdrawn_fen": 0, "debt_fen": 0}
    entries = client_for(top.user).get("/api/v1/wallet/entries/").json()["results"]
    assert [(e["account"], e["amount_fen"], e["kind"]) for e in entries] == [("user_frozen", 50, "commission.accrue")]
    assert client_for(UserFactory()).get("/api/v1/commissions/").json()["count"] == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_payments_of_one_order_accrue_once():
    distribution_settings_set(default_level1_bps=1000, default_level2_bps=500, levels=2)
    top = DistributorFactory()
    mid = DistributorFactory(inviter=top)
    order = attributed_order(UserFactory(), [(make_sku(price_fen=2000), 1)], level1=mid, level2=top)
    run_at_once(lambda i: pay(order), 10)  # a thread that crashes fails the test
    assert Commission.objects.count() == 2
    assert LedgerTransaction.objects.filter(kind="commission.accrue").count() == 1
    assert (frozen_balance(mid.user), frozen_balance(top.user)) == (200, 100)
