"""A crowdfund end to end through the WeChat sandbox over HTTP: friends chip in, the goal is
reached, the order is placed and paid from the escrow, commissions accrue like any order."""
import pytest

from campaigns.models import ContributionStatus, Crowdfund, CrowdfundEvent, CrowdfundStatus
from commissions.models import Commission
from ledger.models import LedgerTransaction
from mall.models import Order, OrderStatus, Sku
from tests.campaigns.crowdfund_helpers import assert_money_accounted, chip_in, escrow_balance, sandbox_pay, start
from tests.factories import CustomerBindingFactory, DistributorFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
K = ContributionStatus


def test_friends_fund_it_and_the_order_places_itself(wechat_sandbox, client_for):
    initiator = UserFactory()
    cf = start(initiator, price_fen=3000, quantity=1, stock=5)
    sku = Sku.objects.get(pk=cf.sku_id)
    assert sku.stock == 4  # the stock is held from the start
    assert cf.goal_fen == 3000 and cf.status == CrowdfundStatus.OPEN

    pays = [chip_in(cf, amount)[1] for amount in (1000, 1200, 800)]
    cf.refresh_from_db()
    assert cf.reserved_fen == 3000 and cf.raised_fen == 0
    for pay in pays[:2]:
        sandbox_pay(wechat_sandbox, pay)
    cf.refresh_from_db()
    assert (cf.raised_fen, cf.reserved_fen, cf.status) == (2200, 800, CrowdfundStatus.OPEN)
    assert escrow_balance(cf) == 2200
    sandbox_pay(wechat_sandbox, pays[2])

    cf.refresh_from_db()
    assert cf.status == CrowdfundStatus.ORDERED and cf.raised_fen == 3000 and cf.reserved_fen == 0
    order = Order.objects.get(pk=cf.order_id)
    assert order.user_id == initiator.pk and order.status == OrderStatus.PAID
    assert order.total_fen == order.paid_fen == 3000 and order.paid_via == "campaigns.crowdfund"
    assert list(order.items.values_list("sku_id", "quantity", "price_fen")) == [(cf.sku_id, 1, 3000)]
    assert Sku.objects.get(pk=cf.sku_id).stock == 4  # the order took over the held stock
    assert escrow_balance(cf) == 0
    kinds = set(LedgerTransaction.objects.filter(cause_id__in=[str(cf.pk), order.no]).values_list("kind", flat=True))
    assert {"campaigns.crowdfund_funded", "mall.payment"} <= kinds
    assert list(CrowdfundEvent.objects.filter(crowdfund=cf, subject="crowdfund").values_list("to_status", flat=True)) \
        == ["", "funded", "ordered"]
    seen = client_for(initiator).get(f"/api/v1/orders/{order.no}/").json()
    assert (seen["status"], seen["paid_via"], seen["total_fen"]) == ("paid", "campaigns.crowdfund", 3000)
    assert_money_accounted(cf)


def test_the_funded_order_is_credited_to_the_initiators_distributor(wechat_sandbox):
    distributor = DistributorFactory()
    initiator = UserFactory()
    CustomerBindingFactory(customer=initiator, distributor=distributor)
    cf = start(initiator, price_fen=2000)
    assert cf.share_link is not None and cf.share_link.distributor_id == distributor.pk
    assert cf.share_code == cf.share_link.code and cf.share_link.target_type == "crowdfund"
    _, pay = chip_in(cf, 2000)
    sandbox_pay(wechat_sandbox, pay)
    cf.refresh_from_db()
    order = Order.objects.get(pk=cf.order_id)
    assert order.attribution["level1_distributor_id"] == distributor.pk
    assert Commission.objects.filter(order=order, beneficiary=distributor.user).exists()


def test_an_initiator_who_is_a_distributor_shares_their_own_link(wechat_sandbox):
    distributor = DistributorFactory()
    cf = start(distributor.user)
    assert cf.share_link.distributor_id == distributor.pk


def test_without_a_distributor_the_link_is_the_page(db, settings):
    cf = start()
    assert cf.share_link is None and len(cf.share_code) == 10
    assert Crowdfund.objects.filter(share_code=cf.share_code).count() == 1
