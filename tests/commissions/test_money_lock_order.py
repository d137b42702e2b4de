"""Issue 9 item 8: payments and refunds take their ledger-account locks in one global order.

A payment used to lock commission expense and the beneficiary's frozen account (accrual)
and then platform cash/revenue; a refund platform cash/revenue, then the beneficiary's
accounts, then commission expense. Two such transactions on one shard and one beneficiary
can each hold what the other waits for. Now every money transaction locks all its accounts
up front in ONE id-ordered statement (ledger/locks.py; the mall learns the commission
side's accounts through mall.hooks.register_order_accounts).

* `test_each_money_transaction_locks_ledger_accounts_in_one_global_order` logs, through a
  connection execute_wrapper, which ledger accounts every `SELECT … FOR UPDATE` locks, and
  asserts that no transaction ever locks an account with a lower id than one it holds.
  Deterministic; it fails on the former code (both the payment and the refund did).
* `test_payments_and_refunds_at_once_do_not_deadlock` races signed payment and refund
  notifications (the handlers the notify endpoints run) for one beneficiary on one shard.
"""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.utils import timezone

from commissions.models import Commission
from commissions.services.settlement import commissions_settle
from commissions.services.withdrawals import withdrawal_request
from distributors.models import Distributor, ShareLink
from ledger.models import Account, LedgerTransaction
from mall.models import Order, OrderStatus, Refund, RefundStatus
from mall.services.orders import order_confirm_receipt, order_create, order_mark_paid, order_ship
from mall.services.payments import order_pay
from mall.services.refunds import refund_approve, refund_finalize, refund_request
from tests.concurrency import run_at_once
from tests.factories import DistributorFactory, ShareLinkFactory, UserFactory, distribution_settings_set
from tests.mall.orders_helpers import ADDRESS, make_sku
from wechat.pay import to_xml
from wechat.sandbox.models import SandboxPrepay, SandboxRefund
from wechat.sandbox.pay_views import payment_notification, refund_notification
from wechat.services import payment_notify_handle, refund_notify_handle

pytestmark = pytest.mark.postgres

LEDGER_TABLE = re.compile(r'\bFROM\s+"?ledger_account"?', re.IGNORECASE)
FOR_UPDATE = re.compile(r"\s+FOR\s+UPDATE\b.*$", re.IGNORECASE | re.DOTALL)


class LedgerLockLog:
    """An execute_wrapper: for every statement that locks ledger accounts, the ids it locks
    (read by running the same statement without FOR UPDATE just before it), in lock order."""

    def __init__(self):
        self.statements: list[list[int]] = []
        self._busy = False

    def __call__(self, execute, sql, params, many, context):
        if not self._busy and "FOR UPDATE" in sql.upper() and LEDGER_TABLE.search(sql):
            self._busy = True
            try:
                with context["connection"].cursor() as cursor:
                    cursor.execute(FOR_UPDATE.sub("", sql), params)
                    self.statements.append([row[0] for row in cursor.fetchall()])
            finally:
                self._busy = False
        return execute(sql, params, many, context)


def locks_of(fn) -> list[list[int]]:
    log = LedgerLockLog()
    with connection.execute_wrapper(log):
        fn()
    return log.statements


def assert_globally_ordered(what: str, statements: list[list[int]]) -> None:
    """Each lock statement takes ids in ascending order, and none takes an id below one the
    transaction already holds (re-locking a held row is harmless)."""
    assert statements, f"{what}: no ledger account was locked"
    held: set[int] = set()
    for ids in statements:
        new = [i for i in ids if i not in held]
        assert new == sorted(new), f"{what}: one statement locked {ids} out of order"
        if new and held:
            assert new[0] > max(held), (
                f"{what}: locked {new} while holding {sorted(held)} — against the global id order "
                f"(all statements: {statements})")
        held.update(new)


@pytest.fixture
def chain(settings):
    settings.MALL_LEDGER_SHARDS = 1  # every order on the same platform and expense shard
    distribution_settings_set(levels=2, default_level1_bps=1000, default_level2_bps=500, freeze_days=0,
                              self_purchase_commission=False)
    top = DistributorFactory()
    mid = DistributorFactory(inviter=top)
    return mid, top


def _code(mid) -> str:
    existing = ShareLink.objects.filter(distributor=mid).first()
    return (existing or ShareLinkFactory(distributor=mid)).code


def _order(mid, price_fen=10_000):
    sku = make_sku(price_fen=price_fen)
    buyer = UserFactory()
    order = order_create(user=buyer, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS,
                         share_code=_code(mid))
    return buyer, order


def _paid(mid):
    buyer, order = _order(mid)
    order_mark_paid(order_no=order.no, amount_fen=order.total_fen, transaction_id=f"42{order.no}")
    return buyer, Order.objects.get(pk=order.pk)


def _refund(buyer, order, amount_fen, operator):
    refund = refund_request(user=buyer, order_no=order.no, amount_fen=amount_fen, reason="退")
    refund_approve(operator=operator, refund_id=refund.pk)
    return refund


@pytest.mark.django_db
def test_each_money_transaction_locks_ledger_accounts_in_one_global_order(chain):
    mid, top = chain
    operator = UserFactory(is_staff=True, is_superuser=True)
    # Payment: cash/revenue, commission expense and both beneficiaries' frozen accounts.
    buyer, order = _order(mid)
    payment = locks_of(lambda: order_mark_paid(order_no=order.no, amount_fen=order.total_fen,
                                               transaction_id=f"42{order.no}"))
    assert Commission.objects.filter(order=order).count() == 2
    assert_globally_ordered("payment", payment)

    # A refund while the commissions are pending: cash/revenue, expense, frozen accounts.
    refund = _refund(buyer, order, 4000, operator)
    refunding = locks_of(lambda: refund_finalize(refund_no=refund.no, succeeded=True))
    assert LedgerTransaction.objects.filter(kind="commission.reverse").count() == 1
    assert_globally_ordered("refund of pending commissions", refunding)

    # Settled, partly withdrawn, then refunded: wallet and debt accounts join in.
    buyer2, order2 = _paid(mid)
    order_ship(operator=operator, order_no=order2.no, carrier="SF", tracking_no="SF1")
    order_confirm_receipt(user=buyer2, order_no=order2.no)
    settling = locks_of(lambda: commissions_settle(now=timezone.now() + timezone.timedelta(seconds=5)))
    assert_globally_ordered("settlement", settling)
    mid_user = Distributor.objects.get(pk=mid.pk).user
    wallet = Account.objects.get(owner=mid_user, kind="user_wallet").balance_fen
    assert wallet > 0
    withdrawing = locks_of(lambda: withdrawal_request(user=mid_user, amount_fen=wallet))
    assert_globally_ordered("withdrawal request", withdrawing)
    refund2 = _refund(buyer2, order2, order2.paid_fen, operator)
    clawback = locks_of(lambda: refund_finalize(refund_no=refund2.no, succeeded=True))
    assert Account.objects.get(owner=mid_user, kind="user_debt").balance_fen < 0  # it was withdrawn
    assert_globally_ordered("refund of settled commissions", clawback)


# --- the race ------------------------------------------------------------------------------

PAYMENTS = 8
REFUNDS = 8
ROUNDS = 3


def _prepaid_notification(mid) -> bytes:
    """An order paid at the sandbox whose notification has not been delivered yet."""
    buyer, order = _order(mid, price_fen=3000)
    order_pay(user=buyer, order_no=order.no, client_ip="127.0.0.1")
    prepay = SandboxPrepay.objects.get(out_trade_no=order.no)
    now = timezone.now()
    SandboxPrepay.objects.filter(pk=prepay.pk).update(
        trade_state=SandboxPrepay.State.SUCCESS, transaction_id=f"4200{order.no}", time_end=f"{now:%Y%m%d%H%M%S}")
    prepay.refresh_from_db()
    return to_xml(payment_notification(prepay), signed=False).encode()


@pytest.mark.django_db(transaction=True)
def test_payments_and_refunds_at_once_do_not_deadlock(wechat_sandbox, chain):
    mid, top = chain
    operator = UserFactory(is_staff=True, is_superuser=True)
    for _ in range(ROUNDS):
        bodies = [("pay", _prepaid_notification(mid)) for _ in range(PAYMENTS)]
        for _ in range(REFUNDS):
            buyer, order = _order(mid, price_fen=3000)
            order_pay(user=buyer, order_no=order.no, client_ip="127.0.0.1")
            prepay = SandboxPrepay.objects.get(out_trade_no=order.no)
            SandboxPrepay.objects.filter(pk=prepay.pk).update(
                trade_state=SandboxPrepay.State.SUCCESS, transaction_id=f"4200{order.no}",
                time_end=f"{timezone.now():%Y%m%d%H%M%S}")
            prepay.refresh_from_db()
            payment_notify_handle(body=to_xml(payment_notification(prepay), signed=False).encode())
            refund = _refund(buyer, order, Order.objects.get(pk=order.pk).paid_fen, operator)
            row = SandboxRefund.objects.select_related("prepay").get(out_refund_no=refund.no)
            SandboxRefund.objects.filter(pk=row.pk).update(
                refund_status=SandboxRefund.State.SUCCESS, success_time=f"{timezone.now():%Y-%m-%d %H:%M:%S}")
            row.refresh_from_db()
            bodies.append(("refund", to_xml(refund_notification(row), signed=False).encode()))
        bodies = [b for pair in zip(bodies[:PAYMENTS], bodies[PAYMENTS:], strict=True) for b in pair]

        def deliver(i, bodies=bodies):
            kind, body = bodies[i]
            handle = payment_notify_handle if kind == "pay" else refund_notify_handle
            return b"SUCCESS" in handle(body=body).encode()

        # Any exception in a thread — psycopg's DeadlockDetected above all — fails the test.
        assert run_at_once(deliver, len(bodies), domain_errors=False) == [True] * len(bodies)

    assert Order.objects.filter(status=OrderStatus.REFUNDED).count() == ROUNDS * REFUNDS
    assert Refund.objects.filter(status=RefundStatus.SUCCEEDED).count() == ROUNDS * REFUNDS
    assert Order.objects.filter(status=OrderStatus.PAID).count() == ROUNDS * PAYMENTS
    # Only the paid orders' commissions are left: 10 % + 5 % of 30 yuan each.
    frozen = {a.owner_id: a.balance_fen for a in Account.objects.filter(kind="user_frozen")}
    assert frozen == {mid.user_id: ROUNDS * PAYMENTS * 300, top.user_id: ROUNDS * PAYMENTS * 150}
    # The books balance: the autouse audit checks every balance, transaction and the total.
