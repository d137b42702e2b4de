"""Paying orders through the WeChat sandbox over real HTTP: exactly once, forged notices refused,
lost notices recovered, expired orders closed, money paid after close given back."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from ledger.models import Account, LedgerTransaction
from mall.models import Order, OrderStatus, Product, Refund, RefundStatus, Sku
from tests.concurrency import run_at_once
from wechat.models import PaymentStatus, WechatPayment
from wechat.pay import to_xml
from wechat.sandbox.models import SandboxPrepay
from wechat.sandbox.pay_views import WRONG_KEY, payment_notification

from .orders_helpers import make_sku, pay, place, sandbox_confirm, sandbox_fault, sandbox_refund_confirm


def _cash() -> int:
    return Account.objects.filter(kind="platform_cash").aggregate(total=Sum("balance_fen"))["total"] or 0


def _notify(base_url: str, fields: dict) -> requests.Response:
    return requests.post(
        f"{base_url}/api/v1/wechat/pay/notify/",
        data=to_xml(fields, signed=False).encode(),
        headers={"Content-Type": "text/xml"},
        timeout=30,
    )


def test_pay_then_notification_marks_the_order_paid_once(wechat_sandbox, user_client, moments):
    sku = make_sku(price_fen=2500, stock=5)
    no = place(user_client, sku, 2)
    params = pay(user_client, no)
    assert params["prepay_id"]
    assert params["jsapi"]["package"] == f"prepay_id={params['prepay_id']}"
    assert set(params["jsapi"]) >= {"appId", "timeStamp", "nonceStr", "signType", "paySign"}
    assert pay(user_client, no)["prepay_id"] == params["prepay_id"]  # paying again resumes the same prepay

    answer = sandbox_confirm(wechat_sandbox.url, params["prepay_id"])
    assert answer["return_code"] == "SUCCESS"

    order = Order.objects.get(no=no)
    assert order.status == OrderStatus.PAID
    assert order.paid_fen == 5000
    assert order.wechat_transaction_id == answer["transaction_id"]
    assert LedgerTransaction.objects.filter(kind="mall.payment", cause_id=no).count() == 1
    assert _cash() == 5000
    assert moments == [("paid", no)]
    assert Product.objects.get(pk=sku.product_id).sold_count == 2
    assert user_client.get(f"/api/v1/orders/{no}/").json()["status"] == "paid"
    assert user_client.post(f"/api/v1/orders/{no}/pay/").json()["code"] == "order_not_payable"


@pytest.mark.postgres
def test_same_notification_20_times_at_once_and_again_later(wechat_sandbox, user_client, moments):
    sku = make_sku(price_fen=990, stock=5)
    no = place(user_client, sku)
    prepay_id = pay(user_client, no)["prepay_id"]
    sandbox_fault(wechat_sandbox.url, "pay.notify", "duplicate_notify")
    sandbox_confirm(wechat_sandbox.url, prepay_id)  # several copies at once from the sandbox
    fields = payment_notification(SandboxPrepay.objects.get(prepay_id=prepay_id))

    answers = run_at_once(lambda i: _notify(wechat_sandbox.url, fields).status_code, 20, domain_errors=False)
    assert answers == [200] * 20
    later = _notify(wechat_sandbox.url, payment_notification(SandboxPrepay.objects.get(prepay_id=prepay_id)))
    assert later.status_code == 200 and b"SUCCESS" in later.content

    assert Order.objects.get(no=no).status == OrderStatus.PAID
    assert WechatPayment.objects.filter(out_trade_no=no, status=PaymentStatus.PAID).count() == 1
    assert LedgerTransaction.objects.filter(kind="mall.payment", cause_id=no).count() == 1
    assert _cash() == 990
    assert moments == [("paid", no)]


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda f: {**f, "total_fee": 1}, id="amount-changed-after-signing"),
        pytest.param(lambda f: payment_notification(f["_prepay"], total_fee=1, cash_fee=1), id="signed-wrong-amount"),
        pytest.param(lambda f: payment_notification(f["_prepay"], api_key=WRONG_KEY), id="wrong-key"),
        pytest.param(lambda f: {k: v for k, v in f.items() if k != "sign"}, id="unsigned"),
        pytest.param(lambda f: payment_notification(f["_prepay"], out_trade_no="2611230000000000"), id="unknown-order"),
        pytest.param(lambda f: payment_notification(f["_prepay"], mch_id="1234567890"), id="other-merchant"),
        pytest.param(lambda f: payment_notification(f["_prepay"], appid="wxother"), id="other-app"),
    ],
)
def test_forged_notifications_are_refused_and_change_nothing(wechat_sandbox, user_client, moments, forge, caplog):
    sku = make_sku(price_fen=3000, stock=5)
    no = place(user_client, sku)
    prepay_id = pay(user_client, no)["prepay_id"]
    # The shopper has paid at WeChat, but only the forged notification reaches us.
    SandboxPrepay.objects.filter(prepay_id=prepay_id).update(
        trade_state="SUCCESS", transaction_id="4200000000202611230000000001", time_end="20261123120000"
    )
    prepay = SandboxPrepay.objects.get(prepay_id=prepay_id)
    genuine = payment_notification(prepay)
    forged = forge({**genuine, "_prepay": prepay})
    forged.pop("_prepay", None)

    res = _notify(wechat_sandbox.url, forged)
    assert res.status_code == 400
    assert b"FAIL" in res.content
    order = Order.objects.get(no=no)
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.paid_fen == 0
    assert not LedgerTransaction.objects.filter(kind="mall.payment").exists()
    assert moments == []
    assert any("refused" in r.getMessage() for r in caplog.records)


def test_lost_notification_is_recovered_by_the_query_job(wechat_sandbox, user_client, moments, settings):
    settings.MALL_PAYMENT_QUERY_AFTER_MINUTES = 0
    sku = make_sku(price_fen=1200, stock=5)
    no = place(user_client, sku)
    prepay_id = pay(user_client, no)["prepay_id"]
    sandbox_fault(wechat_sandbox.url, "pay.notify", "bad_signature")  # the one notification never gets through
    sandbox_confirm(wechat_sandbox.url, prepay_id)
    assert Order.objects.get(no=no).status == OrderStatus.PENDING_PAYMENT

    call_command("run_job", "mall.reconcile_payments")
    order = Order.objects.get(no=no)
    assert order.status == OrderStatus.PAID
    assert order.paid_fen == 1200
    call_command("run_job", "mall.reconcile_payments")  # again: nothing more happens
    assert LedgerTransaction.objects.filter(kind="mall.payment", cause_id=no).count() == 1
    assert moments == [("paid", no)]


def test_expired_orders_close_return_stock_and_close_the_wechat_order(wechat_sandbox, user_client, moments):
    sku = make_sku(price_fen=800, stock=5)
    with_payment = place(user_client, sku, 2)
    prepay_id = pay(user_client, with_payment)["prepay_id"]
    without_payment = place(user_client, sku, 1)
    fresh = place(user_client, sku, 1)
    Order.objects.filter(no__in=[with_payment, without_payment]).update(
        pay_deadline=timezone.now() - timedelta(minutes=1), created_at=timezone.now() - timedelta(minutes=31)
    )
    assert Sku.objects.get(pk=sku.pk).stock == 1

    call_command("run_job", "mall.reconcile_payments")

    assert Order.objects.get(no=with_payment).status == OrderStatus.CLOSED
    assert Order.objects.get(no=without_payment).status == OrderStatus.CLOSED
    assert Order.objects.get(no=fresh).status == OrderStatus.PENDING_PAYMENT
    assert Sku.objects.get(pk=sku.pk).stock == 4
    assert WechatPayment.objects.get(out_trade_no=with_payment).status == PaymentStatus.CLOSED
    assert SandboxPrepay.objects.get(prepay_id=prepay_id).trade_state == "CLOSED"
    assert sorted(moments) == sorted([("closed", with_payment), ("closed", without_payment)])
    # The shopper can no longer pay the closed order at WeChat.
    assert sandbox_confirm(wechat_sandbox.url, prepay_id)["error"] == "ORDERCLOSED"
    assert not LedgerTransaction.objects.exists()


def test_money_paid_after_the_order_closed_is_refunded_automatically(wechat_sandbox, user_client, moments):
    sku = make_sku(price_fen=1500, stock=5)
    no = place(user_client, sku)
    prepay_id = pay(user_client, no)["prepay_id"]
    sandbox_fault(wechat_sandbox.url, "pay.closeorder", "http_error")  # closing at WeChat fails...
    assert user_client.post(f"/api/v1/orders/{no}/cancel/").status_code == 200
    answer = sandbox_confirm(wechat_sandbox.url, prepay_id)  # ...and the shopper pays anyway
    assert answer["return_code"] == "SUCCESS"

    order = Order.objects.get(no=no)
    assert order.status == OrderStatus.CLOSED
    assert order.paid_fen == 1500
    refund = Refund.objects.get(order=order)
    assert (refund.amount_fen, refund.status) == (1500, RefundStatus.APPROVED)
    assert _cash() == 1500  # the money is on the books while it is being returned

    sandbox_refund_confirm(wechat_sandbox.url, refund.no)
    refund.refresh_from_db()
    order.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert order.refunded_fen == 1500
    assert order.status == OrderStatus.CLOSED
    assert _cash() == 0
    assert ("paid", no) not in moments
    assert Sku.objects.get(pk=sku.pk).stock == 5


def test_expired_order_whose_unified_order_timed_out_still_closes(wechat_sandbox, user_client, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.5
    sku = make_sku(price_fen=800, stock=5)
    no = place(user_client, sku)
    sandbox_fault(wechat_sandbox.url, "pay.unifiedorder", "timeout")
    res = user_client.post(f"/api/v1/orders/{no}/pay/")
    assert res.status_code == 504
    assert res.json()["code"] == "wechat_timeout"
    assert Order.objects.get(no=no).status == OrderStatus.PENDING_PAYMENT
    Order.objects.filter(no=no).update(pay_deadline=timezone.now() - timedelta(seconds=1))
    call_command("run_job", "mall.reconcile_payments")
    assert Order.objects.get(no=no).status == OrderStatus.CLOSED
    assert WechatPayment.objects.get(out_trade_no=no).status == PaymentStatus.CLOSED
    assert Sku.objects.get(pk=sku.pk).stock == 5
