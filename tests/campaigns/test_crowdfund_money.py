"""Crowdfund money under races and odd WeChat timing, on the real database and the WeChat
sandbox over HTTP: never over-funded, every paid fen in the order or given back, the books
balanced (the autouse ledger audit), each payment acting once."""
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.utils import timezone

from campaigns.models import (
    CampaignRefund,
    CampaignRefundStatus,
    Contribution,
    ContributionStatus,
    Crowdfund,
    CrowdfundStatus,
)
from campaigns.services import crowdfunds as cf_services
from core.errors import DomainError
from core.jobs import job_run
from mall.models import Order, Sku
from tests.campaigns.crowdfund_helpers import (
    assert_money_accounted,
    chip_in,
    confirm_refunds,
    escrow_balance,
    paid_sum,
    sandbox_fault,
    sandbox_pay,
    start,
)
from tests.concurrency import run_at_once
from tests.factories import UserFactory
from wechat.models import WechatPayment
from wechat.pay import to_xml
from wechat.sandbox.models.pay import SandboxPrepay, SandboxRefund
from wechat.sandbox.pay_views import payment_notification

pytestmark = pytest.mark.django_db(transaction=True)
K = ContributionStatus
S = CrowdfundStatus


def _notification_body(pay: dict) -> bytes:
    """The signed notification WeChat would send once the friend has paid."""
    prepay = SandboxPrepay.objects.get(prepay_id=pay["prepay_id"])
    if prepay.trade_state != SandboxPrepay.State.SUCCESS:
        SandboxPrepay.objects.filter(pk=prepay.pk).update(
            trade_state=SandboxPrepay.State.SUCCESS, transaction_id=f"4200{prepay.pk:028d}",
            time_end=timezone.localtime().strftime("%Y%m%d%H%M%S"))
        prepay.refresh_from_db()
    return to_xml(payment_notification(prepay), signed=False).encode()


def _post_notify(server, body: bytes) -> int:
    return requests.post(f"{server.url}/api/v1/wechat/pay/notify/", data=body,
                         headers={"Content-Type": "text/xml"}, timeout=30).status_code


def _expire_reservation(c: Contribution) -> None:
    Contribution.objects.filter(pk=c.pk).update(reserved_until=timezone.now() - timedelta(seconds=1))


@pytest.mark.postgres
def test_200_friends_race_for_the_last_10_yuan(wechat_sandbox):
    """The goal is 50 yuan, 40 already paid; 200 friends chip in 1–5 yuan at once (40 at a time:
    each friend's request holds a database connection here and one in the live server, and
    PostgreSQL allows 100). Raised never exceeds the goal, the rest get a clear 409/400."""
    cf = start(price_fen=5000)
    _, pay = chip_in(cf, 4000)
    sandbox_pay(wechat_sandbox, pay)
    friends = [UserFactory() for _ in range(200)]
    lanes = 40

    def lane(i: int):
        results = []
        for n in range(i, len(friends), lanes):
            try:
                c, pay = chip_in(cf, 100 * (1 + n % 5), user=friends[n])
                results.append((c.no, pay))
            except DomainError as exc:  # the answer a refused friend gets
                results.append(exc.code)
        connection.close()
        return results

    outcomes = [x for lane_results in run_at_once(lane, lanes) for x in lane_results]
    reserved = [x for x in outcomes if isinstance(x, tuple)]
    refused = [x for x in outcomes if not isinstance(x, tuple)]
    assert len(outcomes) == 200
    assert set(refused) <= {"crowdfund_full", "amount_too_large"}, set(refused)
    cf.refresh_from_db()
    assert cf.raised_fen == 4000 and cf.reserved_fen == 1000  # exactly the last 10 yuan, no more
    assert sum(c.amount_fen for c in Contribution.objects.filter(crowdfund=cf, status=K.PENDING_PAYMENT)) == 1000
    assert len(reserved) == Contribution.objects.filter(crowdfund=cf, status=K.PENDING_PAYMENT).count()

    # Everyone who got a reservation pays, at once.
    def pay_it(i: int):
        sandbox_pay(wechat_sandbox, reserved[i][1])
        connection.close()

    run_at_once(pay_it, len(reserved))
    cf.refresh_from_db()
    assert cf.status == S.ORDERED and cf.raised_fen == cf.goal_fen == 5000
    assert paid_sum(cf) == 5000 and escrow_balance(cf) == 0
    assert Order.objects.get(pk=cf.order_id).paid_fen == 5000
    assert_money_accounted(cf)


def test_duplicate_and_concurrent_notifications_count_once(wechat_sandbox):
    cf = start(price_fen=2000)
    c, pay = chip_in(cf, 1500)
    body = _notification_body(pay)
    codes = run_at_once(lambda i: (_post_notify(wechat_sandbox, body), connection.close())[0], 12)
    assert codes == [200] * 12
    for _ in range(3):
        assert _post_notify(wechat_sandbox, body) == 200
    cf.refresh_from_db()
    c.refresh_from_db()
    assert c.status == K.PAID and (cf.raised_fen, cf.reserved_fen, cf.contributors) == (1500, 0, 1)
    assert escrow_balance(cf) == 1500
    assert WechatPayment.objects.get(out_trade_no=c.no).notify_count == 15
    assert_money_accounted(cf)


def test_funding_notification_twice_places_one_order(wechat_sandbox):
    cf = start(price_fen=2000)
    _, pay = chip_in(cf, 2000)
    body = _notification_body(pay)
    run_at_once(lambda i: (_post_notify(wechat_sandbox, body), connection.close())[0], 8)
    cf.refresh_from_db()
    assert cf.status == S.ORDERED
    assert Order.objects.filter(paid_via="campaigns.crowdfund", paid_via_ref=str(cf.pk)).count() == 1
    assert_money_accounted(cf)


def test_payment_for_an_expired_reservation_with_room_counts(wechat_sandbox):
    cf = start(price_fen=3000)
    c, pay = chip_in(cf, 1000)
    _expire_reservation(c)
    sandbox_fault(wechat_sandbox, "pay.closeorder", "http_error", times=2)  # the close does not reach WeChat
    assert job_run(name="campaigns.expire_reservations")["expired"] == 1
    c.refresh_from_db()
    cf.refresh_from_db()
    assert c.status == K.EXPIRED and cf.reserved_fen == 0
    sandbox_pay(wechat_sandbox, pay)  # the friend paid anyway
    c.refresh_from_db()
    cf.refresh_from_db()
    assert c.status == K.PAID and cf.raised_fen == 1000
    assert not CampaignRefund.objects.filter(contribution=c).exists()
    assert_money_accounted(cf)


def test_payment_for_an_expired_reservation_without_room_is_refunded(wechat_sandbox):
    cf = start(price_fen=3000)
    late, late_pay = chip_in(cf, 1000)
    _expire_reservation(late)
    sandbox_fault(wechat_sandbox, "pay.closeorder", "http_error", times=2)
    job_run(name="campaigns.expire_reservations")
    _, pay = chip_in(cf, 2500)  # the room went to another friend meanwhile
    sandbox_pay(wechat_sandbox, pay)
    sandbox_pay(wechat_sandbox, late_pay)
    late.refresh_from_db()
    cf.refresh_from_db()
    assert late.status == K.REFUNDING and cf.raised_fen == 2500
    refund = CampaignRefund.objects.get(contribution=late)
    assert refund.reason == "no_room" and refund.amount_fen == 1000
    assert escrow_balance(cf) == 3500
    assert confirm_refunds(wechat_sandbox, cf) == 1
    late.refresh_from_db()
    assert late.status == K.REFUNDED and late.refunded_fen == 1000
    assert escrow_balance(cf) == 2500
    assert_money_accounted(cf)


def test_expired_reservation_frees_its_amount_and_closes_the_wechat_order(wechat_sandbox):
    cf = start(price_fen=3000)
    c, pay = chip_in(cf, 3000)
    with pytest.raises(Exception) as err:
        chip_in(cf, 100)
    assert getattr(err.value, "code", "") == "crowdfund_full"
    _expire_reservation(c)
    job_run(name="campaigns.expire_reservations")
    c.refresh_from_db()
    assert c.status == K.EXPIRED
    assert WechatPayment.objects.get(out_trade_no=c.no).status == "closed"
    res = requests.post(f"{wechat_sandbox.url}/wechat-sandbox/pay/{pay['prepay_id']}/confirm/", timeout=10)
    assert res.status_code == 409  # WeChat will not take the money any more
    chip_in(cf, 3000)  # the room is free again


def test_reservation_that_was_paid_before_its_close_counts(wechat_sandbox):
    """The notification got lost; closing at WeChat says ORDERPAID, so the payment is recorded."""
    cf = start(price_fen=2000)
    c, pay = chip_in(cf, 2000)
    SandboxPrepay.objects.filter(prepay_id=pay["prepay_id"]).update(
        trade_state=SandboxPrepay.State.SUCCESS, transaction_id="4200000000000000000000000777",
        time_end=timezone.localtime().strftime("%Y%m%d%H%M%S"))
    _expire_reservation(c)
    result = job_run(name="campaigns.expire_reservations")
    assert result["expired"] == 0 and result["paid"] == 1
    cf.refresh_from_db()
    assert cf.status == S.ORDERED
    assert_money_accounted(cf)


def test_expiry_refunds_paid_contributions_and_releases_stock(wechat_sandbox):
    cf = start(price_fen=3000, stock=3)
    assert Sku.objects.get(pk=cf.sku_id).stock == 2
    paid = [chip_in(cf, amount) for amount in (700, 800)]
    for _, pay in paid:
        sandbox_pay(wechat_sandbox, pay)
    pending, _ = chip_in(cf, 500)
    Crowdfund.objects.filter(pk=cf.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert job_run(name="campaigns.expire_crowdfunds")["expired"] == 1
    cf.refresh_from_db()
    pending.refresh_from_db()
    assert cf.status == S.EXPIRED and cf.reserved_fen == 0 and pending.status == K.EXPIRED
    assert Sku.objects.get(pk=cf.sku_id).stock == 3
    assert WechatPayment.objects.get(out_trade_no=pending.no).status == "closed"
    refunds = CampaignRefund.objects.filter(contribution__crowdfund=cf)
    assert sorted(refunds.values_list("amount_fen", flat=True)) == [700, 800]
    assert set(refunds.values_list("reason", flat=True)) == {"expired"}
    assert job_run(name="campaigns.expire_crowdfunds")["expired"] == 0  # once
    assert confirm_refunds(wechat_sandbox, cf) == 2
    cf.refresh_from_db()
    assert cf.status == S.REFUNDED and escrow_balance(cf) == 0
    assert_money_accounted(cf)


def test_expiry_with_nothing_paid_ends_refunded(wechat_sandbox):
    cf = start(price_fen=3000)
    chip_in(cf, 500)
    Crowdfund.objects.filter(pk=cf.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    job_run(name="campaigns.expire_crowdfunds")
    cf.refresh_from_db()
    assert cf.status == S.REFUNDED and not CampaignRefund.objects.filter(contribution__crowdfund=cf).exists()


def test_payment_after_cancel_is_refunded(wechat_sandbox):
    initiator = UserFactory()
    cf = start(initiator, price_fen=3000)
    _, paid_pay = chip_in(cf, 1000)
    sandbox_pay(wechat_sandbox, paid_pay)
    late, late_pay = chip_in(cf, 500)
    body = _notification_body(late_pay)  # the friend paid; WeChat's notification is on its way
    cf_services.crowdfund_cancel(user=initiator, crowdfund_id=cf.pk)
    assert _post_notify(wechat_sandbox, body) == 200
    late.refresh_from_db()
    assert late.status == K.REFUNDING
    assert CampaignRefund.objects.get(contribution=late).reason == "closed"
    cf.refresh_from_db()
    assert cf.status == S.CANCELLED and Sku.objects.get(pk=cf.sku_id).stock == 10
    assert confirm_refunds(wechat_sandbox, cf) == 2
    cf.refresh_from_db()
    assert cf.status == S.REFUNDED and escrow_balance(cf) == 0
    assert_money_accounted(cf)


def test_payment_after_expiry_is_refunded(wechat_sandbox):
    cf = start(price_fen=3000)
    late, late_pay = chip_in(cf, 500)
    body = _notification_body(late_pay)
    Crowdfund.objects.filter(pk=cf.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    sandbox_fault(wechat_sandbox, "pay.closeorder", "http_error", times=2)
    job_run(name="campaigns.expire_crowdfunds")
    assert _post_notify(wechat_sandbox, body) == 200
    late.refresh_from_db()
    assert late.status == K.REFUNDING and CampaignRefund.objects.get(contribution=late).reason == "closed"
    confirm_refunds(wechat_sandbox, cf)
    assert_money_accounted(cf)


def test_pay_the_rest_funds_it(wechat_sandbox):
    initiator = UserFactory()
    cf = start(initiator, price_fen=3000)
    _, pay = chip_in(cf, 1234)
    sandbox_pay(wechat_sandbox, pay)
    rest, rest_pay = cf_services.crowdfund_pay_rest(user=initiator, crowdfund_id=cf.pk, client_ip="203.0.113.1")
    assert rest.amount_fen == 1766 and rest.is_rest and rest.user_id == initiator.pk
    sandbox_pay(wechat_sandbox, rest_pay)
    cf.refresh_from_db()
    assert cf.status == S.ORDERED
    assert_money_accounted(cf)


def test_pay_the_rest_when_everything_is_reserved_is_refused(wechat_sandbox):
    initiator = UserFactory()
    cf = start(initiator, price_fen=3000)
    chip_in(cf, 3000)
    with pytest.raises(Exception) as err:
        cf_services.crowdfund_pay_rest(user=initiator, crowdfund_id=cf.pk, client_ip="203.0.113.1")
    assert getattr(err.value, "code", "") == "crowdfund_full"


def test_a_failed_refund_is_tried_again_with_a_new_number(wechat_sandbox, settings):
    settings.CAMPAIGNS_REFUND_ATTEMPTS = 2
    initiator = UserFactory()
    cf = start(initiator, price_fen=3000)
    c, pay = chip_in(cf, 1000)
    sandbox_pay(wechat_sandbox, pay)
    cf_services.crowdfund_cancel(user=initiator, crowdfund_id=cf.pk)
    first = CampaignRefund.objects.get(contribution=c)
    confirm_refunds(wechat_sandbox, cf, status="CHANGE")  # WeChat: the refund went wrong
    first.refresh_from_db()
    second = CampaignRefund.objects.get(contribution=c, attempt=2)
    assert first.status == CampaignRefundStatus.FAILED and second.no != first.no
    confirm_refunds(wechat_sandbox, cf, status="CHANGE")
    cf.refresh_from_db()
    assert cf.status == S.CANCELLED  # waits for an operator: the money is still in the escrow
    assert cf.events.filter(kind="refund_needs_operator").count() == 1
    assert escrow_balance(cf) == 1000
    assert_money_accounted(cf)


def test_lost_refund_notification_is_recovered_by_the_retry_job(wechat_sandbox):
    initiator = UserFactory()
    cf = start(initiator, price_fen=3000)
    c, pay = chip_in(cf, 1000)
    sandbox_pay(wechat_sandbox, pay)
    cf_services.crowdfund_cancel(user=initiator, crowdfund_id=cf.pk)
    refund = CampaignRefund.objects.get(contribution=c)
    # WeChat refunded it, but its notification never arrived.
    SandboxRefund.objects.filter(out_refund_no=refund.no).update(refund_status=SandboxRefund.State.SUCCESS)
    CampaignRefund.objects.filter(pk=refund.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    job_run(name="campaigns.retry_refunds")
    refund.refresh_from_db()
    cf.refresh_from_db()
    assert refund.status == CampaignRefundStatus.SUCCEEDED and cf.status == S.REFUNDED
    assert_money_accounted(cf)


@pytest.mark.postgres
@pytest.mark.parametrize("rounds", [3])
def test_cancel_racing_the_funding_payment_ends_one_way(wechat_sandbox, rounds):
    """The initiator cancels just as the last friend's payment arrives: either the order is placed
    and the cancel is refused, or the cancel wins and that payment goes back — never both."""
    outcomes = set()
    for _ in range(rounds):
        initiator = UserFactory()
        cf = start(initiator, price_fen=2000)
        sandbox_pay(wechat_sandbox, chip_in(cf, 1000)[1])
        body = _notification_body(chip_in(cf, 1000)[1])

        def act(i: int, initiator=initiator, cf=cf, body=body):
            try:
                if i == 0:
                    cf_services.crowdfund_cancel(user=initiator, crowdfund_id=cf.pk)
                    return "cancelled"
                return _post_notify(wechat_sandbox, body)
            finally:
                connection.close()

        first, second = run_at_once(act, 2)
        cf.refresh_from_db()
        assert second == 200
        if cf.status == S.ORDERED:
            assert first == "crowdfund_closed"
            assert not CampaignRefund.objects.filter(contribution__crowdfund=cf).exists()
        else:
            assert first == "cancelled" and cf.status == S.CANCELLED and cf.order_id is None
            assert CampaignRefund.objects.filter(contribution__crowdfund=cf).count() == 2
            confirm_refunds(wechat_sandbox, cf)
            cf.refresh_from_db()
            assert cf.status == S.REFUNDED
        outcomes.add(cf.status)
        assert_money_accounted(cf)
    assert outcomes <= {S.ORDERED, S.REFUNDED}


@pytest.mark.postgres
def test_expiry_job_racing_payments_never_loses_or_doubles_money(wechat_sandbox):
    cf = start(price_fen=5000)
    pays = [chip_in(cf, 1000)[1] for _ in range(4)]
    bodies = [_notification_body(p) for p in pays]
    Crowdfund.objects.filter(pk=cf.pk).update(deadline=timezone.now() - timedelta(seconds=1))

    def act(i: int):
        try:
            if i == 0:
                return job_run(name="campaigns.expire_crowdfunds")["expired"]
            return _post_notify(wechat_sandbox, bodies[i - 1])
        finally:
            connection.close()

    results = run_at_once(act, 5)
    assert results[0] == 1 and results[1:] == [200] * 4
    cf.refresh_from_db()
    assert cf.status in (S.EXPIRED, S.REFUNDED)  # refunded at once if no payment had counted yet
    # every payment either counted before the expiry (then refunded by it) or arrived after (refunded)
    assert CampaignRefund.objects.filter(contribution__crowdfund=cf).count() == 4
    confirm_refunds(wechat_sandbox, cf)
    cf.refresh_from_db()
    assert cf.status == S.REFUNDED and escrow_balance(cf) == 0
    assert_money_accounted(cf)


def test_chipping_in_again_replaces_the_unpaid_reservation(wechat_sandbox):
    cf = start(price_fen=3000)
    friend = UserFactory()
    first, first_pay = chip_in(cf, 2000, user=friend)
    second, _ = chip_in(cf, 2500, user=friend)  # closed the pay sheet, changed the amount
    first.refresh_from_db()
    cf.refresh_from_db()
    assert first.status == K.EXPIRED and cf.reserved_fen == 2500
    assert WechatPayment.objects.get(out_trade_no=first.no).status == "closed"
    res = requests.post(f"{wechat_sandbox.url}/wechat-sandbox/pay/{first_pay['prepay_id']}/confirm/", timeout=10)
    assert res.status_code == 409  # the replaced one can no longer be paid


def test_chipping_in_again_after_paying_keeps_the_payment(wechat_sandbox):
    cf = start(price_fen=3000)
    friend = UserFactory()
    first, first_pay = chip_in(cf, 1000, user=friend)
    SandboxPrepay.objects.filter(prepay_id=first_pay["prepay_id"]).update(
        trade_state=SandboxPrepay.State.SUCCESS, transaction_id="4200000000000000000000000888",
        time_end=timezone.localtime().strftime("%Y%m%d%H%M%S"))  # paid; the notification is late
    chip_in(cf, 500, user=friend)
    first.refresh_from_db()
    cf.refresh_from_db()
    assert first.status == K.PAID and (cf.raised_fen, cf.reserved_fen) == (1000, 500)
    assert_money_accounted(cf)
