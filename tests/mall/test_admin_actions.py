"""Operators ship orders and review refunds in the admin, through the same services as the API."""
import pytest

from mall.models import Order, OrderStatus, Refund, RefundStatus
from mall.services.orders import order_create, order_mark_paid
from mall.services.refunds import refund_request

from .orders_helpers import ADDRESS, make_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(user):
    sku = make_sku(price_fen=1000, stock=5)
    order = order_create(user=user, items=[{"sku_id": sku.pk, "quantity": 2}], address=ADDRESS)
    return order_mark_paid(order_no=order.no, amount_fen=2000, transaction_id="4200000000000000000000000001")


def test_ship_action_asks_for_tracking_then_ships(admin_client, paid):
    url = "/admin/mall/order/"
    asked = admin_client.post(url, {"action": "ship_orders", "_selected_action": [paid.pk]})
    assert asked.status_code == 200
    assert b"tracking_no" in asked.content
    assert Order.objects.get(pk=paid.pk).status == OrderStatus.PAID
    bad = admin_client.post(url, {"action": "ship_orders", "_selected_action": [paid.pk], "apply": "1",
                                  "carrier": "SF", "tracking_no": "<x>"})
    assert bad.status_code == 200  # the form again, with its error
    assert Order.objects.get(pk=paid.pk).status == OrderStatus.PAID
    done = admin_client.post(url, {"action": "ship_orders", "_selected_action": [paid.pk], "apply": "1",
                                   "carrier": "顺丰", "tracking_no": "SF123456"})
    assert done.status_code == 302
    order = Order.objects.get(pk=paid.pk)
    assert (order.status, order.carrier, order.tracking_no) == (OrderStatus.SHIPPED, "顺丰", "SF123456")
    again = admin_client.post(url, {"action": "ship_orders", "_selected_action": [paid.pk], "apply": "1",
                                    "carrier": "顺丰", "tracking_no": "SF999999"}, follow=True)
    assert "invalid_transition" in again.content.decode()
    assert Order.objects.get(pk=paid.pk).tracking_no == "SF123456"


def test_refund_actions_approve_and_reject(admin_client, paid, user):
    refund = refund_request(user=user, order_no=paid.no, amount_fen=500, reason="破损")
    url = "/admin/mall/refund/"
    no_reason = admin_client.post(url, {"action": "reject_refunds", "_selected_action": [refund.pk], "apply": "1"})
    assert no_reason.status_code == 200
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.REQUESTED
    rejected = admin_client.post(url, {"action": "reject_refunds", "_selected_action": [refund.pk], "apply": "1",
                                       "reason": "无质量问题"})
    assert rejected.status_code == 302
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.REJECTED
    assert Order.objects.get(pk=paid.pk).status == OrderStatus.PAID

    second = refund_request(user=user, order_no=paid.no, amount_fen=700, reason="少发")
    approved = admin_client.post(url, {"action": "approve_refunds", "_selected_action": [second.pk], "apply": "1",
                                       "reason": "同意"})
    assert approved.status_code == 302
    second.refresh_from_db()
    assert (second.status, second.review_note) == (RefundStatus.APPROVED, "同意")


def test_staff_without_change_permission_sees_no_actions(client, paid):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)
    page = client.get("/admin/mall/order/")
    assert page.status_code == 200
    assert b"ship_orders" not in page.content
    client.post("/admin/mall/order/", {"action": "ship_orders", "_selected_action": [paid.pk], "apply": "1",
                                       "carrier": "SF", "tracking_no": "SF123456"})
    assert Order.objects.get(pk=paid.pk).status == OrderStatus.PAID
