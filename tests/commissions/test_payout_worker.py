"""A real Celery worker is killed (SIGKILL) in the middle of a payout; after a restart the
sandbox shows exactly one transfer and the withdrawal is paid — on the v2 transfer and on
the APIv3 merchant transfer bill (one bill, then the user confirms)."""
from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from commissions.models import Withdrawal
from commissions.services.withdrawals import withdrawal_approve, withdrawal_request
from ledger.models import LedgerTransaction
from tests.celery_worker import wait_for, worker_start, worker_stop
from tests.factories import UserFactory
from wechat.models import WechatTransfer
from wechat.sandbox.faults import fault_arm
from wechat.sandbox.models.pay import SandboxTransfer
from wechat.sandbox.models.v3 import SandboxTransferBill

from .wallet_helpers import funded_distributor, wallet, withdrawal_settings


def _payout_queue(settings, monkeypatch, sandbox, name: str, **env: str) -> tuple[str, dict]:
    """A payouts queue of this test's own, Celery not eager, and the worker's environment: the
    sandbox holds a carried-out call's answer past WECHAT_HTTP_TIMEOUT (4 s) + 0.5 s."""
    from config.celery import app

    queue = f"{name}-{os.getpid()}"
    settings.WECHAT_HTTP_TIMEOUT = 4
    settings.PAYOUTS_QUEUE = queue
    monkeypatch.setattr(app.conf, "CELERY_TASK_ALWAYS_EAGER", False)  # the namespaced key wins
    return queue, {"WECHAT_SANDBOX_BASE_URL": sandbox.url, "WECHAT_HTTP_TIMEOUT": "4", "PAYOUTS_QUEUE": queue,
                   "PAYOUT_RESUME_AFTER_SECONDS": "0", **env}


def _approve_and_kill(queue: str, worker_env: dict, w, *, sent, what: str) -> float:
    """Approve `w` with a worker running, SIGKILL the worker once `sent()` shows the call reached
    the sandbox; returns when the sandbox's thread lets go of the lost answer (monotonic)."""
    first = worker_start(queue, **worker_env)
    try:
        withdrawal_approve(operator=UserFactory(is_staff=True), withdrawal_id=w.pk)  # queues the payout
        wait_for(sent, timeout=60, what=what)
        held_until = time.monotonic() + 4.5  # the sandbox's thread still holds the lost answer
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=20)
    finally:
        log = worker_stop(first)
    assert first.returncode == -signal.SIGKILL, log
    return held_until


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_worker_killed_mid_payout_pays_exactly_once_after_restart(wechat_sandbox, settings, monkeypatch):
    from config.celery import app

    # The sandbox carries the transfer out, then holds its answer: the worker is killed while it waits.
    queue, worker_env = _payout_queue(settings, monkeypatch, wechat_sandbox, "payouts")
    withdrawal_settings()
    d = funded_distributor(10_000)
    w = withdrawal_request(user=d.user, amount_fen=6_000)
    fault_arm(endpoint="pay.transfer", mode="timeout")

    held_until = _approve_and_kill(queue, worker_env, w, sent=lambda: SandboxTransfer.objects.exists(),
                                   what="the worker to send the transfer")
    w.refresh_from_db()
    assert w.status == "paying", "the worker died before it learned the outcome"
    assert WechatTransfer.objects.get().status == "requested"
    assert wallet(d.user)["user_withdrawing"] == 6_000  # the outcome is not known: still the user's

    second = worker_start(queue, **worker_env)
    try:
        app.send_task("core.run_job", args=["commissions.resume_payouts"], queue=queue)
        wait_for(lambda: Withdrawal.objects.get(pk=w.pk).status == "paid", timeout=60,
                 what="the restarted worker to finish the payout")
    finally:
        log = worker_stop(second)

    # Let the sandbox's request thread finish before the test's database goes away.
    time.sleep(max(0.0, held_until - time.monotonic()))
    assert SandboxTransfer.objects.count() == 1, log
    transfer = SandboxTransfer.objects.get()
    assert (transfer.partner_trade_no, transfer.amount, transfer.openid) == (w.transfer_no, 6_000, d.user.openid)
    assert WechatTransfer.objects.get().attempts == 1  # the restart asked WeChat; it did not send again
    assert wallet(d.user) == {"user_wallet": 4_000, "user_withdrawing": 0, "user_debt": 0}
    assert LedgerTransaction.objects.filter(kind="withdrawal.paid").count() == 1


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_worker_killed_mid_transfer_bill_leaves_exactly_one_bill(wechat_sandbox, settings, monkeypatch):
    from config.celery import app

    settings.WECHAT_PAYOUT_API = "v3_transfer_bills"
    queue, worker_env = _payout_queue(settings, monkeypatch, wechat_sandbox, "payouts-bills",
                                      WECHAT_TRANSFER_NOTIFY_URL=settings.WECHAT_TRANSFER_NOTIFY_URL)
    withdrawal_settings()
    d = funded_distributor(10_000)
    w = withdrawal_request(user=d.user, amount_fen=6_000)
    # The sandbox creates the bill, then holds its answer past the client's timeout.
    fault_arm(endpoint="v3.bill.create", mode="timeout")

    held_until = _approve_and_kill(queue, worker_env, w, sent=lambda: SandboxTransferBill.objects.exists(),
                                   what="the worker to send the bill")
    w.refresh_from_db()
    assert w.status == "paying", "the worker died before it learned the outcome"
    assert WechatTransfer.objects.get().status == "requested"
    assert wallet(d.user)["user_withdrawing"] == 6_000

    second = worker_start(queue, **worker_env)
    try:
        app.send_task("core.run_job", args=["commissions.resume_payouts"], queue=queue)
        wait_for(lambda: Withdrawal.objects.get(pk=w.pk).status == "confirming", timeout=60,
                 what="the restarted worker to find the bill")
    finally:
        log = worker_stop(second)
    time.sleep(max(0.0, held_until - time.monotonic()))

    assert SandboxTransferBill.objects.count() == 1, log
    bill = SandboxTransferBill.objects.get()
    assert (bill.out_bill_no, bill.transfer_amount, bill.openid) == (w.transfer_no, 6_000, d.user.openid)
    transfer = WechatTransfer.objects.get()
    assert (transfer.attempts, transfer.status, transfer.package_info) == (1, "waiting", bill.package_info)

    res = requests.post(f"{wechat_sandbox.url}/wechat-sandbox/transfer-bills/{w.transfer_no}/confirm/", timeout=15)
    assert res.json()["code"] == "SUCCESS", res.text
    assert Withdrawal.objects.get(pk=w.pk).status == "paid"
    assert wallet(d.user) == {"user_wallet": 4_000, "user_withdrawing": 0, "user_debt": 0}
    assert LedgerTransaction.objects.filter(kind="withdrawal.paid").count() == 1
