"""Shipping, receipt, automatic completion; refunds reviewed by operators and paid by WeChat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from ledger.models import Account, LedgerTransaction
from mall.models import Order, OrderStatus, Refund, RefundStatus
from tests.concurrency import run_at_once
from tests.factories import UserFactory

from .orders_helpers import make_sku, pay, place, sandbox_confirm, sandbox_refund_confirm


def _cash() -> int:
    return Account.objects.filter(kind="platform_cash").aggregate(total=Sum("balance_fen"))["total"] or 0


@pytest.fixture
def paid_order(wechat_sandbox, user_client):
    sku = make_sku(price_fen=1000, stock=10)
    no = place(user_client, sku, 3)
    sandbox_confirm(wechat_sandbox.url, pay(user_client, no)["prepay_id"])
    assert Order.objects.get(no=no).status == OrderStatus.PAID
    return no


def _refund(client, no, amount_fen, reason="不想要了"):
    return client.post(f"/api/v1/orders/{no}/refunds/", {"amount_fen": amount_fen, "reason": reason}, format="json")


def _approve_and_pay_back(operator_client, sandbox_url, refund_id, wechat_status="SUCCESS"):
    res = operator_client.post(f"/api/v1/ops/refunds/{refund_id}/approve/", {}, format="json")
    assert res.status_code == 200, res.json()
    assert res.json()["status"] == "approved"
    refund = Refund.objects.get(pk=refund_id)
    return sandbox_refund_confirm(sandbox_url, refund.no, wechat_status)


def test_two_partial_refunds_add_up_and_a_third_is_refused(
    wechat_sandbox,
    paid_order,
    user_client,
    operator_client,
    moments,
):
    first = _refund(user_client, paid_order, 1000)
    assert first.status_code == 201, first.json()
    assert Order.objects.get(no=paid_order).status == OrderStatus.REFUNDING
    # While one refund is open, another cannot be asked for.
    assert _refund(user_client, paid_order, 500).json()["code"] == "invalid_transition"
    _approve_and_pay_back(operator_client, wechat_sandbox.url, first.json()["id"])
    order = Order.objects.get(no=paid_order)
    assert (order.status, order.refunded_fen) == (OrderStatus.PARTIALLY_REFUNDED, 1000)
    assert _cash() == 2000

    too_much = _refund(user_client, paid_order, 2001)
    assert too_much.status_code == 400
    assert too_much.json()["code"] == "amount_too_large"
    assert too_much.json()["extra"]["refundable_fen"] == 2000

    second = _refund(user_client, paid_order, 2000)
    assert second.status_code == 201
    _approve_and_pay_back(operator_client, wechat_sandbox.url, second.json()["id"])
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, 3000)
    assert _cash() == 0

    third = _refund(user_client, paid_order, 1)
    assert third.status_code == 409
    assert Refund.objects.filter(order=order).count() == 2
    assert LedgerTransaction.objects.filter(kind="mall.refund").count() == 2
    assert [m for m in moments if m[0] == "refunded"] == [("refunded", paid_order)] * 2


def test_reject_returns_the_order_to_where_it_was(wechat_sandbox, paid_order, user_client, operator_client):
    refund_id = _refund(user_client, paid_order, 500).json()["id"]
    assert operator_client.post(f"/api/v1/ops/refunds/{refund_id}/reject/", {}, format="json").status_code == 400
    res = operator_client.post(f"/api/v1/ops/refunds/{refund_id}/reject/", {"reason": "已发货"}, format="json")
    assert res.status_code == 200
    assert res.json()["status"] == "rejected"
    order = Order.objects.get(no=paid_order)
    assert (order.status, order.refunded_fen) == (OrderStatus.PAID, 0)
    again = operator_client.post(f"/api/v1/ops/refunds/{refund_id}/approve/", {}, format="json")
    assert again.status_code == 409
    assert not LedgerTransaction.objects.filter(kind="mall.refund").exists()


def test_refund_refused_by_wechat_reopens_the_order(wechat_sandbox, paid_order, user_client, operator_client):
    refund_id = _refund(user_client, paid_order, 700).json()["id"]
    _approve_and_pay_back(operator_client, wechat_sandbox.url, refund_id, wechat_status="CHANGE")
    assert Refund.objects.get(pk=refund_id).status == RefundStatus.FAILED
    order = Order.objects.get(no=paid_order)
    assert (order.status, order.refunded_fen) == (OrderStatus.PAID, 0)
    assert _cash() == 3000


@pytest.mark.parametrize(
    "body",
    [
        {"amount_fen": 0, "reason": "x"},
        {"amount_fen": -100, "reason": "x"},
        {"amount_fen": 10.5, "reason": "x"},
        {"amount_fen": "100", "reason": "x"},
        {"amount_fen": 10**12, "reason": "x"},
        {"amount_fen": 100},
        {"amount_fen": 100, "reason": "x" * 201},
        {"reason": "x"},
    ],
)
def test_bad_refund_input_is_refused(wechat_sandbox, paid_order, user_client, body):
    res = user_client.post(f"/api/v1/orders/{paid_order}/refunds/", body, format="json")
    assert res.status_code == 400
    assert not Refund.objects.exists()
    assert Order.objects.get(no=paid_order).status == OrderStatus.PAID


def test_refund_rules_by_status_and_owner(user_client, user):
    from mall.services.orders import order_create

    from .orders_helpers import ADDRESS

    sku = make_sku(stock=5)
    unpaid = order_create(user=user, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS)
    res = _refund(user_client, unpaid.no, 100)
    assert res.status_code == 409
    other = UserFactory()
    theirs = order_create(user=other, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS)
    assert _refund(user_client, theirs.no, 100).status_code == 404
    assert not Refund.objects.exists()


def test_operators_only_and_with_the_permission(wechat_sandbox, paid_order, user_client, client_for):
    refund_id = _refund(user_client, paid_order, 100).json()["id"]
    assert user_client.post(f"/api/v1/ops/refunds/{refund_id}/approve/", {}, format="json").status_code == 403
    staff = UserFactory(is_staff=True)
    staff_client = client_for(staff)
    assert staff_client.get("/api/v1/ops/refunds/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_refund"))
    listed = staff_client.get("/api/v1/ops/refunds/?status=requested")
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["results"]] == [refund_id]
    assert staff_client.post(f"/api/v1/ops/refunds/{refund_id}/approve/", {}, format="json").status_code == 403
    assert Refund.objects.get(pk=refund_id).status == RefundStatus.REQUESTED
    assert staff_client.get("/api/v1/ops/refunds/?status=nope").status_code == 400


@pytest.mark.postgres
def test_concurrent_refund_requests_make_one_refund(wechat_sandbox, paid_order, user):
    from mall.services.refunds import refund_request

    answers = run_at_once(lambda i: refund_request(user=user, order_no=paid_order, amount_fen=3000,
                                                   reason="race").pk, 10)  # DomainErrors: their code
    made = [a for a in answers if isinstance(a, int)]
    refused = [a for a in answers if isinstance(a, str)]
    assert len(made) == 1
    assert refused == ["invalid_transition"] * 9
    assert Refund.objects.count() == 1


def test_ship_confirm_and_complete(wechat_sandbox, paid_order, user_client, operator_client, moments):
    bad = operator_client.post(f"/api/v1/ops/orders/{paid_order}/ship/", {"carrier": "SF"}, format="json")
    assert bad.status_code == 400
    bad = operator_client.post(
        f"/api/v1/ops/orders/{paid_order}/ship/", {"carrier": "SF", "tracking_no": "<script>"}, format="json"
    )
    assert bad.status_code == 400
    assert (
        user_client.post(
            f"/api/v1/ops/orders/{paid_order}/ship/", {"carrier": "SF", "tracking_no": "SF123456"}, format="json"
        ).status_code
        == 403
    )
    assert user_client.post(f"/api/v1/orders/{paid_order}/confirm-receipt/").status_code == 409
    res = operator_client.post(
        f"/api/v1/ops/orders/{paid_order}/ship/", {"carrier": "顺丰", "tracking_no": "SF1234567890"}, format="json"
    )
    assert res.status_code == 200, res.json()
    assert res.json()["status"] == "shipped"
    assert operator_client.post(
        f"/api/v1/ops/orders/{paid_order}/ship/", {"carrier": "顺丰", "tracking_no": "SF1"}, format="json"
    ).status_code in (400, 409)
    mine = user_client.post(f"/api/v1/orders/{paid_order}/confirm-receipt/")
    assert mine.status_code == 200
    assert mine.json()["status"] == "completed"
    assert user_client.post(f"/api/v1/orders/{paid_order}/confirm-receipt/").status_code == 409
    assert [m for m in moments if m[0] == "completed"] == [("completed", paid_order)]
    detail = operator_client.get(f"/api/v1/ops/orders/{paid_order}/").json()
    assert (detail["carrier"], detail["tracking_no"]) == ("顺丰", "SF1234567890")


def test_shipped_orders_complete_automatically_after_n_days(
    wechat_sandbox,
    paid_order,
    operator_client,
    settings,
    moments,
):
    settings.MALL_AUTO_COMPLETE_DAYS = 10
    operator_client.post(
        f"/api/v1/ops/orders/{paid_order}/ship/", {"carrier": "SF", "tracking_no": "SF0001"}, format="json"
    )
    call_command("run_job", "mall.complete_shipped_orders")
    assert Order.objects.get(no=paid_order).status == OrderStatus.SHIPPED  # not yet
    Order.objects.filter(no=paid_order).update(shipped_at=timezone.now() - timedelta(days=10, minutes=1))
    call_command("run_job", "mall.complete_shipped_orders")
    call_command("run_job", "mall.complete_shipped_orders")
    assert Order.objects.get(no=paid_order).status == OrderStatus.COMPLETED
    assert [m for m in moments if m[0] == "completed"] == [("completed", paid_order)]


def test_completed_order_can_still_be_refunded(wechat_sandbox, paid_order, user_client, operator_client):
    operator_client.post(
        f"/api/v1/ops/orders/{paid_order}/ship/", {"carrier": "SF", "tracking_no": "SF0002"}, format="json"
    )
    user_client.post(f"/api/v1/orders/{paid_order}/confirm-receipt/")
    refund_id = _refund(user_client, paid_order, 3000).json()["id"]
    _approve_and_pay_back(operator_client, wechat_sandbox.url, refund_id)
    order = Order.objects.get(no=paid_order)
    assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, 3000)
