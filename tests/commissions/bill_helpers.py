"""Withdrawals paid out through merchant transfer bills (WECHAT_PAYOUT_API=v3_transfer_bills),
over real HTTP against the sandbox: helpers shared by the transfer-bill tests."""
from __future__ import annotations

import requests

from commissions.services.withdrawals import withdrawal_approve, withdrawal_request
from ledger.models import LedgerTransaction
from tests.factories import UserFactory
from wechat.sandbox.models.v3 import SandboxTransferBill

from .wallet_helpers import funded_distributor


def approved(amount_fen: int = 3_000, *, fund_fen: int = 10_000, **user_fields):
    """A distributor's withdrawal, requested and approved (the payout task is eager in tests)."""
    d = funded_distributor(fund_fen, **user_fields)
    w = withdrawal_request(user=d.user, amount_fen=amount_fen)
    withdrawal_approve(operator=UserFactory(is_staff=True), withdrawal_id=w.pk)
    w.refresh_from_db()
    return d, w


def sandbox(server, path: str, payload: dict | None = None) -> requests.Response:
    return requests.post(f"{server.url}/wechat-sandbox/{path}", json=payload or {}, timeout=15)


def arm(server, endpoint: str, mode: str, **extra) -> None:
    res = requests.post(f"{server.url}/wechat-sandbox/faults/", json={"endpoint": endpoint, "mode": mode, **extra},
                        timeout=5)
    assert res.status_code == 201, res.text


def user_confirms(server, w) -> dict:
    res = sandbox(server, f"transfer-bills/{w.transfer_no}/confirm/")
    assert res.status_code == 200, res.text
    return res.json()


def ledger_count(kind: str) -> int:
    return LedgerTransaction.objects.filter(kind=kind).count()


def the_bill(w) -> SandboxTransferBill:
    return SandboxTransferBill.objects.get(out_bill_no=w.transfer_no)
