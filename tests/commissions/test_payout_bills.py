"""The whole withdrawal story on the APIv3 merchant transfer (商家转账, WECHAT_PAYOUT_API=
v3_transfer_bills), over real HTTP against the sandbox: request, approve, bill, the user
confirms, callback → paid; never confirmed → money back; an operator cancels; duplicate,
forged and replayed callbacks; limits checked before sending. (Issue 14.)"""
from __future__ import annotations

import json
import time

import pytest

from commissions.models import Withdrawal, WithdrawalEvent
from commissions.services.payouts import withdrawal_cancel, withdrawal_pay, withdrawals_resume
from commissions.services.withdrawals import withdrawal_approve, withdrawal_request
from tests.factories import UserFactory
from wechat import v3
from wechat.models import TransferApi, TransferStatus, WechatTransfer
from wechat.sandbox.models.v3 import SandboxTransferBill
from wechat.sandbox.v3 import platform_private_key, signed_headers, v3_callback_post
from wechat.sandbox.v3_bill_views import bill_callback_body

from .bill_helpers import approved, arm, ledger_count, sandbox, the_bill, user_confirms
from .wallet_helpers import funded_distributor, platform_balance, wallet

NOTIFY = "/api/v1/wechat/transfer/notify/"


def _status(w) -> str:
    return Withdrawal.objects.get(pk=w.pk).status


# --- the happy path ------------------------------------------------------------------------

def test_approved_withdrawal_waits_for_the_user_then_is_paid_once_by_the_callback(bills, client_for):
    d, w = approved(3_000)

    assert w.status == "confirming", (w.status, w.error_code)
    bill = the_bill(w)
    assert (bill.transfer_amount, bill.openid, bill.transfer_scene_id) == (3_000, d.user.openid, "1005")
    assert {i["info_type"] for i in bill.report_infos} == {"岗位类型", "报酬说明"}
    transfer = WechatTransfer.objects.get(partner_trade_no=w.transfer_no)
    assert (transfer.api, transfer.status, transfer.bill_state) == (TransferApi.V3_BILL, "waiting", "WAIT_USER_CONFIRM")
    assert transfer.package_info == bill.package_info
    assert wallet(d.user) == {"user_wallet": 7_000, "user_withdrawing": 3_000, "user_debt": 0}

    # The distributor's page gets what wx.requestMerchantTransfer needs.
    client = client_for(d.user)
    body = client.get(f"/api/v1/withdrawals/{w.pk}/").json()
    assert body["status"] == "confirming"
    assert body["confirm"]["package"] == bill.package_info
    assert body["confirm"]["mchId"] and body["confirm"]["appId"] and body["confirm"]["confirm_by"]
    listed = client.get("/api/v1/withdrawals/").json()["results"][0]
    assert listed["confirm"]["package"] == bill.package_info

    answer = user_confirms(bills, w)
    assert answer["code"] == "SUCCESS", answer  # our server took the callback

    w.refresh_from_db()
    assert w.status == "paid"
    assert wallet(d.user) == {"user_wallet": 7_000, "user_withdrawing": 0, "user_debt": 0}
    assert platform_balance("wechat_external") == 3_000
    assert (ledger_count("withdrawal.paid"), ledger_count("withdrawal.fail")) == (1, 0)
    assert client.get(f"/api/v1/withdrawals/{w.pk}/").json()["confirm"] is None
    # WeChat calls back again (it retries until it hears SUCCESS): nothing more happens.
    assert sandbox(bills, f"transfer-bills/{w.transfer_no}/notify/").json()["code"] == "SUCCESS"
    withdrawals_resume(older_than_seconds=0)
    assert withdrawal_pay(withdrawal_id=w.pk).status == "paid"
    assert (ledger_count("withdrawal.paid"), SandboxTransferBill.objects.count()) == (1, 1)
    events = list(WithdrawalEvent.objects.filter(withdrawal=w).values_list("to_status", flat=True))
    assert events == ["requested", "approved", "paying", "confirming", "paid"]


def test_duplicate_callbacks_at_once_pay_once(bills):
    d, w = approved(2_000)
    arm(bills, "v3.bill.notify", "duplicate_notify")

    answer = user_confirms(bills, w)

    assert [n["code"] for n in answer["notifications"]] == ["SUCCESS"] * 5
    assert _status(w) == "paid"
    assert ledger_count("withdrawal.paid") == 1
    assert wallet(d.user)["user_withdrawing"] == 0


def test_the_page_saying_confirmed_is_not_believed_wechat_is_asked(bills, client_for):
    d, w = approved(2_000)
    client = client_for(d.user)

    res = client.post(f"/api/v1/withdrawals/{w.pk}/confirmed/")
    assert res.status_code == 200 and res.json()["status"] == "confirming"  # WeChat: still waiting

    # The user confirmed, but the callback is lost (answered with a bad signature): the page's
    # "confirmed" makes us query, and the query pays it.
    arm(bills, "v3.bill.notify", "bad_signature")
    assert user_confirms(bills, w)["code"] == "FAIL"
    assert _status(w) == "confirming"
    res = client.post(f"/api/v1/withdrawals/{w.pk}/confirmed/")
    assert res.json()["status"] == "paid"
    assert ledger_count("withdrawal.paid") == 1
    # Another user cannot poke someone's withdrawal.
    other = client_for(UserFactory())
    assert other.post(f"/api/v1/withdrawals/{w.pk}/confirmed/").status_code == 404


# --- the money comes back ---------------------------------------------------------------

def test_user_never_confirms_the_bill_closes_and_the_money_comes_back_once(bills):
    d, w = approved(3_000)

    res = sandbox(bills, f"transfer-bills/{w.transfer_no}/expire/")
    assert res.status_code == 200 and res.json()["code"] == "SUCCESS", res.text

    w.refresh_from_db()
    assert (w.status, w.error_code) == ("failed", "not_confirmed_in_time")
    assert wallet(d.user) == {"user_wallet": 10_000, "user_withdrawing": 0, "user_debt": 0}
    assert WechatTransfer.objects.get(partner_trade_no=w.transfer_no).status == TransferStatus.CANCELLED
    sandbox(bills, f"transfer-bills/{w.transfer_no}/notify/")  # the callback again
    withdrawals_resume(older_than_seconds=0)
    assert (ledger_count("withdrawal.fail"), ledger_count("withdrawal.paid")) == (1, 0)
    assert wallet(d.user)["user_wallet"] == 10_000


def test_wechat_fails_the_bill_after_the_user_confirmed_the_money_comes_back(bills):
    d, w = approved(3_000)

    res = sandbox(bills, f"transfer-bills/{w.transfer_no}/confirm/", {"action": "fail"})
    assert res.json()["code"] == "SUCCESS", res.text

    w.refresh_from_db()
    assert (w.status, w.error_code) == ("failed", "PAYEE_ACCOUNT_ABNORMAL")
    assert wallet(d.user)["user_wallet"] == 10_000
    assert ledger_count("withdrawal.fail") == 1


def test_operator_cancels_a_bill_not_confirmed_yet(bills, operator_client):
    d, w = approved(3_000)

    res = operator_client.post(f"/api/v1/ops/withdrawals/{w.pk}/cancel/", {"reason": "填错了收款人"}, format="json")

    assert res.status_code == 200, res.json()
    assert res.json()["status"] == "cancelled"
    assert the_bill(w).state == "CANCELLED"
    assert wallet(d.user) == {"user_wallet": 10_000, "user_withdrawing": 0, "user_debt": 0}
    assert ledger_count("withdrawal.cancel") == 1
    # The user can no longer confirm it; a second cancel is refused and changes nothing.
    assert sandbox(bills, f"transfer-bills/{w.transfer_no}/confirm/").status_code == 409
    again = operator_client.post(f"/api/v1/ops/withdrawals/{w.pk}/cancel/", {"reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "withdrawal_not_cancellable"
    assert ledger_count("withdrawal.cancel") == 1
    trail = WithdrawalEvent.objects.filter(withdrawal=w, data__action="cancel_requested").get()
    assert trail.reason == "填错了收款人"


def test_only_a_reviewer_may_cancel_and_nobody_else_sees_the_package(bills, client_for, api_client):
    d, w = approved(3_000)
    shopper = client_for(UserFactory())
    assert shopper.post(f"/api/v1/ops/withdrawals/{w.pk}/cancel/", {"reason": "x"}, format="json").status_code == 403
    assert api_client.post(f"/api/v1/ops/withdrawals/{w.pk}/cancel/", {"reason": "x"},
                           format="json").status_code == 401
    assert shopper.get(f"/api/v1/withdrawals/{w.pk}/").status_code == 404  # another's: not found, no package
    assert _status(w) == "confirming" and the_bill(w).state == "WAIT_USER_CONFIRM"


def test_cancel_is_refused_for_what_cannot_be_cancelled(bills, operator_client):
    d, w = approved(2_000)
    user_confirms(bills, w)  # paid
    res = operator_client.post(f"/api/v1/ops/withdrawals/{w.pk}/cancel/", {"reason": "late"}, format="json")
    assert res.status_code == 409
    assert _status(w) == "paid"
    # A missing or empty reason, a huge one, another's id: clear errors, nothing changes.
    d2, w2 = approved(2_000)
    for body in ({}, {"reason": ""}, {"reason": "x" * 201}, {"reason": ["a"]}):
        res = operator_client.post(f"/api/v1/ops/withdrawals/{w2.pk}/cancel/", body, format="json")
        assert res.status_code == 400, (body, res.json())
    assert operator_client.post("/api/v1/ops/withdrawals/999999/cancel/", {"reason": "x"},
                                format="json").status_code == 404
    assert (_status(w2), the_bill(w2).state) == ("confirming", "WAIT_USER_CONFIRM")


def test_cancel_races_the_users_confirmation_the_user_wins(bills):
    d, w = approved(2_000)
    # The user confirmed a moment ago (money on its way): WeChat refuses the cancel.
    assert sandbox(bills, f"transfer-bills/{w.transfer_no}/confirm/", {"action": "transfering"}).status_code == 200
    with pytest.raises(Exception):  # noqa: B017 - WeChat's refusal, whichever class maps it
        withdrawal_cancel(withdrawal_id=w.pk, actor=UserFactory(is_staff=True), reason="too late")
    assert _status(w) == "confirming"
    user_confirms(bills, w)
    assert _status(w) == "paid"
    assert (ledger_count("withdrawal.paid"), ledger_count("withdrawal.cancel")) == (1, 0)


# --- lost answers are settled by a query, never by a second bill ----------------------------

def test_timeout_on_create_is_settled_by_a_query_with_the_same_number(bills):
    arm(bills, "v3.bill.create", "timeout")
    d, w = approved(3_000)

    assert w.status == "paying"  # no answer: unknown, not failed
    transfer = WechatTransfer.objects.get(partner_trade_no=w.transfer_no)
    assert transfer.status == TransferStatus.UNKNOWN
    time.sleep(0.6)  # the sandbox's thread still holds the lost answer; it has created the bill

    withdrawals_resume(older_than_seconds=0)

    assert _status(w) == "confirming"
    assert SandboxTransferBill.objects.count() == 1
    transfer.refresh_from_db()
    assert (transfer.attempts, transfer.status) == (1, TransferStatus.WAITING)  # queried, not sent again
    user_confirms(bills, w)
    assert _status(w) == "paid"


def test_system_error_without_a_bill_sends_the_same_number_again(bills):
    arm(bills, "v3.bill.create", "fail", err_code="SYSTEM_ERROR")
    d, w = approved(3_000)
    assert w.status == "paying"  # asked at once: NOT_FOUND -> sent again, on the next run
    withdrawals_resume(older_than_seconds=0)
    assert _status(w) == "confirming"
    assert SandboxTransferBill.objects.filter(out_bill_no=w.transfer_no).count() == 1
    assert WechatTransfer.objects.get(partner_trade_no=w.transfer_no).attempts == 2


def test_a_bad_answer_signature_is_no_answer(bills):
    arm(bills, "v3.bill.create", "bad_signature")
    d, w = approved(3_000)
    assert w.status == "paying"
    assert WechatTransfer.objects.get(partner_trade_no=w.transfer_no).error_code == "invalid_signature"
    withdrawals_resume(older_than_seconds=0)
    assert _status(w) == "confirming"
    assert SandboxTransferBill.objects.count() == 1


def test_documented_refusal_fails_at_once_and_later_codes_wait(bills):
    arm(bills, "v3.bill.create", "fail", err_code="NO_AUTH")
    d, w = approved(3_000)
    assert (w.status, w.error_code) == ("failed", "NO_AUTH")
    assert wallet(d.user)["user_wallet"] == 10_000

    arm(bills, "v3.bill.create", "fail", err_code="NOT_ENOUGH")
    d2, w2 = approved(3_000)
    assert (w2.status, w2.error_code) == ("paying", "NOTENOUGH")  # merchant balance short: later, same number
    withdrawals_resume(older_than_seconds=0)
    assert _status(w2) == "confirming"
    assert ledger_count("withdrawal.fail") == 1


# --- the rules of the scene, before anything is sent ----------------------------------------

def test_over_the_scene_maximum_fails_before_sending(bills, settings):
    settings.WECHAT_TRANSFER_SCENE_MAX_FEN = 2_000
    d, w = approved(3_000)
    assert (w.status, w.error_code) == ("failed", "scene_limit_exceeded")
    assert SandboxTransferBill.objects.count() == 0
    assert wallet(d.user)["user_wallet"] == 10_000


def test_from_2000_yuan_the_real_name_is_sent_encrypted(bills, settings):
    settings.WECHAT_TRANSFER_SCENE_MAX_FEN = 1_000_000
    d, w = approved(250_000, fund_fen=300_000)
    assert w.status == "confirming", (w.status, w.error_code)
    assert the_bill(w).user_name == d.real_name  # the sandbox decrypted it with its private key

    # A distributor without a real name: refused before anything is sent, the money back.
    d3, w3 = _approved_without_name()
    assert (w3.status, w3.error_code) == ("failed", "user_name_required")
    assert not SandboxTransferBill.objects.filter(out_bill_no=w3.transfer_no).exists()
    assert wallet(d3.user)["user_wallet"] == 300_000


def _approved_without_name():
    d = funded_distributor(300_000)
    d.real_name = ""
    d.save(update_fields=["real_name"])
    w = withdrawal_request(user=d.user, amount_fen=250_000)
    withdrawal_approve(operator=UserFactory(is_staff=True), withdrawal_id=w.pk)
    w.refresh_from_db()
    return d, w


# --- forged and replayed callbacks -----------------------------------------------------------

def _post(server, body: bytes, headers: dict | None = None, **kwargs):
    return v3_callback_post(f"{server.url}{NOTIFY}", body, headers=headers, **kwargs)[0]


@pytest.mark.parametrize("forgery", ["wrong_amount", "other_merchant", "unknown_bill", "other_openid"])
def test_validly_signed_callbacks_with_wrong_content_are_refused(bills, forgery):
    d, w = approved(3_000)
    bill = the_bill(w)
    bill.state = "SUCCESS"  # what the forger claims (the sandbox's bill stays waiting)
    overrides = {"wrong_amount": {"transfer_amount": 30_000}, "other_merchant": {"mch_id": "1900000999"},
                 "unknown_bill": {"out_bill_no": "W999999999999999"}, "other_openid": {"openid": "o-someone-else"}}
    answer = _post(bills, bill_callback_body(bill, **overrides[forgery]))
    assert answer["status_code"] == 400 and answer["code"] == "FAIL", answer
    assert _status(w) == "confirming"
    assert ledger_count("withdrawal.paid") == 0


def test_unsigned_wrong_key_stale_and_tampered_callbacks_are_refused(bills, settings):
    d, w = approved(3_000)
    bill = the_bill(w)
    bill.state = "SUCCESS"
    body = bill_callback_body(bill)

    assert _post(bills, body, headers={"Content-Type": "application/json"})["status_code"] == 400  # unsigned
    assert _post(bills, body, wrong_key=True)["status_code"] == 400
    # A real callback replayed later: its signed timestamp is more than 5 minutes old.
    old = str(int(time.time()) - 600)
    stale = {"Wechatpay-Timestamp": old, "Wechatpay-Nonce": "N" * 32, "Wechatpay-Serial": signed_headers(b"")[
        "Wechatpay-Serial"], "Wechatpay-Signature": v3.rsa_sign(platform_private_key(), v3.answer_message(
            old, "N" * 32, body))}
    assert _post(bills, body, headers=stale)["status_code"] == 400
    # Signed, but the sealed resource was changed (GCM tag) or sealed with another APIv3 key.
    envelope = json.loads(body)
    envelope["resource"]["ciphertext"] = envelope["resource"]["ciphertext"][:-4] + "AAAA"
    assert _post(bills, json.dumps(envelope).encode())["status_code"] == 400
    settings.WECHAT_PAY_APIV3_KEY = "another0apiv3key0another0apiv3k0"
    other = bill_callback_body(bill)
    settings.WECHAT_PAY_APIV3_KEY = "sandbox0apiv30key0sandbox0apiv3k"
    assert _post(bills, other)["status_code"] == 400
    # Not JSON at all; too large.
    assert _post(bills, b"<xml>nope</xml>")["status_code"] == 400
    assert _post(bills, b"{" + b" " * 70_000 + b"}")["status_code"] == 413

    assert _status(w) == "confirming"
    assert ledger_count("withdrawal.paid") == 0
    user_confirms(bills, w)  # the real one still works
    assert _status(w) == "paid"


def test_a_lost_create_answer_gets_its_package_info_by_the_same_request_again(bills, client_for):
    arm(bills, "v3.bill.create", "timeout")
    d, w = approved(3_000)
    time.sleep(0.6)
    # The query finds the bill waiting, but asking for its package_info fails this time.
    arm(bills, "v3.bill.create", "fail", err_code="SYSTEM_ERROR")
    withdrawals_resume(older_than_seconds=0)
    assert _status(w) == "confirming"
    transfer = WechatTransfer.objects.get(partner_trade_no=w.transfer_no)
    assert (transfer.status, transfer.package_info) == (TransferStatus.WAITING, "")
    assert client_for(d.user).get(f"/api/v1/withdrawals/{w.pk}/").json()["confirm"] is None  # nothing to confirm yet

    withdrawals_resume(older_than_seconds=0)  # the beat job asks again: same number, same bill

    transfer.refresh_from_db()
    assert transfer.package_info == the_bill(w).package_info
    assert SandboxTransferBill.objects.count() == 1
    assert client_for(d.user).get(f"/api/v1/withdrawals/{w.pk}/").json()["confirm"]["package"] == transfer.package_info


def test_a_bill_unconfirmed_well_past_24_hours_is_cancelled_by_the_beat_job(bills):
    from datetime import timedelta

    from django.utils import timezone

    d, w = approved(3_000)
    Withdrawal.objects.filter(pk=w.pk).update(paying_at=timezone.now() - timedelta(hours=26))

    withdrawals_resume(older_than_seconds=0)

    w.refresh_from_db()
    assert (w.status, w.error_code) == ("failed", "not_confirmed_in_time")  # no operator asked: not "cancelled"
    assert the_bill(w).state == "CANCELLED"
    assert wallet(d.user)["user_wallet"] == 10_000
    assert ledger_count("withdrawal.fail") == 1


def test_admin_cancel_action_asks_for_a_reason_and_cancels_only_waiting_bills(bills, admin_client):
    d, w = approved(3_000)
    d2, paid = approved(2_000)
    user_confirms(bills, paid)
    url = "/admin/commissions/withdrawal/"

    asked = admin_client.post(url, {"action": "cancel_transfer_selected", "_selected_action": [w.pk]})
    assert asked.status_code == 200 and b'name="reason"' in asked.content
    assert _status(w) == "confirming"
    done = admin_client.post(url, {"action": "cancel_transfer_selected", "_selected_action": [w.pk, paid.pk],
                                   "apply": "1", "reason": "收款人有误"}, follow=True)
    text = done.content.decode()
    assert "withdrawal_not_cancellable" in text  # the paid one is refused, by name
    assert (_status(w), _status(paid)) == ("cancelled", "paid")
    assert wallet(d.user)["user_wallet"] == 10_000


def test_the_scenes_daily_maximum_per_user_is_checked_before_sending(bills, settings):
    settings.WECHAT_TRANSFER_USER_DAILY_MAX_FEN = 5_000
    d, first = approved(3_000, fund_fen=20_000)
    assert first.status == "confirming"
    second = withdrawal_request(user=d.user, amount_fen=3_000)
    withdrawal_approve(operator=UserFactory(is_staff=True), withdrawal_id=second.pk)
    second.refresh_from_db()
    assert (second.status, second.error_code) == ("failed", "scene_daily_limit_exceeded")
    assert not SandboxTransferBill.objects.filter(out_bill_no=second.transfer_no).exists()
    # A cancelled bill moved nothing: it does not count.
    withdrawal_cancel(withdrawal_id=first.pk, actor=UserFactory(is_staff=True), reason="redo")
    third = withdrawal_request(user=d.user, amount_fen=4_000)
    withdrawal_approve(operator=UserFactory(is_staff=True), withdrawal_id=third.pk)
    assert _status(third) == "confirming"
    assert wallet(d.user) == {"user_wallet": 16_000, "user_withdrawing": 4_000, "user_debt": 0}


def test_an_unsigned_http_500_is_no_answer_and_the_query_settles_it(bills):
    arm(bills, "v3.bill.create", "http_error")
    d, w = approved(3_000)
    assert w.status == "paying"
    transfer = WechatTransfer.objects.get(partner_trade_no=w.transfer_no)
    assert (transfer.status, transfer.error_code) == (TransferStatus.UNKNOWN, "wechat_http_error")
    withdrawals_resume(older_than_seconds=0)  # NOT_FOUND at WeChat: the same number sent again
    assert _status(w) == "confirming"
    assert SandboxTransferBill.objects.count() == 1
