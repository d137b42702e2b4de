"""A refund of the order a crowdfund paid goes back to the contributors pro rata, each through
a WeChat refund of their own payment; the mall books it and claws commissions back like any
refund. And the split itself: exact to the fen, never more than a contributor paid."""
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.models import CampaignRefund, CampaignRefundStatus, Contribution, ContributionStatus
from campaigns.services.crowdfund_refunds import pro_rata_split
from commissions.models import Commission
from core.jobs import job_run
from mall.models import Order, OrderStatus, Refund, RefundStatus
from mall.services.refunds import refund_approve, refund_request
from tests.campaigns.crowdfund_helpers import assert_money_accounted, chip_in, confirm_refunds, sandbox_pay, start
from tests.factories import CustomerBindingFactory, DistributorFactory, UserFactory
from wechat.models import WechatRefund

K = ContributionStatus


def _funded(server, amounts, *, initiator=None):
    initiator = initiator or UserFactory()
    cf = start(initiator, price_fen=sum(amounts))
    friends = []
    for amount in amounts:
        friend = UserFactory()
        friends.append(friend)
        sandbox_pay(server, chip_in(cf, amount, user=friend)[1])
    cf.refresh_from_db()
    return cf, Order.objects.get(pk=cf.order_id), friends


def _refund(order, amount_fen, operator):
    refund = refund_request(user=order.user, order_no=order.no, amount_fen=amount_fen, reason="不想要了")
    refund_approve(operator=operator, refund_id=refund.pk)
    return Refund.objects.get(pk=refund.pk)


@pytest.mark.django_db(transaction=True)
def test_partial_then_full_refund_goes_back_pro_rata(wechat_sandbox, operator):
    distributor = DistributorFactory()
    initiator = UserFactory()
    CustomerBindingFactory(customer=initiator, distributor=distributor)
    cf, order, friends = _funded(wechat_sandbox, [1000, 1200, 800], initiator=initiator)
    assert Commission.objects.filter(order=order).exists()

    first = _refund(order, 1500, operator)
    parts = CampaignRefund.objects.filter(mall_refund_no=first.no).order_by("contribution_id")
    assert [p.amount_fen for p in parts] == [500, 600, 400]  # 1500 × 1000/3000, 1200/3000, 800/3000
    for p in parts:  # each a WeChat refund of that friend's own payment
        assert WechatRefund.objects.get(out_refund_no=p.no).payment.out_trade_no == p.contribution.no
    first.refresh_from_db()
    assert first.status == RefundStatus.APPROVED  # until WeChat has refunded every part
    confirm_refunds(wechat_sandbox, cf)
    first.refresh_from_db()
    order.refresh_from_db()
    assert first.status == RefundStatus.SUCCEEDED
    assert order.status == OrderStatus.PARTIALLY_REFUNDED and order.refunded_fen == 1500

    second = _refund(order, 1500, operator)
    confirm_refunds(wechat_sandbox, cf)
    second.refresh_from_db()
    order.refresh_from_db()
    assert second.status == RefundStatus.SUCCEEDED and order.status == OrderStatus.REFUNDED
    got = dict(Contribution.objects.filter(crowdfund=cf).values_list("user_id", "refunded_fen"))
    assert got == {friends[0].pk: 1000, friends[1].pk: 1200, friends[2].pk: 800}
    commissions = Commission.objects.filter(order=order)
    assert all(c.reversed_fen == c.amount_fen for c in commissions)
    assert_money_accounted(cf)


@pytest.mark.django_db(transaction=True)
def test_uneven_split_sums_exactly_and_survives_the_retry_job(wechat_sandbox, operator):
    cf, order, _ = _funded(wechat_sandbox, [333, 333, 334])
    refund = _refund(order, 101, operator)
    parts = list(CampaignRefund.objects.filter(mall_refund_no=refund.no))
    assert sum(p.amount_fen for p in parts) == 101 and all(p.amount_fen <= 34 for p in parts)
    job_run(name="mall.retry_refunds")  # the mall's retry asks the sender again: no new parts
    assert CampaignRefund.objects.filter(mall_refund_no=refund.no).count() == len(parts)
    confirm_refunds(wechat_sandbox, cf)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert CampaignRefund.objects.filter(mall_refund_no=refund.no, status=CampaignRefundStatus.SUCCEEDED).count() \
        == len(parts)


@given(total=st.integers(min_value=0, max_value=10**7),
       remaining=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=40))
@settings(max_examples=400, deadline=None)
def test_pro_rata_split_is_exact_and_bounded(total, remaining):
    pool = dict(enumerate(remaining))
    if total > sum(remaining):
        with pytest.raises(ValueError):
            pro_rata_split(total, pool)
        return
    split = pro_rata_split(total, pool)
    assert sum(split.values()) == total
    assert all(0 < share <= pool[key] for key, share in split.items())
    # proportional: no one is off by a whole fen or more from their exact share
    for key, value in pool.items():
        exact = Fraction(total * value, sum(remaining)) if sum(remaining) else Fraction(0)
        assert abs(split.get(key, 0) - exact) < 1
