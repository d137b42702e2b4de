"""A commission's whole life against refunds at every stage, and duplicate payment
notifications over HTTP."""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from commissions.models import Commission
from commissions.services.settlement import commissions_settle
from commissions.services.withdrawals import withdrawal_approve, withdrawal_request
from core.errors import DomainError
from ledger.models import LedgerTransaction
from mall.models import Order
from mall.services.refunds import refund_approve, refund_finalize, refund_request
from tests.concurrency import run_at_once
from tests.factories import UserFactory
from tests.mall.orders_helpers import make_sku, pay, place, sandbox_confirm, sandbox_fault
from wechat.pay import to_xml
from wechat.sandbox.models.pay import SandboxPrepay, SandboxTransfer
from wechat.sandbox.pay_views import payment_notification

from .accrual_helpers import attributed_order
from .accrual_helpers import pay as mark_paid
from .wallet_helpers import fund, wallet, withdrawal_settings

pytestmark = pytest.mark.django_db


def _refund_all(order, operator):
    refund = refund_request(user=order.user, order_no=order.no, amount_fen=order.total_fen, reason="退货")
    refund_approve(operator=operator, refund_id=refund.pk)
    refund_finalize(refund_no=refund.no, succeeded=True)


@pytest.mark.parametrize("stage", ["pending", "frozen", "settled", "withdrawn"])
def test_a_full_refund_at_every_stage(wechat_sandbox, chain, operator, stage):  # noqa: F811
    mid, top = chain
    withdrawal_settings()
    order = attributed_order(UserFactory(), [(make_sku(price_fen=2000), 1)], level1=mid, level2=top)
    mark_paid(order)  # mid 200, top 100, frozen
    if stage != "pending":
        Commission.objects.filter(order=order).update(status="frozen",
                                                      settles_at=timezone.now() + timedelta(days=7))
    if stage in ("settled", "withdrawn"):
        Commission.objects.filter(order=order).update(settles_at=timezone.now() - timedelta(seconds=1))
        commissions_settle()
        assert wallet(mid.user)["user_wallet"] == 200
    if stage == "withdrawn":
        w = withdrawal_request(user=mid.user, amount_fen=200)
        withdrawal_approve(operator=operator, withdrawal_id=w.pk)
        assert SandboxTransfer.objects.get().amount == 200

    _refund_all(order, operator)

    assert set(Commission.objects.filter(order=order).values_list("status", flat=True)) == {"reversed"}
    assert dict(Commission.objects.filter(order=order).values_list("level", "reversed_fen")) == {1: 200, 2: 100}
    owed = 200 if stage == "withdrawn" else 0
    assert wallet(mid.user) == {"user_wallet": 0, "user_withdrawing": 0, "user_debt": -owed}
    assert wallet(top.user) == {"user_wallet": 0, "user_withdrawing": 0, "user_debt": 0}
    assert LedgerTransaction.objects.filter(kind="commission.reverse").count() == 1
    if owed:
        # The debt blocks withdrawals, even with new money in the wallet, until commissions pay it off.
        fund(mid.user, 500)
        with pytest.raises(DomainError) as info:
            withdrawal_request(user=mid.user, amount_fen=100)
        assert (info.value.code, info.value.extra) == ("debt_outstanding", {"debt_fen": 200})


@pytest.mark.postgres
def test_duplicate_and_simultaneous_notifications_accrue_once_per_line_and_level(
        wechat_sandbox, chain, client_for):  # noqa: F811
    mid, top = chain
    buyer = UserFactory()
    client = client_for(buyer)
    no = place(client, make_sku(price_fen=1500), quantity=2)
    Order.objects.filter(no=no).update(attribution={
        "source": "share_code", "distributor_id": mid.pk, "level1_distributor_id": mid.pk,
        "level2_distributor_id": top.pk, "self_referral": False})
    prepay_id = pay(client, no)["prepay_id"]
    sandbox_fault(wechat_sandbox.url, "pay.notify", "duplicate_notify")
    sandbox_confirm(wechat_sandbox.url, prepay_id)  # several copies at once
    fields = payment_notification(SandboxPrepay.objects.get(prepay_id=prepay_id))
    body = to_xml(fields, signed=False).encode()
    answers = run_at_once(lambda i: requests.post(
        f"{wechat_sandbox.url}/api/v1/wechat/pay/notify/", data=body, headers={"Content-Type": "text/xml"},
        timeout=30).status_code, 12)
    assert answers == [200] * 12

    rows = list(Commission.objects.filter(order__no=no).values_list("level", "beneficiary_id", "amount_fen"))
    assert sorted(rows) == [(1, mid.user_id, 300), (2, top.user_id, 150)]
    assert LedgerTransaction.objects.filter(kind="commission.accrue").count() == 1
    assert wallet(mid.user)["user_wallet"] == 0
