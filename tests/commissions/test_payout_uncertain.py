"""A withdrawal whose transfer gets an uncertain answer (SEND_FAILED, SYSTEMERROR…) is settled by a
query with the same partner_trade_no: it is paid exactly once, or fails and gives the money back
exactly once. Only WeChat's documented refusals fail it at once. (Issue 9, item 1.)"""
from __future__ import annotations

import pytest
import requests

from commissions.models import Withdrawal
from commissions.services.payouts import withdrawal_pay, withdrawals_resume
from commissions.services.withdrawals import withdrawal_approve, withdrawal_request
from ledger.models import LedgerTransaction
from tests.factories import UserFactory
from wechat.models import EventSubject, TransferStatus, WechatEvent, WechatTransfer
from wechat.sandbox.models.pay import SandboxTransfer

from .wallet_helpers import funded_distributor, platform_balance, wallet


def arm(server, err_code: str, **extra) -> None:
    """Arm the sandbox over HTTP, the way an operator or a test from outside would."""
    res = requests.post(f"{server.url}/wechat-sandbox/faults/",
                        json={"endpoint": "pay.transfer", "mode": "fail", "err_code": err_code, **extra}, timeout=5)
    assert res.status_code == 201, res.text


def _approved(amount_fen: int = 3_000):
    d = funded_distributor(10_000)
    w = withdrawal_request(user=d.user, amount_fen=amount_fen)
    withdrawal_approve(operator=UserFactory(is_staff=True), withdrawal_id=w.pk)  # Celery is eager in tests
    w.refresh_from_db()
    return d, w


def _ledger(kind: str) -> int:
    return LedgerTransaction.objects.filter(kind=kind).count()


def test_send_failed_but_the_transfer_went_through_is_paid_once(wechat_sandbox):
    arm(wechat_sandbox, "SEND_FAILED", executed=True)

    d, w = _approved()

    assert w.status == "paid", f"{w.status} {w.error_code}: SEND_FAILED means 'query it', not 'failed'"
    assert SandboxTransfer.objects.filter(partner_trade_no=w.transfer_no).count() == 1
    assert SandboxTransfer.objects.count() == 1
    assert wallet(d.user) == {"user_wallet": 7_000, "user_withdrawing": 0, "user_debt": 0}  # not credited back
    assert platform_balance("wechat_external") == 3_000
    assert (_ledger("withdrawal.paid"), _ledger("withdrawal.fail")) == (1, 0)
    transfer = WechatTransfer.objects.get()
    assert (transfer.status, transfer.attempts) == (TransferStatus.SUCCEEDED, 1)  # queried, not sent again
    assert WechatEvent.objects.filter(subject_type=EventSubject.TRANSFER, source="query",
                                      to_status=TransferStatus.SUCCEEDED).count() == 1
    # Nothing more happens however often the payout or the resume job runs again.
    assert withdrawal_pay(withdrawal_id=w.pk).status == "paid"
    withdrawals_resume(older_than_seconds=0)
    assert (SandboxTransfer.objects.count(), _ledger("withdrawal.paid"), _ledger("withdrawal.fail")) == (1, 1, 0)


def test_send_failed_and_wechat_says_failed_gives_the_money_back_once(wechat_sandbox):
    arm(wechat_sandbox, "SEND_FAILED", outcome="failed")  # WeChat recorded it as failed

    d, w = _approved()

    assert w.status == "failed"
    assert w.error_code == "FAILED"  # from the query's answer, not from SEND_FAILED
    assert wallet(d.user) == {"user_wallet": 10_000, "user_withdrawing": 0, "user_debt": 0}
    assert (_ledger("withdrawal.paid"), _ledger("withdrawal.fail")) == (0, 1)
    assert SandboxTransfer.objects.get().status == "FAILED"
    assert withdrawal_pay(withdrawal_id=w.pk).status == "failed"
    assert withdrawals_resume(older_than_seconds=0)["resumed"] == 0
    assert wallet(d.user)["user_wallet"] == 10_000
    assert _ledger("withdrawal.fail") == 1
    assert WechatTransfer.objects.get().attempts == 1


def test_send_failed_that_wechat_never_recorded_stays_paying_then_the_same_number_is_sent(wechat_sandbox):
    arm(wechat_sandbox, "SEND_FAILED")  # nothing carried out: the query says NOT_FOUND

    d, w = _approved()

    assert (w.status, w.error_code) == ("paying", "SEND_FAILED")
    assert WechatTransfer.objects.get().status == TransferStatus.UNKNOWN
    assert wallet(d.user) == {"user_wallet": 7_000, "user_withdrawing": 3_000, "user_debt": 0}  # still the user's
    assert not SandboxTransfer.objects.exists()
    assert _ledger("withdrawal.fail") == 0

    assert withdrawals_resume(older_than_seconds=0) == {"resumed": 1, "paid": 1, "failed": 0, "still_paying": 0,
                                                      "confirming_checked": 0}

    w.refresh_from_db()
    assert w.status == "paid"
    assert SandboxTransfer.objects.get().partner_trade_no == w.transfer_no  # the same number, once
    assert WechatTransfer.objects.get().attempts == 2
    assert wallet(d.user) == {"user_wallet": 7_000, "user_withdrawing": 0, "user_debt": 0}
    assert (_ledger("withdrawal.paid"), _ledger("withdrawal.fail")) == (1, 0)


@pytest.mark.parametrize("err_code", ["SYSTEMERROR", "FATAL_ERROR", "PROCESSING", "A_CODE_WECHAT_ADDS_LATER"])
def test_any_code_outside_the_refusal_list_is_queried(wechat_sandbox, err_code):
    arm(wechat_sandbox, err_code, executed=True)
    d, w = _approved()
    assert w.status == "paid", f"{err_code}: {w.status} {w.error_code}"
    assert SandboxTransfer.objects.count() == 1
    assert wallet(d.user)["user_wallet"] == 7_000
    assert _ledger("withdrawal.fail") == 0


@pytest.mark.parametrize("err_code", ["NAME_MISMATCH", "OPENID_ERROR", "V2_ACCOUNT_SIMPLE_BAN", "SENDNUM_LIMIT"])
def test_a_documented_refusal_fails_at_once_without_a_query(wechat_sandbox, err_code):
    arm(wechat_sandbox, err_code)
    d, w = _approved()
    assert (w.status, w.error_code) == ("failed", err_code)
    assert wallet(d.user) == {"user_wallet": 10_000, "user_withdrawing": 0, "user_debt": 0}
    assert not SandboxTransfer.objects.exists()
    assert not WechatEvent.objects.filter(subject_type=EventSubject.TRANSFER, source="query").exists()
    assert _ledger("withdrawal.fail") == 1


def test_not_found_after_the_resend_window_is_left_to_an_operator(wechat_sandbox, settings):
    settings.WECHAT_PAYOUT_RESEND_WINDOW_SECONDS = 0  # every transfer is "too old" for NOT_FOUND to be believed
    arm(wechat_sandbox, "SEND_FAILED")
    d, w = _approved()

    withdrawals_resume(older_than_seconds=0)
    withdrawals_resume(older_than_seconds=0)

    w.refresh_from_db()
    assert (w.status, w.error_code) == ("paying", "unknown_needs_operator")
    transfer = WechatTransfer.objects.get()
    assert (transfer.status, transfer.attempts) == (TransferStatus.UNKNOWN, 1)  # never sent again
    assert not SandboxTransfer.objects.exists()
    assert wallet(d.user) == {"user_wallet": 7_000, "user_withdrawing": 3_000, "user_debt": 0}  # no money back either
    assert Withdrawal.objects.get().status == "paying"
