"""Withdrawals: the request (limits, fee, balance, debt), review, and the payout through the
WeChat sandbox over HTTP (timeouts, refusals, query before retry)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from commissions.models import Withdrawal, WithdrawalEvent
from commissions.services.payouts import withdrawal_pay, withdrawals_resume
from commissions.services.withdrawals import (
    withdrawal_approve,
    withdrawal_fee,
    withdrawal_reject,
    withdrawal_request,
    withdrawals_review_bulk,
)
from core.errors import DomainError
from ledger.models import LedgerTransaction
from ledger.services import account_get_or_create, ledger_post
from tests.concurrency import run_at_once
from tests.factories import UserFactory
from wechat.models import WechatTransfer
from wechat.sandbox.faults import fault_arm
from wechat.sandbox.models.pay import SandboxTransfer

from .wallet_helpers import balance, fund, funded_distributor, platform_balance, wallet, withdrawal_settings

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _defaults():
    withdrawal_settings()


def _raises(code, fn, **kwargs):
    with pytest.raises(DomainError) as info:
        fn(**kwargs)
    assert info.value.code == code, info.value
    return info.value


# --- the request ----------------------------------------------------------------------

def test_fee_is_basis_points_rounded_down_with_a_minimum():
    assert withdrawal_fee(amount_fen=10_000, fee_bps=60, min_fee_fen=10) == 60
    assert withdrawal_fee(amount_fen=1_999, fee_bps=60, min_fee_fen=10) == 11  # 11.994 → 11
    assert withdrawal_fee(amount_fen=1_000, fee_bps=60, min_fee_fen=10) == 10  # 6 < minimum
    assert withdrawal_fee(amount_fen=1_000, fee_bps=0, min_fee_fen=0) == 0


def test_request_moves_the_amount_to_withdrawing_at_once(client_for):
    withdrawal_settings(withdrawal_fee_bps=100, withdrawal_min_fee_fen=20)
    d = funded_distributor(10_000)
    res = client_for(d.user).post("/api/v1/withdrawals/", {"amount_fen": 3_000}, format="json")
    assert res.status_code == 201, res.json()
    body = res.json()
    assert {k: body[k] for k in ("amount_fen", "fee_fen", "net_fen", "status")} == {
        "amount_fen": 3_000, "fee_fen": 30, "net_fen": 2_970, "status": "requested"}
    assert wallet(d.user) == {"user_wallet": 7_000, "user_withdrawing": 3_000, "user_debt": 0}
    w = Withdrawal.objects.get()
    assert (w.openid, w.request_ip, w.transfer_no[:1]) == (d.user.openid, "127.0.0.1", "W")
    assert list(w.events.values_list("to_status", "actor_id")) == [("requested", d.user.pk)]
    wallet_body = client_for(d.user).get("/api/v1/wallet/").json()
    assert (wallet_body["available_fen"], wallet_body["withdrawing_fen"], wallet_body["withdrawn_fen"]) == (
        7_000, 3_000, 0)


def test_a_garbled_client_ip_is_not_stored():
    d = funded_distributor(1_000)
    assert withdrawal_request(user=d.user, amount_fen=100, ip="1.2.3.4, <script>").request_ip is None
    assert withdrawal_request(user=d.user, amount_fen=100, ip="::1").request_ip == "::1"


def test_minimum_fee_and_maximum_are_enforced_and_change_nothing():
    withdrawal_settings(withdrawal_min_fen=500, withdrawal_min_fee_fen=600, transfer_max_fen=5_000)
    d = funded_distributor(100_000)
    _raises("amount_too_small", withdrawal_request, user=d.user, amount_fen=499)
    _raises("amount_too_small", withdrawal_request, user=d.user, amount_fen=600)  # the fee eats it all
    err = _raises("amount_too_large", withdrawal_request, user=d.user, amount_fen=5_601)
    assert err.extra["transfer_max_fen"] == 5_000
    assert withdrawal_request(user=d.user, amount_fen=5_600).net_fen == 5_000
    assert Withdrawal.objects.count() == 1
    assert wallet(d.user)["user_wallet"] == 100_000 - 5_600


@pytest.mark.parametrize("amount", [None, "100", 100.0, 1.5, True, -100, 0, 10**11, [100], {"v": 1}])
def test_bad_amounts_are_400_and_change_nothing(client_for, amount):
    d = funded_distributor(10_000)
    payload = {} if amount is None else {"amount_fen": amount}
    res = client_for(d.user).post("/api/v1/withdrawals/", payload, format="json")
    assert res.status_code == 400, res.json()
    assert res.json()["code"] == "invalid"
    assert "amount_fen" in res.json()["extra"]["fields"]
    assert not Withdrawal.objects.exists()
    assert wallet(d.user)["user_wallet"] == 10_000


def test_forged_fields_are_ignored(client_for):
    withdrawal_settings(withdrawal_fee_bps=100)
    d, other = funded_distributor(5_000), funded_distributor(5_000)
    res = client_for(d.user).post("/api/v1/withdrawals/", {
        "amount_fen": 1_000, "fee_fen": 0, "net_fen": 1_000, "status": "paid", "user": other.user_id,
        "openid": "o-attacker"}, format="json")
    assert res.status_code == 201, res.json()
    assert (res.json()["fee_fen"], res.json()["status"]) == (10, "requested")
    w = Withdrawal.objects.get()
    assert (w.user_id, w.openid) == (d.user_id, d.user.openid)
    assert wallet(other.user)["user_wallet"] == 5_000


def test_more_than_the_available_balance_is_refused(client_for):
    d = funded_distributor(1_000)
    res = client_for(d.user).post("/api/v1/withdrawals/", {"amount_fen": 1_001}, format="json")
    assert res.status_code == 409
    assert res.json()["code"] == "insufficient_balance"
    assert res.json()["extra"]["available_fen"] == 1_000
    assert not Withdrawal.objects.exists()
    assert wallet(d.user) == {"user_wallet": 1_000, "user_withdrawing": 0, "user_debt": 0}


def test_who_may_withdraw(api_client, client_for):
    assert api_client.post("/api/v1/withdrawals/", {"amount_fen": 100}, format="json").status_code == 401
    shopper = UserFactory()
    res = client_for(shopper).post("/api/v1/withdrawals/", {"amount_fen": 100}, format="json")
    assert (res.status_code, res.json()["code"]) == (403, "not_a_distributor")
    frozen = funded_distributor(1_000)
    frozen.status = "frozen"
    frozen.save()
    res = client_for(frozen.user).post("/api/v1/withdrawals/", {"amount_fen": 100}, format="json")
    assert (res.status_code, res.json()["code"]) == (403, "distributor_not_approved")
    no_openid = funded_distributor(1_000, openid=None)
    res = client_for(no_openid.user).post("/api/v1/withdrawals/", {"amount_fen": 100}, format="json")
    assert (res.status_code, res.json()["code"]) == (400, "no_openid")
    assert not Withdrawal.objects.exists()
    assert wallet(frozen.user)["user_wallet"] == wallet(no_openid.user)["user_wallet"] == 1_000


def test_daily_count_and_amount_limits():
    withdrawal_settings(withdrawal_daily_count=2, withdrawal_daily_amount_fen=1_000)
    d = funded_distributor(10_000)
    first = withdrawal_request(user=d.user, amount_fen=400)
    withdrawal_request(user=d.user, amount_fen=500)
    err = _raises("withdrawal_limit", withdrawal_request, user=d.user, amount_fen=100)
    assert err.extra["daily_count"] == 2
    # A rejected withdrawal gave its money back and does not count.
    withdrawal_reject(operator=UserFactory(is_staff=True), withdrawal_id=first.pk, reason="资料不全")
    err = _raises("withdrawal_limit", withdrawal_request, user=d.user, amount_fen=501)
    assert err.extra["left_fen"] == 500
    withdrawal_request(user=d.user, amount_fen=500)
    assert Withdrawal.objects.filter(status="requested").count() == 2
    # Yesterday's withdrawals do not count today.
    Withdrawal.objects.update(requested_at=timezone.now() - timedelta(days=1))
    withdrawal_request(user=d.user, amount_fen=1_000)


def test_debt_blocks_withdrawals_and_returned_money_pays_it_off():
    d = funded_distributor(5_000)
    pending = withdrawal_request(user=d.user, amount_fen=5_000)
    # A refund takes back 300 of settled commission the wallet no longer has: debt.
    ledger_post(kind="test.debt", idempotency_key="test.debt:1",
                legs=[(account_get_or_create(kind="user_debt", owner=d.user), -300),
                      (account_get_or_create(kind="commission_expense", ref="test"), 300)])
    fund(d.user, 1_000)
    _raises("debt_outstanding", withdrawal_request, user=d.user, amount_fen=500)
    operator = UserFactory(is_staff=True)
    _raises("debt_outstanding", withdrawal_approve, operator=operator, withdrawal_id=pending.pk)
    withdrawal_reject(operator=operator, withdrawal_id=pending.pk, reason="先还欠款")
    assert wallet(d.user) == {"user_wallet": 1_000 + 5_000 - 300, "user_withdrawing": 0, "user_debt": 0}
    assert withdrawal_request(user=d.user, amount_fen=500).status == "requested"


def test_idempotency_key_returns_the_first_withdrawal(client_for):
    d = funded_distributor(10_000)
    client = client_for(d.user)
    first = client.post("/api/v1/withdrawals/", {"amount_fen": 1_000}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/v1/withdrawals/", {"amount_fen": 1_000}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = client.post("/api/v1/withdrawals/", {"amount_fen": 2_000}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert Withdrawal.objects.count() == 1
    assert wallet(d.user)["user_wallet"] == 9_000


def test_a_distributor_sees_only_their_own_withdrawals(client_for):
    mine, theirs = funded_distributor(5_000), funded_distributor(5_000)
    w_mine = withdrawal_request(user=mine.user, amount_fen=1_000)
    w_theirs = withdrawal_request(user=theirs.user, amount_fen=2_000)
    client = client_for(mine.user)
    listed = client.get("/api/v1/withdrawals/").json()
    assert [r["id"] for r in listed["results"]] == [w_mine.pk]
    assert client.get(f"/api/v1/withdrawals/{w_mine.pk}/").json()["amount_fen"] == 1_000
    res = client.get(f"/api/v1/withdrawals/{w_theirs.pk}/")
    assert (res.status_code, res.json()["code"]) == (404, "not_found")
    assert client.get("/api/v1/withdrawals/?status=bogus").status_code == 400
    assert client.get("/api/v1/withdrawals/?status=requested").json()["count"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_withdrawals_never_take_more_than_the_balance(client_for):
    withdrawal_settings(withdrawal_daily_count=100, withdrawal_fee_bps=100, withdrawal_min_fee_fen=1)
    d = funded_distributor(1_000)
    clients = [client_for(d.user) for _ in range(20)]
    answers = run_at_once(
        lambda i: clients[i].post("/api/v1/withdrawals/", {"amount_fen": 300}, format="json").status_code, 20)
    assert sorted(answers) == [201] * 3 + [409] * 17
    assert Withdrawal.objects.count() == 3
    assert wallet(d.user) == {"user_wallet": 100, "user_withdrawing": 900, "user_debt": 0}
    assert LedgerTransaction.objects.filter(kind="withdrawal.request").count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_cannot_race_past_the_daily_count():
    withdrawal_settings(withdrawal_daily_count=2)
    d = funded_distributor(10_000)
    codes = run_at_once(lambda i: withdrawal_request(user=d.user, amount_fen=100) and "ok", 10)
    assert sorted(codes) == ["ok"] * 2 + ["withdrawal_limit"] * 8
    assert wallet(d.user)["user_withdrawing"] == 200


# --- review ---------------------------------------------------------------------------

def test_reject_needs_a_reason_and_returns_the_money():
    d = funded_distributor(2_000)
    w = withdrawal_request(user=d.user, amount_fen=1_500)
    operator = UserFactory(is_staff=True)
    for reason in ("", "   ", None):
        _raises("invalid", withdrawal_reject, operator=operator, withdrawal_id=w.pk, reason=reason)
    assert Withdrawal.objects.get().status == "requested"
    withdrawal_reject(operator=operator, withdrawal_id=w.pk, reason="实名信息不符")
    w.refresh_from_db()
    assert (w.status, w.reason, w.reviewed_by_id) == ("rejected", "实名信息不符", operator.pk)
    assert wallet(d.user) == {"user_wallet": 2_000, "user_withdrawing": 0, "user_debt": 0}
    assert list(w.events.values_list("from_status", "to_status", "actor_id", "reason")) == [
        ("", "requested", d.user.pk, ""), ("requested", "rejected", operator.pk, "实名信息不符")]
    _raises("invalid_transition", withdrawal_reject, operator=operator, withdrawal_id=w.pk, reason="again")
    _raises("invalid_transition", withdrawal_approve, operator=operator, withdrawal_id=w.pk)


def test_nobody_reviews_their_own_withdrawal():
    d = funded_distributor(2_000, is_staff=True)
    w = withdrawal_request(user=d.user, amount_fen=1_000)
    _raises("self_approval", withdrawal_approve, operator=d.user, withdrawal_id=w.pk)
    _raises("self_approval", withdrawal_reject, operator=d.user, withdrawal_id=w.pk, reason="自己")
    _raises("invalid", withdrawal_approve, operator=UserFactory(), withdrawal_id=w.pk)  # not staff
    _raises("not_found", withdrawal_approve, operator=UserFactory(is_staff=True), withdrawal_id=w.pk + 1000)
    w.refresh_from_db()
    assert (w.status, w.reviewed_by_id) == ("requested", None)
    assert wallet(d.user)["user_withdrawing"] == 1_000


def test_approval_is_refused_for_a_frozen_distributor_or_over_the_transfer_maximum():
    d = funded_distributor(50_000)
    w = withdrawal_request(user=d.user, amount_fen=10_000)
    operator = UserFactory(is_staff=True)
    withdrawal_settings(transfer_max_fen=5_000)
    _raises("amount_too_large", withdrawal_approve, operator=operator, withdrawal_id=w.pk)
    withdrawal_settings()
    d.status = "frozen"
    d.save()
    _raises("distributor_not_approved", withdrawal_approve, operator=operator, withdrawal_id=w.pk)
    assert Withdrawal.objects.get().status == "requested"


def test_bulk_review_reports_each_outcome(wechat_sandbox):
    operator = UserFactory(is_staff=True)
    a, b = funded_distributor(5_000), funded_distributor(5_000)
    wa = withdrawal_request(user=a.user, amount_fen=1_000)
    wb = withdrawal_request(user=b.user, amount_fen=2_000)
    _raises("invalid", withdrawals_review_bulk, operator=operator, ids=[wa.pk], action="reject", reason=" ")
    _raises("invalid", withdrawals_review_bulk, operator=operator, ids=[], action="approve")
    _raises("invalid", withdrawals_review_bulk, operator=operator, ids=["1"], action="approve")
    _raises("invalid", withdrawals_review_bulk, operator=operator, ids=[wa.pk], action="delete")
    result = withdrawals_review_bulk(operator=operator, ids=[wb.pk, wa.pk, wa.pk, 999_999], action="approve")
    assert result["done"] == [wa.pk, wb.pk]
    assert result["errors"] == {999_999: {"code": "not_found", "message": "Withdrawal not found."}}
    assert set(Withdrawal.objects.values_list("status", flat=True)) == {"paid"}  # eager payout
    again = withdrawals_review_bulk(operator=operator, ids=[wa.pk], action="reject", reason="晚了")
    assert again["errors"][wa.pk]["code"] == "invalid_transition"


# --- payout through the sandbox -------------------------------------------------------

def test_approval_pays_out_through_wechat(wechat_sandbox, client_for):
    withdrawal_settings(withdrawal_fee_bps=100, withdrawal_min_fee_fen=0)
    d = funded_distributor(10_000)
    w = withdrawal_request(user=d.user, amount_fen=5_000)
    operator = UserFactory(is_staff=True)
    withdrawal_approve(operator=operator, withdrawal_id=w.pk, note="ok")  # Celery is eager in tests
    w.refresh_from_db()
    assert w.status == "paid" and w.paid_at is not None
    transfer = SandboxTransfer.objects.get()
    assert (transfer.partner_trade_no, transfer.openid, transfer.amount) == (w.transfer_no, d.user.openid, 4_950)
    assert transfer.re_user_name == d.real_name  # FORCE_CHECK: WeChat checks who is paid
    assert wallet(d.user) == {"user_wallet": 5_000, "user_withdrawing": 0, "user_debt": 0}
    assert platform_balance("wechat_external") == 4_950  # the net left the system
    assert platform_balance("fee_income") == 50
    assert list(w.events.values_list("to_status", flat=True)) == ["requested", "approved", "paying", "paid"]
    assert w.events.get(to_status="approved").actor_id == operator.pk
    body = client_for(d.user).get("/api/v1/wallet/").json()
    assert (body["withdrawing_fen"], body["withdrawn_fen"]) == (0, 5_000)
    # Paying again does nothing more.
    assert withdrawal_pay(withdrawal_id=w.pk).status == "paid"
    assert SandboxTransfer.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="withdrawal.paid").count() == 1


def test_a_lost_answer_is_queried_before_anything_is_sent_again(wechat_sandbox, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.3
    d = funded_distributor(10_000)
    w = withdrawal_request(user=d.user, amount_fen=3_000)
    fault_arm(endpoint="pay.transfer", mode="timeout")  # WeChat pays, the answer comes too late
    withdrawal_approve(operator=UserFactory(is_staff=True), withdrawal_id=w.pk)
    w.refresh_from_db()
    assert w.status == "paying"
    assert WechatTransfer.objects.get().status == "unknown"
    assert wallet(d.user)["user_withdrawing"] == 3_000  # still the user's, until WeChat says
    assert withdrawals_resume(older_than_seconds=0) == {"resumed": 1, "paid": 1, "failed": 0, "still_paying": 0,
                                                      "confirming_checked": 0}
    w.refresh_from_db()
    assert w.status == "paid"
    assert SandboxTransfer.objects.count() == 1
    assert WechatTransfer.objects.get().attempts == 1  # queried, not sent again
    assert wallet(d.user) == {"user_wallet": 7_000, "user_withdrawing": 0, "user_debt": 0}


def test_a_transfer_wechat_never_got_is_sent_again_with_the_same_number(wechat_sandbox):
    d = funded_distributor(10_000)
    w = withdrawal_request(user=d.user, amount_fen=3_000)
    fault_arm(endpoint="pay.transfer", mode="http_error")  # nothing carried out, outcome unknown to us
    withdrawal_approve(operator=UserFactory(is_staff=True), withdrawal_id=w.pk)
    assert Withdrawal.objects.get().status == "paying"
    assert not SandboxTransfer.objects.exists()
    withdrawals_resume(older_than_seconds=0)  # query: WeChat does not know it → send again
    w.refresh_from_db()
    assert w.status == "paid"
    assert SandboxTransfer.objects.get().partner_trade_no == w.transfer_no
    assert WechatTransfer.objects.get().attempts == 2


def test_a_definite_refusal_fails_the_withdrawal_and_returns_the_money(wechat_sandbox):
    withdrawal_settings(withdrawal_fee_bps=0, withdrawal_min_fee_fen=30)
    d = funded_distributor(10_000)
    w = withdrawal_request(user=d.user, amount_fen=3_000)
    fault_arm(endpoint="pay.transfer", mode="fail", err_code="V2_ACCOUNT_SIMPLE_BAN")
    withdrawal_approve(operator=UserFactory(is_staff=True), withdrawal_id=w.pk)
    w.refresh_from_db()
    assert (w.status, w.error_code) == ("failed", "V2_ACCOUNT_SIMPLE_BAN")
    assert wallet(d.user) == {"user_wallet": 10_000, "user_withdrawing": 0, "user_debt": 0}
    assert platform_balance("fee_income") == 0  # no payout, no fee
    assert not LedgerTransaction.objects.filter(kind="withdrawal.paid").exists()
    assert not SandboxTransfer.objects.exists()
    assert withdrawals_resume(older_than_seconds=0)["resumed"] == 0


def test_a_refusal_for_now_keeps_the_withdrawal_paying_and_it_is_paid_later(wechat_sandbox):
    d = funded_distributor(10_000)
    w = withdrawal_request(user=d.user, amount_fen=3_000)
    fault_arm(endpoint="pay.transfer", mode="fail", err_code="NOTENOUGH")  # merchant balance short
    withdrawal_approve(operator=UserFactory(is_staff=True), withdrawal_id=w.pk)
    w.refresh_from_db()
    assert (w.status, w.error_code) == ("paying", "NOTENOUGH")
    assert WechatTransfer.objects.get().status == "requested"
    assert wallet(d.user) == {"user_wallet": 7_000, "user_withdrawing": 3_000, "user_debt": 0}
    assert not SandboxTransfer.objects.exists()
    # The operator tops up the merchant account; the resume job asks WeChat (no such transfer)
    # and sends the same number again.
    withdrawals_resume(older_than_seconds=0)
    w.refresh_from_db()
    assert w.status == "paid"
    assert SandboxTransfer.objects.get().partner_trade_no == w.transfer_no
    assert wallet(d.user) == {"user_wallet": 7_000, "user_withdrawing": 0, "user_debt": 0}


def test_a_withdrawal_over_a_lowered_maximum_fails_before_paying(wechat_sandbox):
    d = funded_distributor(10_000)
    w = withdrawal_request(user=d.user, amount_fen=3_000)
    # Approved while the maximum was higher; its payout task has not run yet (Celery is eager
    # in tests, so the approval is set here rather than through the service).
    Withdrawal.objects.filter(pk=w.pk).update(status="approved")
    withdrawal_settings(transfer_max_fen=1_000)
    assert withdrawal_pay(withdrawal_id=w.pk).status == "failed"
    assert Withdrawal.objects.get().error_code == "transfer_max_exceeded"
    assert wallet(d.user) == {"user_wallet": 10_000, "user_withdrawing": 0, "user_debt": 0}
    assert not SandboxTransfer.objects.exists()


@pytest.mark.postgres
def test_concurrent_approvals_make_one_payout(wechat_sandbox):
    d = funded_distributor(10_000)
    w = withdrawal_request(user=d.user, amount_fen=4_000)
    operators = [UserFactory(is_staff=True) for _ in range(6)]
    codes = run_at_once(lambda i: withdrawal_approve(operator=operators[i], withdrawal_id=w.pk) and "ok", 6)
    assert sorted(codes) == ["invalid_transition"] * 5 + ["ok"]
    assert Withdrawal.objects.get().status == "paid"
    assert SandboxTransfer.objects.count() == 1
    assert WithdrawalEvent.objects.filter(to_status="approved").count() == 1
    assert balance(d.user, "user_wallet") == 6_000
