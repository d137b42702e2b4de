"""Races on merchant transfer bills, with threads against PostgreSQL and the sandbox over HTTP:
operators cancelling at once, an operator cancelling while the user confirms, the callback and
the beat job's query arriving together. Whatever the order, the money moves exactly once."""
from __future__ import annotations

import pytest

from commissions.models import Withdrawal
from commissions.services.payouts import withdrawal_cancel, withdrawal_confirm_check, withdrawals_resume
from tests.concurrency import run_at_once
from tests.factories import UserFactory
from wechat.models import WechatEvent

from .bill_helpers import approved, ledger_count, sandbox, the_bill
from .wallet_helpers import wallet

pytestmark = [pytest.mark.postgres]


def test_six_operators_cancel_one_bill_at_once_the_money_comes_back_once(bills):
    d, w = approved(3_000)
    operators = [UserFactory(is_staff=True) for _ in range(6)]

    results = run_at_once(lambda i: withdrawal_cancel(withdrawal_id=w.pk, actor=operators[i], reason=f"op {i}").status,
                          6)

    assert Withdrawal.objects.get(pk=w.pk).status == "cancelled"
    # Each operator got an answer: cancelled, or a clear refusal (it was no longer cancellable).
    answers = {"cancelled", "confirming", "withdrawal_not_cancellable", "transfer_not_cancellable"}
    assert set(results) <= answers, results
    assert "cancelled" in results
    assert the_bill(w).state == "CANCELLED"
    assert ledger_count("withdrawal.cancel") == 1
    assert wallet(d.user) == {"user_wallet": 10_000, "user_withdrawing": 0, "user_debt": 0}


def test_cancel_and_the_users_confirmation_race_exactly_one_wins(bills):
    for _ in range(4):
        d, w = approved(2_000)

        def act(i, w=w):
            if i == 0:
                return sandbox(bills, f"transfer-bills/{w.transfer_no}/confirm/").status_code
            return withdrawal_cancel(withdrawal_id=w.pk, actor=UserFactory(is_staff=True), reason="race").status

        run_at_once(act, 2)
        withdrawals_resume(older_than_seconds=0)  # whatever was left unknown is settled by a query
        final = Withdrawal.objects.get(pk=w.pk).status
        assert final in ("paid", "cancelled"), final
        assert {"paid": "SUCCESS", "cancelled": "CANCELLED"}[final] == the_bill(w).state
    paid, cancelled = ledger_count("withdrawal.paid"), ledger_count("withdrawal.cancel")
    assert paid + cancelled == 4  # each withdrawal moved its money once, one way or the other


def test_callback_query_and_the_page_at_once_pay_once(bills):
    d, w = approved(2_500)
    # The user confirmed, but the callback got lost; now the beat job, the page and a resent
    # callback all arrive at the same moment.
    from .bill_helpers import arm

    arm(bills, "v3.bill.notify", "bad_signature")
    sandbox(bills, f"transfer-bills/{w.transfer_no}/confirm/")
    assert Withdrawal.objects.get(pk=w.pk).status == "confirming"

    def act(i):
        if i % 3 == 0:
            return withdrawals_resume(older_than_seconds=0)["confirming_checked"]
        if i % 3 == 1:
            return withdrawal_confirm_check(withdrawal_id=w.pk, user_id=d.user_id).status
        return sandbox(bills, f"transfer-bills/{w.transfer_no}/notify/").status_code

    run_at_once(act, 9)

    assert Withdrawal.objects.get(pk=w.pk).status == "paid"
    assert ledger_count("withdrawal.paid") == 1
    assert WechatEvent.objects.filter(subject_key=w.transfer_no, to_status="succeeded").count() == 1
    assert wallet(d.user)["user_withdrawing"] == 0
