"""WeChat Pay through wechatpy against the sandbox: order, notification, query, close, faults."""
from __future__ import annotations

import pytest
import requests
from django.conf import settings
from django.db import connection

from core.errors import Conflict
from tests.concurrency import run_at_once
from wechat import services
from wechat.errors import WechatError, WechatTimeout
from wechat.models import PaymentStatus, WechatEvent, WechatPayment
from wechat.pay import sign_valid, to_xml
from wechat.sandbox.models.pay import SandboxPrepay
from wechat.sandbox.pay_views import payment_notification

from .pay_helpers import (
    OPENID,
    SHOPPER_IP,
    arm,
    confirm,
    create_payment,
    jsapi_signed,
    new_no,
    pay_v2_only,
    prepay_for,
)


def test_order_confirm_notification_pays_once_and_runs_the_hook_once(wechat_sandbox, payment_hook):
    payment, params = create_payment(amount_fen=1990)

    assert payment.status == PaymentStatus.PREPAID
    assert params["prepay_id"] == payment.prepay_id
    jsapi = params["jsapi"]
    assert jsapi["package"] == f"prepay_id={payment.prepay_id}"
    assert jsapi["signType"] == ("RSA" if settings.WECHAT_PAY_API == "v3" else "MD5")
    assert jsapi_signed(jsapi)
    assert not jsapi_signed(dict(jsapi, package="prepay_id=wx-another"))
    assert payment.api == settings.WECHAT_PAY_API
    prepay = prepay_for(payment)
    assert (prepay.total_fee, prepay.openid, prepay.spbill_create_ip) == (1990, OPENID, SHOPPER_IP)
    assert len(payment_hook) == 0

    answer = confirm(wechat_sandbox, payment.prepay_id)

    assert answer["return_code"] == "SUCCESS"
    assert answer["notifications"][0]["status_code"] == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.transaction_id == answer["transaction_id"]
    assert payment.paid_at is not None
    assert len(payment_hook) == 1
    call = payment_hook.items[0]
    assert call["obj"].out_trade_no == payment.out_trade_no
    assert call["status"] == PaymentStatus.PAID
    assert call["in_atomic"], "the hook must run inside the transaction that marks the payment paid"
    statuses = list(WechatEvent.objects.filter(subject_type="payment", subject_id=payment.pk, kind="status")
                    .values_list("from_status", "to_status"))
    assert statuses == [("created", "prepaid"), ("prepaid", "paid")]

    # WeChat sends the notification again: answered SUCCESS, acted on once.
    again = confirm(wechat_sandbox, payment.prepay_id)
    assert again["return_code"] == "SUCCESS"
    payment.refresh_from_db()
    assert payment.notify_count == 2
    assert len(payment_hook) == 1


def test_payment_create_is_idempotent_by_out_trade_no(wechat_sandbox):
    out_trade_no = new_no()
    first, params1 = create_payment(amount_fen=500, out_trade_no=out_trade_no)
    second, params2 = create_payment(amount_fen=500, out_trade_no=out_trade_no)

    assert first.pk == second.pk
    assert params1["prepay_id"] == params2["prepay_id"]
    assert SandboxPrepay.objects.filter(out_trade_no=out_trade_no).count() == 1

    with pytest.raises(Conflict) as exc:
        create_payment(amount_fen=501, out_trade_no=out_trade_no)
    assert exc.value.code == "out_trade_no_reused"
    assert WechatPayment.objects.get(out_trade_no=out_trade_no).amount_fen == 500


def test_bad_input_is_refused_before_wechat_is_called(wechat_sandbox):
    for kwargs, code in [({"amount_fen": 0}, "amount_too_small"), ({"amount_fen": -5}, "amount_too_small"),
                         ({"out_trade_no": "has space"}, "invalid"), ({"out_trade_no": "x" * 33}, "invalid")]:
        with pytest.raises(Exception) as exc:
            create_payment(**kwargs)
        assert exc.value.code == code
    assert WechatPayment.objects.count() == 0
    assert SandboxPrepay.objects.count() == 0


def test_duplicate_notify_fault_acts_once(wechat_sandbox, payment_hook):
    payment, _ = create_payment()
    arm(wechat_sandbox, "pay.notify", "duplicate_notify")

    answer = confirm(wechat_sandbox, payment.prepay_id)

    codes = [n["return_code"] for n in answer["notifications"]]
    assert len(codes) > 1
    if connection.vendor == "postgresql":
        assert set(codes) == {"SUCCESS"}
    else:
        # SQLite's shared in-memory test database refuses concurrent writers ("table is locked")
        # instead of making them wait: those copies get FAIL (HTTP 500) and WeChat would retry.
        assert "SUCCESS" in codes and set(codes) <= {"SUCCESS", "FAIL"}
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.notify_count == codes.count("SUCCESS")
    assert len(payment_hook) == 1
    assert WechatEvent.objects.filter(subject_id=payment.pk, to_status="paid").count() == 1


@pytest.mark.postgres
def test_twenty_concurrent_identical_notifications_act_once(wechat_sandbox, payment_hook):
    payment, _ = create_payment(amount_fen=888)
    fields = payment_notification(prepay_for(payment), transaction_id="4200000000202401011234567890",
                                  time_end="20240101120000")
    body = to_xml(fields, signed=False).encode()
    url = f"{wechat_sandbox.url}/api/v1/wechat/pay/notify/"
    results = run_at_once(lambda i: requests.post(url, data=body, headers={"Content-Type": "text/xml"},
                                                  timeout=30).status_code, 20, domain_errors=False)

    assert results == [200] * 20
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert payment.transaction_id == "4200000000202401011234567890"
    assert payment.notify_count == 20
    assert len(payment_hook) == 1
    assert WechatEvent.objects.filter(subject_id=payment.pk, to_status="paid").count() == 1


def test_order_query_reconciles_a_lost_notification(wechat_sandbox, payment_hook):
    payment, _ = create_payment()
    arm(wechat_sandbox, "pay.notify", "bad_signature")  # the notification never gets through
    answer = confirm(wechat_sandbox, payment.prepay_id)
    assert answer["return_code"] == "FAIL"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PREPAID
    assert len(payment_hook) == 0

    payment = services.payment_query(out_trade_no=payment.out_trade_no)

    assert payment.status == PaymentStatus.PAID
    assert payment.transaction_id == answer["transaction_id"]
    assert len(payment_hook) == 1
    assert WechatEvent.objects.get(subject_id=payment.pk, to_status="paid").source == "query"


def test_order_query_of_an_unpaid_order_changes_nothing(wechat_sandbox, payment_hook):
    payment, _ = create_payment()
    payment = services.payment_query(out_trade_no=payment.out_trade_no)
    assert payment.status == PaymentStatus.PREPAID
    assert len(payment_hook) == 0


def test_order_query_fail_fault_raises_with_err_code(wechat_sandbox, payment_hook):
    payment, _ = create_payment()
    arm(wechat_sandbox, "pay.orderquery", "fail", err_code="SYSTEMERROR")
    with pytest.raises(WechatError) as exc:
        services.payment_query(out_trade_no=payment.out_trade_no)
    assert exc.value.code == "wechat_system_error"
    assert exc.value.extra["err_code"] == "SYSTEMERROR"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PREPAID


def test_close_then_the_order_cannot_be_paid(wechat_sandbox, payment_hook):
    payment, _ = create_payment()

    payment = services.payment_close(out_trade_no=payment.out_trade_no)

    assert payment.status == PaymentStatus.CLOSED
    assert prepay_for(payment).trade_state == "CLOSED"
    res = requests.post(f"{wechat_sandbox.url}/wechat-sandbox/pay/{payment.prepay_id}/confirm/", timeout=10)
    assert res.status_code == 409
    with pytest.raises(Conflict) as exc:
        create_payment(out_trade_no=payment.out_trade_no)
    assert exc.value.code == "payment_not_payable"
    assert len(payment_hook) == 0


def test_close_of_an_order_paid_at_wechat_is_refused_and_reconciled(wechat_sandbox, payment_hook):
    payment, _ = create_payment()
    arm(wechat_sandbox, "pay.notify", "bad_signature")
    confirm(wechat_sandbox, payment.prepay_id)

    with pytest.raises(WechatError) as exc:
        services.payment_close(out_trade_no=payment.out_trade_no)

    assert exc.value.code == "order_already_paid"
    assert exc.value.extra["err_code"] == "ORDERPAID"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert len(payment_hook) == 1


def test_response_signed_with_a_wrong_key_is_refused(wechat_sandbox, caplog):
    out_trade_no = new_no()
    arm(wechat_sandbox, "pay.unifiedorder", "bad_signature")

    with pytest.raises(WechatError) as exc:
        create_payment(out_trade_no=out_trade_no)

    assert exc.value.code == "invalid_signature"
    payment = WechatPayment.objects.get(out_trade_no=out_trade_no)
    assert payment.status == PaymentStatus.CREATED
    assert payment.prepay_id == ""
    assert "bad or missing signature" in caplog.text

    # The sandbox did create the order; a retry with the same number gets the same prepay_id.
    payment, params = create_payment(out_trade_no=out_trade_no)
    assert payment.status == PaymentStatus.PREPAID
    assert params["prepay_id"] == SandboxPrepay.objects.get(out_trade_no=out_trade_no).prepay_id


def test_timeout_becomes_wechat_timeout(wechat_sandbox, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.3
    out_trade_no = new_no()
    arm(wechat_sandbox, "pay.unifiedorder", "timeout")

    with pytest.raises(WechatTimeout) as exc:
        create_payment(out_trade_no=out_trade_no)

    assert exc.value.code == "wechat_timeout"
    payment = WechatPayment.objects.get(out_trade_no=out_trade_no)
    assert payment.status == PaymentStatus.CREATED
    assert payment.error_code == "wechat_timeout"


def test_fail_fault_becomes_wechat_error_with_err_code(wechat_sandbox):
    out_trade_no = new_no()
    arm(wechat_sandbox, "pay.unifiedorder", "fail", err_code="SYSTEMERROR")

    with pytest.raises(WechatError) as exc:
        create_payment(out_trade_no=out_trade_no)

    assert exc.value.extra["err_code"] == "SYSTEMERROR"
    assert exc.value.extra["retryable"] is True
    payment = WechatPayment.objects.get(out_trade_no=out_trade_no)
    assert payment.status == PaymentStatus.CREATED  # retryable: not failed
    assert SandboxPrepay.objects.filter(out_trade_no=out_trade_no).count() == 0


def test_definite_refusal_marks_the_payment_failed(wechat_sandbox):
    out_trade_no = new_no()
    arm(wechat_sandbox, "pay.unifiedorder", "fail", err_code="PARAM_ERROR")
    with pytest.raises(WechatError) as exc:
        create_payment(out_trade_no=out_trade_no)
    assert exc.value.code == "wechat_param_error"
    assert WechatPayment.objects.get(out_trade_no=out_trade_no).status == PaymentStatus.FAILED


def test_http_error_becomes_wechat_error(wechat_sandbox):
    arm(wechat_sandbox, "pay.unifiedorder", "http_error")
    with pytest.raises(WechatError) as exc:
        create_payment()
    assert exc.value.code == "wechat_http_error"
    assert exc.value.extra["http_status"] == 500


@pay_v2_only
def test_sandbox_refuses_a_request_signed_with_the_wrong_key(wechat_sandbox, settings):
    fields = {"appid": settings.WECHAT_APPID, "mch_id": settings.WECHAT_MCH_ID, "nonce_str": "abc",
              "out_trade_no": new_no()}
    res = requests.post(f"{wechat_sandbox.url}/wechat-sandbox/mch/pay/orderquery",
                        data=to_xml(fields, api_key="not-the-merchant-key").encode(), timeout=5)
    assert "<return_code>FAIL</return_code>" in res.text or "CDATA[FAIL]" in res.text
    assert "签名错误" in res.text

    good = requests.post(f"{wechat_sandbox.url}/wechat-sandbox/mch/pay/orderquery",
                         data=to_xml(fields).encode(), timeout=5)
    from wechat.pay import parse_xml

    answer = parse_xml(good.content)
    assert answer["return_code"] == "SUCCESS"
    assert answer["err_code"] == "ORDERNOTEXIST"
    assert sign_valid(answer)


def test_faults_endpoint_validates_and_clears(wechat_sandbox):
    url = f"{wechat_sandbox.url}/wechat-sandbox/faults/"
    assert requests.post(url, json={"endpoint": "pay.unifiedorder", "mode": "explode"}, timeout=5).status_code == 400
    assert requests.post(url, json={"mode": "fail"}, timeout=5).status_code == 400
    arm(wechat_sandbox, "pay.unifiedorder", "fail")
    assert requests.delete(url, timeout=5).status_code == 200
    payment, _ = create_payment()  # the cleared fault no longer fires
    assert payment.status == PaymentStatus.PREPAID


@pay_v2_only  # APIv3 notifies successful payments only
def test_notification_for_a_failed_payment_is_acknowledged_and_changes_nothing(wechat_sandbox, payment_hook):
    payment, _ = create_payment()
    arm(wechat_sandbox, "pay.notify", "fail", err_code="PAYERROR")
    answer = confirm(wechat_sandbox, payment.prepay_id)
    assert answer["return_code"] == "SUCCESS"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PREPAID
    assert len(payment_hook) == 0


def test_hook_failure_rolls_back_and_wechat_retries(wechat_sandbox):
    from wechat import hooks

    calls = []

    def broken(payment):
        calls.append(payment.pk)
        raise RuntimeError("boom")

    hooks.register_payment_handler("test.broken", broken)
    try:
        payment, _ = services.payment_create(out_trade_no=new_no(), purpose="test.broken", ref="1", amount_fen=100,
                                             openid=OPENID, description="x", client_ip=SHOPPER_IP)
        answer = confirm(wechat_sandbox, payment.prepay_id)
    finally:
        hooks.unregister_payment_handler("test.broken", broken)
    assert answer["return_code"] == "FAIL"
    assert answer["notifications"][0]["status_code"] == 500
    assert len(calls) == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PREPAID
    assert payment.notify_count == 0  # rolled back with the rest


def test_admin_lists_wechat_records_read_only(client, operator):
    client.force_login(operator)
    for model in ("wechatpayment", "wechatrefund", "wechattransfer", "wechatredpack", "wechatevent"):
        assert client.get(f"/admin/wechat/{model}/").status_code == 200, model
        assert client.get(f"/admin/wechat/{model}/add/").status_code == 403, model
