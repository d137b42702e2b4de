"""An operator sends again a campaign refund WeChat refused on every attempt
(campaigns/services/refund_retries.py, /api/v1/ops/campaign-refunds/): over the WeChat sandbox,
for a crowdfund contribution and a red-envelope backing; the money leaves the escrow only once
WeChat says the new attempt succeeded; refusals change nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from api.i18n import translate
from campaigns.models import CampaignRefund, CampaignRefundStatus, ContributionStatus, CrowdfundStatus, RedEnvelope
from campaigns.services import crowdfunds as cf_services
from campaigns.services import envelopes as env_services
from core.jobs import job_run
from tests.campaigns.crowdfund_helpers import (
    assert_money_accounted,
    chip_in,
    confirm_refunds,
    escrow_balance,
    sandbox_pay,
    sandbox_refund_confirm,
    start,
)
from tests.campaigns.envelope_helpers import escrow
from tests.concurrency import run_at_once
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
R = CampaignRefundStatus
URL = "/api/v1/ops/campaign-refunds/"


def _crowdfund_refund_refused(server, settings, status: str = "REFUNDCLOSE"):
    """A cancelled crowdfund whose one contribution WeChat failed to refund twice (the limit):
    closed both times (REFUNDCLOSE: nothing was paid out, it may be sent again), or CHANGE then
    (abnormal: WeChat paid it out and could not deliver it)."""
    settings.CAMPAIGNS_REFUND_ATTEMPTS = 2
    initiator = UserFactory()
    cf = start(initiator, price_fen=3000)
    c, pay = chip_in(cf, 1000)
    sandbox_pay(server, pay)
    cf_services.crowdfund_cancel(user=initiator, crowdfund_id=cf.pk)
    confirm_refunds(server, cf, status="REFUNDCLOSE")
    confirm_refunds(server, cf, status=status)
    last = CampaignRefund.objects.get(contribution=c, attempt=2)
    assert last.status == R.FAILED and escrow_balance(cf) == 1000
    return cf, c, last


def test_an_operator_retries_a_refused_contribution_refund_and_the_money_goes_back_once(
        wechat_sandbox, settings, operator_client):
    cf, c, last = _crowdfund_refund_refused(wechat_sandbox, settings)
    waiting = operator_client.get(URL, {"needs_operator": "true"}).json()
    assert [r["no"] for r in waiting["results"]] == [last.no]
    row = waiting["results"][0]
    assert (row["campaign"], row["campaign_id"], row["paid_no"], row["amount_fen"], row["attempt"]) == (
        "crowdfund", cf.pk, c.no, 1000, 2)
    first = CampaignRefund.objects.get(contribution=c, attempt=1)
    assert operator_client.post(f"{URL}{first.pk}/retry/").json()["code"] == "refund_retried_already"
    res = operator_client.post(f"{URL}{last.pk}/retry/")
    assert res.status_code == 201, res.json()
    new = CampaignRefund.objects.get(contribution=c, attempt=3)
    assert res.json()["no"] == new.no != last.no and new.status == R.REQUESTED
    assert escrow_balance(cf) == 1000  # not before WeChat says so
    assert operator_client.post(f"{URL}{last.pk}/retry/").json()["code"] == "refund_retried_already"
    assert operator_client.post(f"{URL}{new.pk}/retry/").json()["code"] == "refund_not_failed"
    sandbox_refund_confirm(wechat_sandbox, new.no, "SUCCESS")
    new.refresh_from_db()
    c.refresh_from_db()
    cf.refresh_from_db()
    assert new.status == R.SUCCEEDED and c.status == ContributionStatus.REFUNDED
    assert cf.status == CrowdfundStatus.REFUNDED and escrow_balance(cf) == 0
    assert cf.events.filter(kind="refund_retried_by_operator").count() == 1
    assert operator_client.get(URL, {"needs_operator": "true"}).json()["count"] == 0
    assert operator_client.post(f"{URL}{new.pk}/retry/").json()["code"] == "refund_not_failed"
    assert_money_accounted(cf)


def test_two_operators_retrying_at_once_make_one_new_attempt(wechat_sandbox, settings):
    from django.db import connection

    from campaigns.services.refund_retries import campaign_refund_retry

    cf, c, last = _crowdfund_refund_refused(wechat_sandbox, settings)
    operators = [UserFactory(is_staff=True, is_superuser=True) for _ in range(8)]

    def retry(i: int) -> str:
        try:
            return campaign_refund_retry(refund_id=last.pk, operator=operators[i]).no
        except Exception as exc:  # noqa: BLE001 - the refusals are the point
            return getattr(exc, "code", repr(exc))
        finally:
            connection.close()

    outcomes = run_at_once(retry, 8)
    assert sorted(outcomes).count("refund_retried_already") == 7
    assert CampaignRefund.objects.filter(contribution=c).count() == 3
    assert cf.events.filter(kind="refund_retried_by_operator").count() == 1


def test_a_refused_envelope_backing_refund_is_retried_by_an_operator(wechat_sandbox, settings, operator_client):
    settings.CAMPAIGNS_REFUND_ATTEMPTS = 1
    owner = UserFactory()
    env, pay = env_services.envelope_create(owner=owner, total_fen=1_000, count=2, pay_with="wechat",
                                            client_ip="203.0.113.5")
    sandbox_pay(wechat_sandbox, pay)
    RedEnvelope.objects.filter(pk=env.pk).update(funded_at=timezone.now() - timedelta(days=8))
    job_run(name="campaigns.cancel_envelopes")
    first = CampaignRefund.objects.get(backing__envelope=env)
    sandbox_refund_confirm(wechat_sandbox, first.no, "REFUNDCLOSE")
    first.refresh_from_db()
    assert first.status == R.FAILED and escrow(env) == 1_000
    listed = operator_client.get(URL, {"needs_operator": "true", "campaign": "red_envelope"}).json()["results"]
    assert [(r["no"], r["campaign"], r["campaign_id"], r["user_id"]) for r in listed] == [
        (first.no, "red_envelope", env.pk, owner.pk)]
    assert operator_client.get(URL, {"campaign": "crowdfund"}).json()["count"] == 0
    res = operator_client.post(f"{URL}{first.pk}/retry/")
    assert res.status_code == 201, res.json()
    sandbox_refund_confirm(wechat_sandbox, res.json()["no"], "SUCCESS")
    assert escrow(env) == 0
    assert env.events.filter(kind="refund_retried_by_operator").count() == 1



@pytest.mark.parametrize(("path", "code", "status"), [
    ("999999/retry/", "not_found", 404),
    ("abc/retry/", "not_found", 404),
    ("-1/retry/", "not_found", 404),
    ("99999999999999999999999/retry/", "not_found", 404),
])
def test_bad_ids_are_refused_and_change_nothing(operator_client, path, code, status):
    res = operator_client.post(URL + path)
    assert (res.status_code, res.json()["code"]) == (status, code)
    assert not CampaignRefund.objects.exists()


def test_only_operators_with_the_permission_see_or_retry(wechat_sandbox, settings, client_for):
    from django.contrib.auth.models import Permission

    cf, c, last = _crowdfund_refund_refused(wechat_sandbox, settings)
    shopper = client_for(UserFactory())
    assert shopper.get(URL).status_code == 403 and shopper.post(f"{URL}{last.pk}/retry/").status_code == 403
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaignrefund"))
    client = client_for(viewer)
    assert client.get(URL).json()["count"] == 2
    assert client.post(f"{URL}{last.pk}/retry/").status_code == 403
    assert CampaignRefund.objects.filter(contribution=c).count() == 2  # nothing sent
    assert client.get(URL, {"status": "bogus"}).json()["code"] == "invalid"
    assert client.get(URL, {"needs_operator": "maybe"}).json()["code"] == "invalid"


def test_an_abnormal_refund_cannot_be_sent_again_but_is_settled_once_paid_outside(
        wechat_sandbox, settings, operator_client):
    """CHANGE: WeChat paid the money out and could not deliver it. A new refund would be refused
    by WeChat (it counts the money as refunded), so retry says refund_abnormal; the operator pays
    it in the merchant platform and records it: settled, the escrow pays it out once."""
    cf, c, last = _crowdfund_refund_refused(wechat_sandbox, settings, status="CHANGE")
    res = operator_client.post(f"{URL}{last.pk}/retry/")
    assert (res.status_code, res.json()["code"]) == (409, "refund_abnormal")
    assert CampaignRefund.objects.filter(contribution=c).count() == 2  # nothing sent
    for body in ({}, {"note": ""}, {"note": "   "}, {"note": "x" * 201}, {"note": 7}, {"note": ["a"]}):
        bad = operator_client.post(f"{URL}{last.pk}/settle/", body, format="json")
        assert (bad.status_code, bad.json()["code"]) == (400, "invalid"), body
    assert escrow_balance(cf) == 1000
    done = operator_client.post(f"{URL}{last.pk}/settle/", {"note": "商户平台异常退款：已转入银行卡"}, format="json")
    assert done.status_code == 200, done.json()
    assert (done.json()["status"], done.json()["needs_operator"]) == ("settled", False)
    c.refresh_from_db()
    cf.refresh_from_db()
    assert c.status == ContributionStatus.REFUNDED and cf.status == CrowdfundStatus.REFUNDED
    assert escrow_balance(cf) == 0
    event = cf.events.get(kind="refund_settled_by_operator")
    assert event.data["note"] == "商户平台异常退款：已转入银行卡" and event.data["abnormal"] is True
    again = operator_client.post(f"{URL}{last.pk}/settle/", {"note": "again"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "refund_not_failed")
    assert operator_client.post(f"{URL}{last.pk}/retry/").json()["code"] == "refund_not_failed"
    assert_money_accounted(cf)


def test_a_closed_envelope_refund_may_also_be_settled(wechat_sandbox, settings):
    from campaigns.services.refund_retries import campaign_refund_settle

    settings.CAMPAIGNS_REFUND_ATTEMPTS = 1
    env, pay = env_services.envelope_create(owner=UserFactory(), total_fen=800, count=2, pay_with="wechat",
                                            client_ip="203.0.113.5")
    sandbox_pay(wechat_sandbox, pay)
    RedEnvelope.objects.filter(pk=env.pk).update(funded_at=timezone.now() - timedelta(days=8))
    job_run(name="campaigns.cancel_envelopes")
    refund = CampaignRefund.objects.get(backing__envelope=env)
    sandbox_refund_confirm(wechat_sandbox, refund.no, "REFUNDCLOSE")
    operator = UserFactory(is_staff=True)
    settled = campaign_refund_settle(refund_id=refund.pk, operator=operator, note="paid by bank transfer")
    assert settled.status == R.SETTLED and escrow(env) == 0
    assert env.events.filter(kind="refund_settled_by_operator").count() == 1



def test_the_operators_refusals_are_in_the_requests_language(operator_client):
    import re

    for path, body in (("999999/retry/", None), ("999999/settle/", {"note": "x"})):
        zh = operator_client.post(URL + path, body, format="json").json()["message"]
        en = operator_client.post(URL + path, body, format="json", HTTP_ACCEPT_LANGUAGE="en").json()["message"]
        assert (zh, en) == ("未找到该活动退款。", "Campaign refund not found.")
    from campaigns.services import refund_retries as rr

    with translation.override("zh-hans"):
        for exc in (rr.RefundNotFailed(), rr.RefundAbnormal(), rr.RefundRetriedAlready()):
            assert re.search(r"[\u4e00-\u9fff]", translate(str(exc.message))), exc.code


def test_operators_settling_at_once_pay_the_escrow_out_once(wechat_sandbox, settings):
    from django.db import connection

    from campaigns.services.refund_retries import campaign_refund_settle

    cf, c, last = _crowdfund_refund_refused(wechat_sandbox, settings, status="CHANGE")
    operators = [UserFactory(is_staff=True) for _ in range(6)]

    def settle(i: int) -> str:
        try:
            return campaign_refund_settle(refund_id=last.pk, operator=operators[i], note=f"bank {i}").status
        except Exception as exc:  # noqa: BLE001 - the refusals are the point
            return getattr(exc, "code", repr(exc))
        finally:
            connection.close()

    outcomes = run_at_once(settle, 6)
    assert sorted(outcomes) == ["refund_not_failed"] * 5 + ["settled"]
    assert escrow_balance(cf) == 0
    assert cf.events.filter(kind="refund_settled_by_operator").count() == 1
    assert_money_accounted(cf)
