"""Maker-checker for refunds: the operator who bought or asked cannot approve or reject (issue 9, item 4)."""

from __future__ import annotations

import pytest

from core.errors import DomainError
from mall.models import Order, OrderStatus, Refund, RefundStatus
from mall.services.refunds import refund_approve, refund_reject, refund_request
from tests.factories import UserFactory

from .orders_helpers import paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_operator():
    return UserFactory(is_staff=True, is_superuser=True, username="checker")


def test_the_buyer_operator_cannot_review_their_own_refund_api(operator, operator_client, other_operator, client_for):
    order = paid_order(operator)
    refund = refund_request(user=operator, order_no=order.no, amount_fen=1000, reason="自己的单")
    for action, body in (("approve", {}), ("reject", {"reason": "no"})):
        res = operator_client.post(f"/api/v1/ops/refunds/{refund.pk}/{action}/", body, format="json")
        assert res.status_code == 403, res.json()
        assert res.json()["code"] == "self_approval"
    refund.refresh_from_db()
    assert (refund.status, refund.reviewed_by_id, refund.reviewed_at) == (RefundStatus.REQUESTED, None, None)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDING

    res = client_for(other_operator).post(f"/api/v1/ops/refunds/{refund.pk}/approve/", {}, format="json")
    assert res.status_code == 200, res.json()
    refund.refresh_from_db()
    assert (refund.status, refund.reviewed_by_id) == (RefundStatus.APPROVED, other_operator.pk)


def test_the_requesting_operator_cannot_review_the_refund_they_asked_for_api(
    user, operator, operator_client, other_operator, client_for
):
    order = paid_order(user)
    made = operator_client.post(f"/api/v1/ops/orders/{order.no}/refunds/",
                                {"amount_fen": 500, "reason": "客服补退"}, format="json")
    assert made.status_code == 201, made.json()
    refund_id = made.json()["id"]
    assert Refund.objects.get(pk=refund_id).requested_by_id == operator.pk
    res = operator_client.post(f"/api/v1/ops/refunds/{refund_id}/approve/", {}, format="json")
    assert (res.status_code, res.json()["code"]) == (403, "self_approval")
    assert Refund.objects.get(pk=refund_id).status == RefundStatus.REQUESTED
    res = client_for(other_operator).post(f"/api/v1/ops/refunds/{refund_id}/reject/", {"reason": "重复"},
                                          format="json")
    assert res.status_code == 200
    assert Refund.objects.get(pk=refund_id).status == RefundStatus.REJECTED


def test_the_services_refuse_self_review(operator, other_operator):
    order = paid_order(operator)
    refund = refund_request(user=operator, order_no=order.no, amount_fen=100, reason="x")
    for review in (lambda: refund_approve(operator=operator, refund_id=refund.pk),
                   lambda: refund_reject(operator=operator, refund_id=refund.pk, note="x")):
        with pytest.raises(DomainError) as caught:
            review()
        assert caught.value.code == "self_approval"
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.REQUESTED
    refund_reject(operator=other_operator, refund_id=refund.pk, note="no")
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.REJECTED


def test_admin_actions_refuse_self_review(client, operator, other_operator):
    order = paid_order(operator)
    refund = refund_request(user=operator, order_no=order.no, amount_fen=100, reason="x")
    client.force_login(operator)
    url = "/admin/mall/refund/"
    for action in ("approve_refunds", "reject_refunds"):
        page = client.post(url, {"action": action, "_selected_action": [refund.pk], "apply": "1", "reason": "r"},
                           follow=True)
        assert "self_approval" in page.content.decode()
        assert Refund.objects.get(pk=refund.pk).status == RefundStatus.REQUESTED
    client.force_login(other_operator)
    done = client.post(url, {"action": "approve_refunds", "_selected_action": [refund.pk], "apply": "1",
                             "reason": "同意"})
    assert done.status_code == 302
    refund.refresh_from_db()
    assert (refund.status, refund.reviewed_by_id) == (RefundStatus.APPROVED, other_operator.pk)


def test_admin_ship_action_refuses_an_order_with_an_open_refund(client, operator, user):
    order = paid_order(user)
    refund_request(user=user, order_no=order.no, amount_fen=100, reason="x")
    client.force_login(operator)
    page = client.post("/admin/mall/order/", {"action": "ship_orders", "_selected_action": [order.pk], "apply": "1",
                                              "carrier": "SF", "tracking_no": "SF123456"}, follow=True)
    assert "invalid_transition" in page.content.decode()
    order.refresh_from_db()
    assert (order.status, order.shipped_at, order.tracking_no) == (OrderStatus.REFUNDING, None, "")


def test_admin_edits_the_mall_settings_through_the_service(client, operator):
    from mall.models import MallSettings

    client.force_login(operator)
    bad = client.post("/admin/mall/mallsettings/add/", {"refund_window_days": "4000"})
    assert bad.status_code == 200  # the form again
    assert not MallSettings.objects.exists()
    done = client.post("/admin/mall/mallsettings/add/", {"refund_window_days": "5"})
    assert done.status_code == 302
    row = MallSettings.objects.get(pk=1)
    assert (row.refund_window_days, row.updated_by_id) == (5, operator.pk)
