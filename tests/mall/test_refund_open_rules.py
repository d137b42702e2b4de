"""While a refund is open the order neither ships nor completes; refunds never exceed what was paid
(issue 9, item 2)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.errors import InvalidTransition
from ledger.models import LedgerTransaction
from mall.models import Order, OrderStatus, Refund, RefundStatus
from mall.services.orders import (
    order_complete_overdue,
    order_confirm_receipt,
    order_ship,
)
from mall.services.refunds import refund_approve, refund_finalize, refund_reject, refund_request
from tests.concurrency import run_at_once
from tests.factories import UserFactory

from .orders_helpers import (
    make_sku,
    paid_order,
    pay,
    place,
    sandbox_confirm,
    sandbox_refund_confirm,
    shipped_order,
)


def _refund(client, no, amount_fen, reason="不想要了"):
    return client.post(f"/api/v1/orders/{no}/refunds/", {"amount_fen": amount_fen, "reason": reason}, format="json")


def _ship(client, no):
    return client.post(f"/api/v1/ops/orders/{no}/ship/", {"carrier": "SF", "tracking_no": "SF123456"},
                       format="json")


# --- through the API, WeChat sandbox over HTTP --------------------------------------------


@pytest.fixture
def api_paid_order(wechat_sandbox, user_client):
    sku = make_sku(price_fen=1000, stock=10)
    no = place(user_client, sku, 3)
    sandbox_confirm(wechat_sandbox.url, pay(user_client, no)["prepay_id"])
    assert Order.objects.get(no=no).status == OrderStatus.PAID
    return no


def test_receipt_cannot_complete_an_order_with_an_open_refund_api(
    wechat_sandbox, api_paid_order, user_client, operator_client, moments
):
    no = api_paid_order
    assert _ship(operator_client, no).status_code == 200
    first = _refund(user_client, no, 3000)
    assert first.status_code == 201, first.json()

    confirm = user_client.post(f"/api/v1/orders/{no}/confirm-receipt/")
    assert confirm.status_code == 409, confirm.json()
    assert confirm.json()["code"] == "invalid_transition"
    order = Order.objects.get(no=no)
    assert (order.status, order.completed_at) == (OrderStatus.REFUNDING, None)
    assert ("completed", no) not in moments

    second = _refund(user_client, no, 3000)
    assert second.status_code == 409
    assert Refund.objects.filter(order=order).count() == 1

    approved = operator_client.post(f"/api/v1/ops/refunds/{first.json()['id']}/approve/", {}, format="json")
    assert approved.status_code == 200, approved.json()
    sandbox_refund_confirm(wechat_sandbox.url, Refund.objects.get(pk=first.json()["id"]).no)
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, 3000)
    assert user_client.post(f"/api/v1/orders/{no}/confirm-receipt/").status_code == 409

    # Nothing is left approved for the retry job to send again.
    from mall.services.payments import refunds_retry

    Refund.objects.update(reviewed_at=timezone.now() - timedelta(hours=1))
    assert refunds_retry()["sent"] == 0
    assert not Refund.objects.filter(status=RefundStatus.APPROVED).exists()
    assert LedgerTransaction.objects.filter(kind="mall.refund").count() == 1


def test_operator_cannot_ship_an_order_with_an_open_refund_api(
    wechat_sandbox, api_paid_order, user_client, operator_client
):
    no = api_paid_order
    refund_id = _refund(user_client, no, 3000).json()["id"]
    shipped = _ship(operator_client, no)
    assert shipped.status_code == 409, shipped.json()
    assert shipped.json()["code"] == "invalid_transition"
    order = Order.objects.get(no=no)
    assert (order.status, order.shipped_at, order.tracking_no) == (OrderStatus.REFUNDING, None, "")

    operator_client.post(f"/api/v1/ops/refunds/{refund_id}/approve/", {}, format="json")
    sandbox_refund_confirm(wechat_sandbox.url, Refund.objects.get(pk=refund_id).no)
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert _ship(operator_client, no).status_code == 409  # nothing left to ship for
    order.refresh_from_db()
    assert (order.status, order.shipped_at) == (OrderStatus.REFUNDED, None)


def test_rejected_and_partial_refunds_let_the_order_ship_and_complete_api(
    wechat_sandbox, api_paid_order, user_client, operator_client
):
    no = api_paid_order
    rejected = _refund(user_client, no, 3000).json()["id"]
    operator_client.post(f"/api/v1/ops/refunds/{rejected}/reject/", {"reason": "no"}, format="json")
    partial = _refund(user_client, no, 1000).json()["id"]
    operator_client.post(f"/api/v1/ops/refunds/{partial}/approve/", {}, format="json")
    sandbox_refund_confirm(wechat_sandbox.url, Refund.objects.get(pk=partial).no)
    assert Order.objects.get(no=no).status == OrderStatus.PARTIALLY_REFUNDED
    assert _ship(operator_client, no).json()["status"] == "shipped"
    done = user_client.post(f"/api/v1/orders/{no}/confirm-receipt/")
    assert done.status_code == 200
    assert done.json()["status"] == "completed"


# --- the services ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_services_refuse_to_ship_or_complete_while_a_refund_is_open(user, operator, moments):
    unshipped = paid_order(user)
    refund_request(user=user, order_no=unshipped.no, amount_fen=1000, reason="x")
    with pytest.raises(InvalidTransition):
        order_ship(operator=operator, order_no=unshipped.no, carrier="SF", tracking_no="SF000002")
    assert Order.objects.get(pk=unshipped.pk).shipped_at is None

    shipped = shipped_order(user, operator)
    refund = refund_request(user=user, order_no=shipped.no, amount_fen=3000, reason="x")
    refund_approve(operator=operator, refund_id=refund.pk)  # approved: still open
    with pytest.raises(InvalidTransition):
        order_confirm_receipt(user=user, order_no=shipped.no)
    Order.objects.filter(pk=shipped.pk).update(shipped_at=timezone.now() - timedelta(days=30))
    assert order_complete_overdue(order_no=shipped.no) is None
    call_command("run_job", "mall.complete_shipped_orders")
    shipped.refresh_from_db()
    assert (shipped.status, shipped.completed_at) == (OrderStatus.REFUNDING, None)
    assert ("completed", shipped.no) not in moments
    refund_finalize(refund_no=refund.no, succeeded=True)
    shipped.refresh_from_db()
    assert shipped.status == OrderStatus.REFUNDED
    with pytest.raises(InvalidTransition):
        order_confirm_receipt(user=user, order_no=shipped.no)


@pytest.mark.django_db
def test_auto_complete_skips_open_refunds_and_completes_them_once_closed(user, operator, settings):
    from mall.services.fulfilment import orders_complete_overdue

    settings.MALL_AUTO_COMPLETE_DAYS = 10
    open_one = shipped_order(user, operator)
    partial = shipped_order(user, operator)
    refund = refund_request(user=user, order_no=open_one.no, amount_fen=500, reason="x")
    done = refund_request(user=user, order_no=partial.no, amount_fen=500, reason="x")
    refund_approve(operator=operator, refund_id=done.pk)
    refund_finalize(refund_no=done.no, succeeded=True)
    Order.objects.update(shipped_at=timezone.now() - timedelta(days=11))

    orders_complete_overdue()
    assert Order.objects.get(pk=open_one.pk).status == OrderStatus.REFUNDING
    # A partly refunded shipped order completes like any shipped one.
    assert Order.objects.get(pk=partial.pk).status == OrderStatus.COMPLETED
    refund_reject(operator=operator, refund_id=refund.pk, note="no")
    assert Order.objects.get(pk=open_one.pk).status == OrderStatus.SHIPPED
    orders_complete_overdue()
    assert Order.objects.get(pk=open_one.pk).status == OrderStatus.COMPLETED


@pytest.mark.django_db
def test_a_second_refund_is_refused_while_one_is_open_whatever_the_status(user, operator):
    """Rows left by the old code (completed with an open refund): no second refund on top."""
    order = shipped_order(user, operator)
    refund_request(user=user, order_no=order.no, amount_fen=3000, reason="x")
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.COMPLETED, completed_at=timezone.now())
    with pytest.raises(InvalidTransition):
        refund_request(user=user, order_no=order.no, amount_fen=1, reason="again")
    assert Refund.objects.filter(order=order).count() == 1


@pytest.mark.django_db
def test_refunds_adding_up_to_the_payment_end_refunded_whatever_the_status(user, operator):
    """A legacy order that shipped while its full refund was open still ends `refunded`."""
    order = paid_order(user)
    refund = refund_request(user=user, order_no=order.no, amount_fen=3000, reason="x")
    refund_approve(operator=operator, refund_id=refund.pk)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.SHIPPED, shipped_at=timezone.now())
    refund_finalize(refund_no=refund.no, succeeded=True)
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, 3000)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_partial_refunds_never_exceed_what_was_paid():
    buyer = UserFactory()
    order = paid_order(buyer)  # 3000
    results = run_at_once(
        lambda i: refund_request(user=buyer, order_no=order.no, amount_fen=2000, reason=f"r{i}").pk, 2
    )
    made = [r for r in results if isinstance(r, int)]
    assert len(made) == 1, results
    assert sum(Refund.objects.filter(order=order).values_list("amount_fen", flat=True)) == 2000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refund_and_receipt_never_complete_with_a_refund_open():
    buyer = UserFactory()
    operator = UserFactory(is_staff=True)
    for _ in range(3):
        order = shipped_order(buyer, operator)

        def act(i, no=order.no):
            if i == 0:
                return refund_request(user=buyer, order_no=no, amount_fen=3000, reason="race").pk
            return order_confirm_receipt(user=buyer, order_no=no).status

        run_at_once(act, 2)
        order.refresh_from_db()
        open_refund = Refund.objects.filter(order=order, status=RefundStatus.REQUESTED).exists()
        assert open_refund, "the buyer may always ask for a refund of a shipped or completed order"
        assert order.status == OrderStatus.REFUNDING
        assert order.status_before_refund in (OrderStatus.SHIPPED, OrderStatus.COMPLETED)
