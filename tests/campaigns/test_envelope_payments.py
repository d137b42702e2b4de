"""Red envelopes paid by WeChat (through the sandbox over HTTP): the owner's funding, fans'
top-ups, a top-up that arrives too late, and the cancel of envelopes never opened or paid."""
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import BackingStatus, CampaignRefund, EnvelopeBacking, EnvelopeStatus, RedEnvelope
from campaigns.services import envelopes as env_services
from core.jobs import job_run
from tests.campaigns.crowdfund_helpers import sandbox_pay, sandbox_refund_confirm
from tests.campaigns.envelope_helpers import assert_envelope_books, escrow, owner_with, wallet
from tests.factories import UserFactory
from wechat.models import WechatPayment

pytestmark = pytest.mark.django_db(transaction=True)
E = EnvelopeStatus
B = BackingStatus
IP = "203.0.113.5"


def _wechat_envelope(server, *, total=2_000, count=4, open_now=False, owner=None):
    owner = owner or UserFactory()
    env, pay = env_services.envelope_create(owner=owner, total_fen=total, count=count, pay_with="wechat",
                                            open_now=open_now, client_ip=IP)
    assert env.status == E.PENDING_PAYMENT and pay["prepay_id"]
    sandbox_pay(server, pay)
    env.refresh_from_db()
    return env


def test_the_owners_wechat_payment_funds_it_and_open_now_opens_it(wechat_sandbox):
    env = _wechat_envelope(wechat_sandbox, total=2_000, count=4)
    assert env.status == E.FUNDING and env.pool_fen == 2_000 and escrow(env) == 2_000
    opened_at_once = _wechat_envelope(wechat_sandbox, open_now=True)
    assert opened_at_once.status == E.ACTIVE and opened_at_once.shares.count() == 4
    assert_envelope_books(opened_at_once)


def test_wechat_top_ups_count_while_funding_and_go_back_once_it_is_open(wechat_sandbox):
    env = _wechat_envelope(wechat_sandbox, total=2_000, count=4)
    fan = UserFactory()
    backing, pay = env_services.envelope_top_up(user=fan, envelope_id=env.pk, amount_fen=500, pay_with="wechat",
                                                client_ip=IP)
    sandbox_pay(wechat_sandbox, pay)
    env.refresh_from_db()
    assert env.pool_fen == 2_500
    late, late_pay = env_services.envelope_top_up(user=UserFactory(), envelope_id=env.pk, amount_fen=300,
                                                  pay_with="wechat", client_ip=IP)
    env_services.envelope_open(user=env.owner, envelope_id=env.pk)
    sandbox_pay(wechat_sandbox, late_pay)  # paid after the envelope opened: given back
    late.refresh_from_db()
    env.refresh_from_db()
    assert late.status == B.REFUNDING and env.pool_fen == 2_500
    refund = CampaignRefund.objects.get(backing=late)
    assert refund.reason == "env_late" and refund.amount_fen == 300
    sandbox_refund_confirm(wechat_sandbox, refund.no)
    late.refresh_from_db()
    assert late.status == B.REFUNDED and escrow(env) == 2_500
    assert_envelope_books(env)


def test_unopened_for_7_days_everyone_is_given_back(wechat_sandbox):
    owner = owner_with(1_000)
    env, _ = env_services.envelope_create(owner=owner, total_fen=1_000, count=2)
    fan_wallet, fan_wechat = owner_with(400), UserFactory()
    env_services.envelope_top_up(user=fan_wallet, envelope_id=env.pk, amount_fen=400)
    _, pay = env_services.envelope_top_up(user=fan_wechat, envelope_id=env.pk, amount_fen=600, pay_with="wechat",
                                          client_ip=IP)
    sandbox_pay(wechat_sandbox, pay)
    assert job_run(name="campaigns.cancel_envelopes")["cancelled"] == 0  # not yet
    RedEnvelope.objects.filter(pk=env.pk).update(funded_at=timezone.now() - timedelta(days=7, seconds=1))
    assert job_run(name="campaigns.cancel_envelopes")["cancelled"] == 1
    env.refresh_from_db()
    assert env.status == E.CANCELLED
    assert wallet(owner) == 1_000 and wallet(fan_wallet) == 400  # wallet money straight back
    refund = CampaignRefund.objects.get(backing__user=fan_wechat)
    assert refund.reason == "env_cancelled" and escrow(env) == 600
    sandbox_refund_confirm(wechat_sandbox, refund.no)
    assert escrow(env) == 0
    assert EnvelopeBacking.objects.get(user=fan_wechat).status == B.REFUNDED
    assert job_run(name="campaigns.cancel_envelopes")["cancelled"] == 0


def test_never_paid_is_cancelled_after_the_pay_window_and_its_order_closed(wechat_sandbox):
    env, pay = env_services.envelope_create(owner=UserFactory(), total_fen=1_000, count=2, pay_with="wechat",
                                            client_ip=IP)
    RedEnvelope.objects.filter(pk=env.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    job_run(name="campaigns.cancel_envelopes")
    env.refresh_from_db()
    backing = EnvelopeBacking.objects.get(envelope=env)
    assert env.status == E.CANCELLED and backing.status == B.EXPIRED
    assert WechatPayment.objects.get(out_trade_no=backing.no).status == "closed"


def test_a_failed_envelope_refund_is_tried_again(wechat_sandbox, settings):
    settings.CAMPAIGNS_REFUND_ATTEMPTS = 2
    env = _wechat_envelope(wechat_sandbox, total=1_000, count=2)
    RedEnvelope.objects.filter(pk=env.pk).update(funded_at=timezone.now() - timedelta(days=8))
    job_run(name="campaigns.cancel_envelopes")
    first = CampaignRefund.objects.get(backing__envelope=env)
    sandbox_refund_confirm(wechat_sandbox, first.no, "CHANGE")
    second = CampaignRefund.objects.get(backing__envelope=env, attempt=2)
    if second.status == "requested":  # the sandbox may refuse it at once (the first still counts there)
        sandbox_refund_confirm(wechat_sandbox, second.no, "CHANGE")
    second.refresh_from_db()
    assert second.status == "failed" and second.no != first.no
    assert env.events.filter(kind="refund_needs_operator").count() == 1
    assert escrow(env) == 1_000  # still held, for the operator


def test_wechat_needs_an_openid_and_a_bad_pay_with_is_refused(db):
    with pytest.raises(Exception) as err:
        env_services.envelope_create(owner=UserFactory(openid=None), total_fen=100, count=1, pay_with="wechat")
    assert getattr(err.value, "code", "") == "no_openid"
    with pytest.raises(Exception) as err:
        env_services.envelope_create(owner=owner_with(100), total_fen=100, count=1, pay_with="alipay")
    assert getattr(err.value, "code", "") == "invalid"
    assert not RedEnvelope.objects.exists()


def test_a_flagged_greeting_is_refused_and_nothing_is_taken(wechat_sandbox):
    owner = owner_with(1_000)
    with pytest.raises(Exception) as err:
        env_services.envelope_create(owner=owner, total_fen=1_000, count=2, greeting="来赌博吧")
    assert getattr(err.value, "code", "") == "content_flagged"
    assert not RedEnvelope.objects.exists() and wallet(owner) == 1_000
    env, _ = env_services.envelope_create(owner=owner, total_fen=1_000, count=2, greeting="恭喜发财")
    assert env.greeting == "恭喜发财"
