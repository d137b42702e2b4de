"""Settlement into the wallet (batched, once), and refunds after settlement (wallet, then debt)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from commissions.models import Commission
from commissions.services.settlement import commissions_settle
from ledger.models import AccountKind, LedgerTransaction
from ledger.services import account_get_or_create, ledger_post
from mall.services.refunds import refund_approve, refund_finalize, refund_request
from tests.concurrency import run_at_once
from tests.factories import DistributorFactory, UserFactory, distribution_settings_set
from tests.mall.orders_helpers import make_sku

from .accrual_helpers import attributed_order, matured, pay
from .wallet_helpers import balance

pytestmark = pytest.mark.django_db


def test_matured_commissions_settle_once(chain):  # noqa: F811
    mid, top = chain
    ripe = attributed_order(UserFactory(), [(make_sku(price_fen=1000), 1)], level1=mid, level2=top)
    pay(ripe, txn="4200000000000000000000000011")
    green = attributed_order(UserFactory(), [(make_sku(price_fen=2000), 1)], level1=mid, level2=top)
    pay(green, txn="4200000000000000000000000012")
    matured(ripe)
    Commission.objects.filter(order=green).update(status="frozen", settles_at=timezone.now() + timedelta(days=3))
    assert commissions_settle() == {"settled": 2, "batches": 1}
    assert set(Commission.objects.filter(order=ripe).values_list("status", flat=True)) == {"settled"}
    assert set(Commission.objects.filter(order=green).values_list("status", flat=True)) == {"frozen"}
    assert (balance(mid.user, "user_wallet"), balance(mid.user, "user_frozen")) == (100, 200)
    assert (balance(top.user, "user_wallet"), balance(top.user, "user_frozen")) == (50, 100)
    call_command("run_job", "commissions.settle")  # again: nothing more
    assert LedgerTransaction.objects.filter(kind="commission.settle").count() == 1
    assert balance(mid.user, "user_wallet") == 100


def test_refund_after_settlement_takes_from_the_wallet_then_makes_debt(chain, operator, client_for):  # noqa: F811
    mid, top = chain
    buyer = UserFactory()
    order = attributed_order(buyer, [(make_sku(price_fen=2000), 1)], level1=mid, level2=top)
    pay(order, txn="4200000000000000000000000021")  # mid 200, top 100
    matured(order)
    commissions_settle()
    # mid has spent 150 of their 200 (as a withdrawal will): only 50 left in the wallet
    outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
    ledger_post(kind="test.spend", idempotency_key="test.spend:mid",
                legs=[(account_get_or_create(kind=AccountKind.USER_WALLET, owner=mid.user), -150), (outside, 150)])
    refund = refund_request(user=buyer, order_no=order.no, amount_fen=2000, reason="退货")
    refund_approve(operator=operator, refund_id=refund.pk)
    refund_finalize(refund_no=refund.no, succeeded=True)
    assert set(Commission.objects.filter(order=order).values_list("status", flat=True)) == {"reversed"}
    assert (balance(mid.user, "user_wallet"), balance(mid.user, "user_debt")) == (0, -150)
    assert (balance(top.user, "user_wallet"), balance(top.user, "user_debt")) == (0, 0)
    assert client_for(mid.user).get("/api/v1/wallet/").json()["debt_fen"] == 150

    # The next commissions pay the debt off first.
    later = attributed_order(UserFactory(), [(make_sku(price_fen=2000), 1)], level1=mid, level2=top)
    pay(later, txn="4200000000000000000000000022")  # mid +200
    matured(later)
    commissions_settle()
    assert (balance(mid.user, "user_wallet"), balance(mid.user, "user_debt")) == (50, 0)


def test_partial_refund_of_settled_money(chain, operator):  # noqa: F811
    mid, top = chain
    buyer = UserFactory()
    order = attributed_order(buyer, [(make_sku(price_fen=1000), 1)], level1=mid, level2=top)
    pay(order, txn="4200000000000000000000000031")  # mid 100, top 50
    matured(order)
    commissions_settle()
    refund = refund_request(user=buyer, order_no=order.no, amount_fen=500, reason="少发")
    refund_approve(operator=operator, refund_id=refund.pk)
    refund_finalize(refund_no=refund.no, succeeded=True)
    assert dict(Commission.objects.values_list("level", "reversed_fen")) == {1: 50, 2: 25}
    assert set(Commission.objects.values_list("status", flat=True)) == {"settled"}
    assert (balance(mid.user, "user_wallet"), balance(top.user, "user_wallet")) == (50, 25)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_settlement_runs_at_once_settle_each_commission_once():
    distribution_settings_set(default_level1_bps=1000, default_level2_bps=500, levels=2)
    top = DistributorFactory()
    mid = DistributorFactory(inviter=top)
    for i in range(30):
        order = attributed_order(UserFactory(), [(make_sku(price_fen=1000), 1)], level1=mid, level2=top)
        pay(order, txn=f"42000000000000000000{i:08d}")
    Commission.objects.update(status="frozen", settles_at=timezone.now() - timedelta(minutes=1))
    results = run_at_once(lambda i: commissions_settle()["settled"], 4)
    assert sum(results) == 60
    assert Commission.objects.filter(status="settled").count() == 60
    assert (balance(mid.user, "user_wallet"), balance(top.user, "user_wallet")) == (3000, 1500)
    assert (balance(mid.user, "user_frozen"), balance(top.user, "user_frozen")) == (0, 0)
