"""The refund window: how long after completion the buyer may still ask for a refund (issue 9, "Also")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from mall.models import Order, OrderStatus, Refund, RefundStatus
from mall.services.orders import order_confirm_receipt
from tests.factories import UserFactory, distribution_settings_set

from .orders_helpers import shipped_order

pytestmark = pytest.mark.django_db

URL = "/api/v1/ops/settings/mall/"


def _freeze_days(days: int) -> None:
    distribution_settings_set(freeze_days=days)


def completed_ago(user, operator, age: timedelta) -> Order:
    order = shipped_order(user, operator)
    order_confirm_receipt(user=user, order_no=order.no)
    Order.objects.filter(pk=order.pk).update(completed_at=timezone.now() - age)
    return Order.objects.get(pk=order.pk)


def _refund(client, no, amount_fen=1000):
    return client.post(f"/api/v1/orders/{no}/refunds/", {"amount_fen": amount_fen, "reason": "退货"}, format="json")


def test_default_window_is_the_freeze_period_plus_seven_days(user, user_client, operator):
    _freeze_days(7)
    inside = completed_ago(user, operator, timedelta(days=14) - timedelta(minutes=5))
    outside = completed_ago(user, operator, timedelta(days=14, minutes=5))
    assert _refund(user_client, inside.no).status_code == 201
    res = _refund(user_client, outside.no)
    assert res.status_code == 409, res.json()
    assert res.json()["code"] == "refund_window_closed"
    assert res.json()["extra"]["window_days"] == 14
    assert not Refund.objects.filter(order=outside).exists()
    assert Order.objects.get(pk=outside.pk).status == OrderStatus.COMPLETED


def test_the_default_follows_the_freeze_period(user, user_client, operator):
    _freeze_days(10)
    order = completed_ago(user, operator, timedelta(days=16))
    assert _refund(user_client, order.no).status_code == 201
    _freeze_days(1)
    late = completed_ago(user, operator, timedelta(days=9))
    assert _refund(user_client, late.no).json()["code"] == "refund_window_closed"


def test_the_operator_sets_the_window_through_the_ops_api(user, user_client, operator, operator_client):
    _freeze_days(7)
    got = operator_client.get(URL)
    assert got.status_code == 200, got.json()
    assert got.json()["refund_window_days"] is None
    assert got.json()["refund_window_effective_days"] == 14
    put = operator_client.put(URL, {"refund_window_days": 3}, format="json")
    assert put.status_code == 200, put.json()
    assert (put.json()["refund_window_days"], put.json()["refund_window_effective_days"]) == (3, 3)

    late = completed_ago(user, operator, timedelta(days=3, minutes=5))
    early = completed_ago(user, operator, timedelta(days=3) - timedelta(minutes=5))
    assert _refund(user_client, late.no).json()["code"] == "refund_window_closed"
    assert _refund(user_client, early.no).status_code == 201

    back = operator_client.put(URL, {"refund_window_days": None}, format="json")
    assert back.json()["refund_window_effective_days"] == 14
    assert _refund(user_client, late.no).status_code == 201


@pytest.mark.parametrize("value", [-1, "3", 1.5, True, 3651, [3]])
def test_bad_window_settings_are_refused_and_change_nothing(operator_client, value):
    assert operator_client.put(URL, {"refund_window_days": 5}, format="json").status_code == 200
    res = operator_client.put(URL, {"refund_window_days": value}, format="json")
    assert res.status_code == 400, res.json()
    assert operator_client.get(URL).json()["refund_window_days"] == 5


def test_unknown_settings_are_refused(operator_client):
    res = operator_client.put(URL, {"refund_window_dayz": 5}, format="json")
    assert res.status_code == 400
    assert operator_client.get(URL).json()["refund_window_days"] is None


def test_only_operators_with_the_permission_see_or_change_the_settings(user_client, client_for):
    assert user_client.get(URL).status_code == 403
    assert user_client.put(URL, {"refund_window_days": 1}, format="json").status_code == 403
    staff = UserFactory(is_staff=True)
    staff_client = client_for(staff)
    assert staff_client.put(URL, {"refund_window_days": 1}, format="json").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="change_mallsettings"))
    assert client_for(staff).put(URL, {"refund_window_days": 1}, format="json").status_code == 200


def test_operators_can_still_refund_by_hand_after_the_window(user, user_client, operator, operator_client,
                                                              client_for):
    _freeze_days(7)
    order = completed_ago(user, operator, timedelta(days=60))
    assert _refund(user_client, order.no).json()["code"] == "refund_window_closed"
    made = operator_client.post(f"/api/v1/ops/orders/{order.no}/refunds/",
                                {"amount_fen": 3000, "reason": "售后特批"}, format="json")
    assert made.status_code == 201, made.json()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDING
    checker = client_for(UserFactory(is_staff=True, is_superuser=True))
    assert checker.post(f"/api/v1/ops/refunds/{made.json()['id']}/approve/", {}, format="json").status_code == 200
    assert Refund.objects.get(pk=made.json()["id"]).status == RefundStatus.APPROVED
    # Over what is left, the operator is refused like anyone.
    more = operator_client.post(f"/api/v1/ops/orders/{order.no}/refunds/", {"amount_fen": 1, "reason": "x"},
                                format="json")
    assert more.status_code == 409
    assert Refund.objects.filter(order=order).count() == 1


def test_orders_not_yet_completed_have_no_window(user, user_client, operator):
    _freeze_days(0)
    order = shipped_order(user, operator)
    Order.objects.filter(pk=order.pk).update(shipped_at=timezone.now() - timedelta(days=9))
    assert _refund(user_client, order.no).status_code == 201
