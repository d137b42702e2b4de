"""WeChat Pay APIv3 payments and refunds (WECHAT_PAY_API=v3) against the sandbox over real HTTP:
request signatures, answer signatures, callbacks (signature, freshness, decryption, content),
both ways of trusting WeChat's key, refunds, and the mall and crowdfunds on v3.

The rest of the pay tests (test_pay_flows, test_pay_notify, test_pay_payouts, test_pay_uncertain,
the mall and campaign payment tests) also run under WECHAT_PAY_API=v3 (`make test`)."""
from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from campaigns.models import CampaignRefund, CampaignRefundStatus, ContributionStatus
from ledger.models import LedgerTransaction
from mall.models import Order, OrderStatus, Refund
from mall.models import RefundStatus as MallRefundStatus
from tests.campaigns.crowdfund_helpers import assert_money_accounted, chip_in, confirm_refunds, sandbox_pay, start
from tests.factories import UserFactory
from tests.mall.orders_helpers import make_sku, pay, place, sandbox_confirm, sandbox_refund_confirm
from wechat import pay_v3, services, v3
from wechat.errors import WechatError
from wechat.models import PaymentStatus, RefundStatus, WechatEvent, WechatPayment, WechatRefund
from wechat.sandbox.models.pay import SandboxPrepay, SandboxRefund
from wechat.sandbox.v3 import (
    platform_public_key_id,
    platform_public_key_pem,
    platform_serial,
    rfc3339,
    wrong_private_key,
)
from wechat.sandbox.v3_pay_views import refund_callback_resource, transaction_resource
from wechat.services import _wechat_time

from .pay_helpers import (
    PAY_NOTIFY,
    REFUND_NOTIFY,
    arm,
    callback_tampered,
    confirm,
    confirm_refund,
    create_payment,
    jsapi_signed,
    new_no,
    pay_callback_body,
    post_v3,
    prepay_for,
    refund_for,
    v3_headers,
)

TX = "4200000000202401019999999999"
ANOTHER_APIV3_KEY = b"another0apiv30key0another0apiv3k"


@pytest.fixture(autouse=True)
def _v3(settings):
    settings.WECHAT_PAY_API = "v3"
    v3.certificates_forget()
    yield
    v3.certificates_forget()


def _paid_resource(prepay: SandboxPrepay, **overrides) -> dict:
    """What WeChat's TRANSACTION.SUCCESS for `prepay` would carry once paid."""
    return transaction_resource(prepay, **{
        "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "transaction_id": TX, "bank_type": "OTHERS",
        "success_time": "2024-01-01T12:00:00+08:00",
        "amount": {"total": prepay.total_fee, "payer_total": prepay.total_fee, "currency": "CNY",
                   "payer_currency": "CNY"},
        **overrides,
    })


# --- requests and answers ----------------------------------------------------------------------

def test_order_is_an_apiv3_order_and_its_jsapi_params_are_rsa_signed(wechat_sandbox, payment_hook):
    payment, params = create_payment(amount_fen=1990)

    assert (payment.api, payment.status) == ("v3", PaymentStatus.PREPAID)
    prepay = prepay_for(payment)
    assert (prepay.api, prepay.total_fee, prepay.trade_type, prepay.spbill_create_ip) == ("v3", 1990, "JSAPI",
                                                                                           "203.0.113.7")
    assert prepay.notify_url.endswith(PAY_NOTIFY)
    jsapi = params["jsapi"]
    assert (jsapi["signType"], jsapi["package"]) == ("RSA", f"prepay_id={payment.prepay_id}")
    assert jsapi_signed(jsapi)
    message = f"{jsapi['appId']}\n{jsapi['timeStamp']}\n{jsapi['nonceStr']}\n{jsapi['package']}\n"
    assert v3.rsa_verify(v3.merchant_public_key(), message, jsapi["paySign"])
    assert not v3.rsa_verify(v3.merchant_public_key(), message.replace(payment.prepay_id, "wx0"), jsapi["paySign"])
    assert not v3.rsa_verify(wrong_private_key().public_key(), message, jsapi["paySign"])

    answer = confirm(wechat_sandbox, payment.prepay_id)

    assert answer["return_code"] == "SUCCESS"
    assert answer["notifications"][0]["status_code"] == 200
    assert json.loads(answer["notifications"][0]["body"])["code"] == "SUCCESS"
    payment.refresh_from_db()
    assert (payment.status, payment.transaction_id) == (PaymentStatus.PAID, answer["transaction_id"])
    assert payment.paid_at is not None and abs((payment.paid_at - datetime.now(UTC)).total_seconds()) < 120
    assert len(payment_hook) == 1 and payment_hook.items[0]["in_atomic"]

    # query (by our number, and WeChat's by its), and close (WeChat refuses to close a paid order: ORDERPAID)
    assert services.payment_query(out_trade_no=payment.out_trade_no).status == PaymentStatus.PAID
    _, by_id = v3.call("test", "GET", f"/v3/pay/transactions/id/{payment.transaction_id}",
                       query={"mchid": prepay.mch_id})
    assert (by_id["out_trade_no"], by_id["trade_state"], by_id["amount"]["total"]) == (payment.out_trade_no,
                                                                                       "SUCCESS", 1990)
    assert by_id["success_time"].endswith("+08:00")
    with pytest.raises(WechatError) as exc:
        pay_v3.pay_order_close(out_trade_no=payment.out_trade_no)
    assert (exc.value.code, exc.value.extra["err_code"], exc.value.extra["v3_code"]) == (
        "order_already_paid", "ORDERPAID", "ORDERPAID")
    assert len(payment_hook) == 1


def test_close_answers_204_and_the_order_cannot_be_paid(wechat_sandbox, payment_hook):
    payment, _ = create_payment()
    payment = services.payment_close(out_trade_no=payment.out_trade_no)
    assert payment.status == PaymentStatus.CLOSED
    assert prepay_for(payment).trade_state == "CLOSED"
    assert services.payment_close(out_trade_no=payment.out_trade_no).status == PaymentStatus.CLOSED
    res = requests.post(f"{wechat_sandbox.url}/wechat-sandbox/pay/{payment.prepay_id}/confirm/", timeout=10)
    assert res.status_code == 409
    assert services.payment_query(out_trade_no=payment.out_trade_no).status == PaymentStatus.CLOSED
    assert len(payment_hook) == 0


def _get(server, path: str, auth: str) -> requests.Response:
    return requests.get(f"{server.url}/wechat-sandbox{path}", headers={"Authorization": auth} if auth else {},
                        timeout=10)


def test_sandbox_refuses_requests_not_signed_by_the_merchant_with_a_signed_clear_error(wechat_sandbox, settings):
    path = f"/v3/pay/transactions/out-trade-no/{new_no()}?mchid={settings.WECHAT_MCH_ID}"
    mch, serial, key = settings.WECHAT_MCH_ID, v3.merchant_serial(), v3.merchant_private_key()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    old = str(int(time.time()) - 600)
    cases = [
        ("signed with another key", v3.authorization("GET", path, "", mchid=mch, serial=serial, key=stranger),
         "签名错误"),
        ("signed for another path", v3.authorization("GET", path + "0", "", mchid=mch, serial=serial, key=key),
         "签名错误"),
        ("ten minutes old", v3.authorization("GET", path, "", mchid=mch, serial=serial, key=key, timestamp=old),
         "请求时间戳过期"),
        ("another merchant", v3.authorization("GET", path, "", mchid="1999999999", serial=serial, key=key),
         "商户号不匹配"),
        ("another certificate", v3.authorization("GET", path, "", mchid=mch, serial="0" * 40, key=key),
         "商户证书序列号不匹配"),
        ("no Authorization", "", "Authorization 头缺失或格式错误"),
        ("v2-style", "MD5 sign=abc", "Authorization 头缺失或格式错误"),
    ]
    for name, auth, message in cases:
        res = _get(wechat_sandbox, path, auth)
        assert res.status_code == 401, name
        assert res.json() == {"code": "SIGN_ERROR", "message": message}, name
        assert v3.signature_valid(res.headers, res.content), f"{name}: the error answer is signed too"

    good = _get(wechat_sandbox, path, v3.authorization("GET", path, "", mchid=mch, serial=serial, key=key))
    assert (good.status_code, good.json()["code"]) == (404, "ORDER_NOT_EXIST")


def test_a_sign_error_answer_becomes_a_clear_error_and_the_payment_fails(wechat_sandbox):
    out_trade_no = new_no()
    arm(wechat_sandbox, "pay.unifiedorder", "fail", err_code="SIGN_ERROR")
    with pytest.raises(WechatError) as exc:
        create_payment(out_trade_no=out_trade_no)
    assert exc.value.code == "wechat_sign_error"
    assert (exc.value.extra["v3_code"], exc.value.extra["http_status"]) == ("SIGN_ERROR", 401)
    assert "SIGN_ERROR" in exc.value.message
    payment = WechatPayment.objects.get(out_trade_no=out_trade_no)
    assert (payment.status, payment.error_code) == (PaymentStatus.FAILED, "SIGNERROR")
    assert not SandboxPrepay.objects.filter(out_trade_no=out_trade_no).exists()


def test_answers_with_a_bad_signature_are_not_believed(wechat_sandbox, payment_hook, caplog):
    out_trade_no = new_no()
    arm(wechat_sandbox, "pay.unifiedorder", "bad_signature")
    with pytest.raises(WechatError) as exc:
        create_payment(out_trade_no=out_trade_no)
    assert exc.value.code == "invalid_signature"
    assert "bad or missing signature" in caplog.text
    payment = WechatPayment.objects.get(out_trade_no=out_trade_no)
    assert (payment.status, payment.prepay_id, payment.error_code) == (PaymentStatus.CREATED, "", "invalid_signature")
    assert services._uncertain(exc.value)  # the order may exist at WeChat: the same number is sent again
    payment, params = create_payment(out_trade_no=out_trade_no)
    assert params["prepay_id"] == SandboxPrepay.objects.get(out_trade_no=out_trade_no).prepay_id

    # a paid order whose query answer is forged: nothing believed
    arm(wechat_sandbox, "pay.notify", "bad_signature")
    confirm(wechat_sandbox, payment.prepay_id)
    arm(wechat_sandbox, "pay.orderquery", "bad_signature")
    with pytest.raises(WechatError) as exc:
        services.payment_query(out_trade_no=out_trade_no)
    assert exc.value.code == "invalid_signature"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PREPAID and len(payment_hook) == 0
    assert services.payment_query(out_trade_no=out_trade_no).status == PaymentStatus.PAID
    assert len(payment_hook) == 1


def test_an_unsigned_server_error_page_is_an_http_error(wechat_sandbox):
    arm(wechat_sandbox, "pay.unifiedorder", "http_error")
    with pytest.raises(WechatError) as exc:
        create_payment()
    assert (exc.value.code, exc.value.extra["http_status"]) == ("wechat_http_error", 500)


def test_sandbox_checks_the_order_like_wechat(wechat_sandbox, settings):
    def order(**over):
        payload = {"appid": settings.WECHAT_APPID, "mchid": settings.WECHAT_MCH_ID, "description": "x",
                   "out_trade_no": no, "notify_url": "https://example.com/n", "amount": {"total": 100,
                                                                                       "currency": "CNY"},
                   "payer": {"openid": "o-1"}, **over}
        return v3.call("test", "POST", "/v3/pay/transactions/jsapi", payload=payload)

    no = new_no()
    for over, code in [({"appid": "wx0ther"}, "INVALID_REQUEST"), ({"mchid": "1999999999"}, "INVALID_REQUEST"),
                       ({"payer": {}}, "PARAM_ERROR"), ({"amount": {"total": 0}}, "PARAM_ERROR"),
                       ({"amount": {"total": "100"}}, "PARAM_ERROR"), ({"amount": {"total": 1, "currency": "USD"}},
                                                                        "PARAM_ERROR"),
                       ({"description": ""}, "PARAM_ERROR")]:
        with pytest.raises(WechatError) as exc:
            order(**over)
        assert exc.value.extra["v3_code"] == code, over
    assert not SandboxPrepay.objects.exists()
    status, first = order()
    assert status == 200 and first["prepay_id"].startswith("wx")
    assert order()[1] == first  # the same order again: the same prepay_id
    with pytest.raises(WechatError) as exc:
        order(amount={"total": 101, "currency": "CNY"})
    assert exc.value.extra["v3_code"] == "OUT_TRADE_NO_USED"
    with pytest.raises(WechatError) as exc:
        v3.call("test", "GET", f"/v3/pay/transactions/out-trade-no/{no}", query={"mchid": "1999999999"})
    assert exc.value.extra["v3_code"] == "INVALID_REQUEST"
    assert SandboxPrepay.objects.get().total_fee == 100


# --- payment callbacks -------------------------------------------------------------------------

def _forged_payment_callbacks(prepay) -> list[tuple[str, bytes, dict | None, int, str]]:
    """(name, body, headers (None: signed now by WeChat's key), HTTP status, code)."""
    good = pay_callback_body(_paid_resource(prepay))
    now = int(time.time())
    tampered = callback_tampered(good)
    unsigned = {k: v for k, v in v3_headers(good).items() if k != "Wechatpay-Signature"}
    body = lambda **over: pay_callback_body(_paid_resource(prepay, **over))  # noqa: E731
    return [
        ("unsigned", good, unsigned, 400, "invalid_signature"),
        ("signed with another key", good, v3_headers(good, key=wrong_private_key()), 400, "invalid_signature"),
        ("a replay 6 minutes later", good, v3_headers(good, timestamp=now - 360), 400, "invalid_signature"),
        ("from the future", good, v3_headers(good, timestamp=now + 360), 400, "invalid_signature"),
        ("a key we do not know", good, v3_headers(good, serial="5157F09EFDC096DE15EBE81A47057A72" + "00000000"), 400,
         "invalid_signature"),
        ("body changed after signing", good.replace(b'"summary":"', b'"summary":"x'), v3_headers(good), 400,
         "invalid_signature"),
        ("tampered ciphertext", tampered, v3_headers(tampered), 400, "invalid_signature"),
        ("sealed with another APIv3 key", pay_callback_body(_paid_resource(prepay), apiv3_key=ANOTHER_APIV3_KEY),
         None, 400, "invalid_signature"),
        ("wrong amount, signed", body(amount={"total": prepay.total_fee + 1, "currency": "CNY"}), None, 400,
         "amount_mismatch"),
        ("wrong currency, signed", body(amount={"total": prepay.total_fee, "currency": "USD"}), None, 400,
         "amount_mismatch"),
        ("another merchant, signed", body(mchid="1999999999"), None, 400, "merchant_mismatch"),
        ("another app, signed", body(appid="wx0ther0app0000001"), None, 400, "merchant_mismatch"),
        ("unknown out_trade_no, signed", body(out_trade_no="NOT-OURS-123"), None, 400, "unknown_out_trade_no"),
        ("not paid, signed", body(trade_state="NOTPAY"), None, 400, "invalid_notification"),
        ("no transaction_id, signed", body(transaction_id=""), None, 400, "invalid_notification"),
        ("a refund event, signed", pay_callback_body(_paid_resource(prepay), event_type="REFUND.SUCCESS"), None, 400,
         "invalid_notification"),
        ("not JSON, signed", b"out_trade_no=1", None, 400, "invalid_json"),
        ("huge", b'{"a":"' + b"A" * 70_000 + b'"}', None, 413, "payload_too_large"),
    ]


def test_forged_payment_callbacks_are_refused_logged_and_change_nothing(wechat_sandbox, payment_hook, caplog):
    caplog.set_level(logging.WARNING)
    payment, _ = create_payment(amount_fen=2500)
    prepay = prepay_for(payment)
    events = WechatEvent.objects.count()

    for name, body, headers, status, code in _forged_payment_callbacks(prepay):
        caplog.clear()
        res, answer = post_v3(wechat_sandbox, PAY_NOTIFY, body, headers)
        assert res.status_code == status, f"{name}: HTTP {res.status_code} {res.text[:200]}"
        assert answer.get("code") == "FAIL", f"{name}: {res.text[:200]}"
        assert answer["message"].startswith(f"{code}:"), f"{name}: {answer['message']}"
        if status != 413:
            assert code in caplog.text, f"{name}: refusal not logged"
        payment.refresh_from_db()
        assert (payment.status, payment.transaction_id, payment.notify_count) == (PaymentStatus.PREPAID, None, 0), name
        assert len(payment_hook) == 0, name
    assert WechatEvent.objects.count() == events

    # the genuine one works, once; the same callback again (WeChat retries) acts once
    good = pay_callback_body(_paid_resource(prepay))
    headers = v3_headers(good)
    for _ in range(2):
        res, answer = post_v3(wechat_sandbox, PAY_NOTIFY, good, headers)
        assert (res.status_code, answer["code"]) == (200, "SUCCESS")
    payment.refresh_from_db()
    assert (payment.status, payment.transaction_id, payment.notify_count) == (PaymentStatus.PAID, TX, 2)
    assert payment.paid_at == datetime(2024, 1, 1, 4, 0, tzinfo=UTC)
    assert len(payment_hook) == 1
    # ...and replayed after the window, refused
    res, answer = post_v3(wechat_sandbox, PAY_NOTIFY, good, v3_headers(good, timestamp=int(time.time()) - 400))
    assert res.status_code == 400 and answer["message"].startswith("invalid_signature:")
    payment.refresh_from_db()
    assert payment.notify_count == 2


@pytest.mark.postgres
def test_duplicate_callbacks_at_once_act_once(wechat_sandbox, payment_hook):
    payment, _ = create_payment()
    arm(wechat_sandbox, "pay.notify", "duplicate_notify")

    answer = confirm(wechat_sandbox, payment.prepay_id)

    codes = [n["return_code"] for n in answer["notifications"]]
    assert len(codes) == 5 and set(codes) == {"SUCCESS"}
    payment.refresh_from_db()
    assert (payment.status, payment.notify_count) == (PaymentStatus.PAID, 5)
    assert len(payment_hook) == 1
    assert WechatEvent.objects.filter(subject_id=payment.pk, subject_type="payment", to_status="paid").count() == 1


def test_the_sandbox_callback_signed_with_a_wrong_key_is_refused_and_the_query_reconciles(wechat_sandbox,
                                                                                         payment_hook):
    payment, _ = create_payment()
    arm(wechat_sandbox, "pay.notify", "bad_signature")
    answer = confirm(wechat_sandbox, payment.prepay_id)
    assert answer["return_code"] == "FAIL"
    assert answer["notifications"][0]["status_code"] == 400
    assert answer["notifications"][0]["return_msg"].startswith("invalid_signature")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PREPAID and len(payment_hook) == 0
    payment = services.payment_query(out_trade_no=payment.out_trade_no)
    assert (payment.status, payment.transaction_id) == (PaymentStatus.PAID, answer["transaction_id"])
    assert len(payment_hook) == 1


# --- WeChat's key: the public key, or platform certificates ---------------------------------------

def _pay_and_refund(server, payment_hook, refund_hook):
    payment, _ = create_payment(amount_fen=800)
    assert confirm(server, payment.prepay_id)["return_code"] == "SUCCESS"
    refund = refund_for(payment, 800)
    assert refund.status == RefundStatus.PROCESSING
    assert confirm_refund(server, refund.out_refund_no)["return_code"] == "SUCCESS"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert services.refund_query(out_refund_no=refund.out_refund_no).status == RefundStatus.SUCCEEDED
    assert (len(payment_hook), len(refund_hook)) == (1, 1)
    return payment


def test_public_key_mode_verifies_with_the_configured_key_and_downloads_no_certificate(wechat_sandbox, settings,
                                                                                       payment_hook, refund_hook):
    settings.WECHAT_PAY_PUBLIC_KEY = platform_public_key_pem()
    settings.WECHAT_PAY_PUBLIC_KEY_ID = platform_public_key_id()

    payment = _pay_and_refund(wechat_sandbox, payment_hook, refund_hook)

    assert v3._certificates == {}  # never needed /v3/certificates
    status, _, headers = v3._send("GET", f"/v3/pay/transactions/out-trade-no/{payment.out_trade_no}"
                                  f"?mchid={settings.WECHAT_MCH_ID}", "", what="test")
    assert status == 200 and headers["Wechatpay-Serial"] == platform_public_key_id()
    assert headers["Wechatpay-Serial"].startswith("PUB_KEY_ID_")
    # a callback naming the public key id but signed by another key is refused
    other, _ = create_payment()
    body = pay_callback_body(_paid_resource(prepay_for(other)))
    res, answer = post_v3(wechat_sandbox, PAY_NOTIFY, body, v3_headers(body, key=wrong_private_key()))
    assert res.status_code == 400 and answer["message"].startswith("invalid_signature:")
    other.refresh_from_db()
    assert other.status == PaymentStatus.PREPAID


def test_certificate_mode_downloads_the_platform_certificate_once(wechat_sandbox, settings, payment_hook,
                                                                  refund_hook):
    assert not settings.WECHAT_PAY_PUBLIC_KEY_ID

    _pay_and_refund(wechat_sandbox, payment_hook, refund_hook)

    known = v3._certificates[v3.api_base_url()]
    assert list(known) == [platform_serial()]
    # a serial that is a public key id is not looked up among certificates: refused
    other, _ = create_payment()
    body = pay_callback_body(_paid_resource(prepay_for(other)))
    res, _ = post_v3(wechat_sandbox, PAY_NOTIFY, body, v3_headers(body, serial=platform_public_key_id()))
    assert res.status_code == 400
    other.refresh_from_db()
    assert other.status == PaymentStatus.PREPAID


# --- refunds -----------------------------------------------------------------------------------

def test_refund_its_callback_and_its_query(wechat_sandbox, paid, refund_hook):
    assert paid.api == "v3"
    refund = refund_for(paid, 300)

    assert (refund.api, refund.status) == ("v3", RefundStatus.PROCESSING)
    row = SandboxRefund.objects.get(out_refund_no=refund.out_refund_no)
    assert (row.api, row.refund_fee, row.reason, refund.refund_id) == ("v3", 300, "不想要了", row.refund_id)
    assert refund_for(paid, 300, refund.out_refund_no).pk == refund.pk  # idempotent
    assert SandboxRefund.objects.count() == 1
    assert services.refund_query(out_refund_no=refund.out_refund_no).status == RefundStatus.PROCESSING
    assert len(refund_hook) == 0

    answer = confirm_refund(wechat_sandbox, refund.out_refund_no)

    assert answer["return_code"] == "SUCCESS"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED and refund.succeeded_at is not None
    assert refund.refund_recv_account == "支付用户零钱"
    assert [c["status"] for c in refund_hook.items] == [RefundStatus.SUCCEEDED]
    assert refund_hook.items[0]["in_atomic"]
    assert confirm_refund(wechat_sandbox, refund.out_refund_no)["return_code"] == "SUCCESS"  # again: acts once
    assert services.refund_query(out_refund_no=refund.out_refund_no).status == RefundStatus.SUCCEEDED
    refund.refresh_from_db()
    assert refund.notify_count == 2 and len(refund_hook) == 1


@pytest.mark.parametrize(("status", "ours"), [("CHANGE", RefundStatus.FAILED), ("REFUNDCLOSE", RefundStatus.CLOSED)])
def test_abnormal_and_closed_refund_callbacks(wechat_sandbox, paid, refund_hook, status, ours):
    refund = refund_for(paid, 200)
    assert confirm_refund(wechat_sandbox, refund.out_refund_no, status=status)["return_code"] == "SUCCESS"
    refund.refresh_from_db()
    assert refund.status == ours
    assert [c["status"] for c in refund_hook.items] == [ours]
    assert services.refund_query(out_refund_no=refund.out_refund_no).status == ours


def test_refund_query_settles_a_refund_whose_callback_was_lost(wechat_sandbox, paid, refund_hook):
    refund = refund_for(paid, 1000)
    arm(wechat_sandbox, "refund.notify", "bad_signature")
    assert confirm_refund(wechat_sandbox, refund.out_refund_no)["return_code"] == "FAIL"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PROCESSING and len(refund_hook) == 0
    assert services.refund_query(out_refund_no=refund.out_refund_no).status == RefundStatus.SUCCEEDED
    assert len(refund_hook) == 1


def test_refund_answer_with_a_bad_signature_leaves_it_requested_then_the_retry_queries(wechat_sandbox, paid,
                                                                                      refund_hook):
    out_refund_no = new_no("R")
    arm(wechat_sandbox, "pay.refund", "bad_signature")  # carried out at WeChat, the answer forged
    with pytest.raises(WechatError) as exc:
        refund_for(paid, 500, out_refund_no)
    assert exc.value.code == "invalid_signature"
    refund = WechatRefund.objects.get(out_refund_no=out_refund_no)
    assert (refund.status, refund.error_code, refund.refund_id) == (RefundStatus.REQUESTED, "invalid_signature", "")
    refund = refund_for(paid, 500, out_refund_no)  # asks first: WeChat has it
    assert refund.status == RefundStatus.PROCESSING
    assert refund.refund_id == SandboxRefund.objects.get().refund_id
    assert len(refund_hook) == 0


def test_refund_query_of_a_refund_wechat_does_not_know(wechat_sandbox, paid):
    refund = WechatRefund.objects.create(out_refund_no=new_no("R"), payment=paid, amount_fen=100, api="v3")
    with pytest.raises(WechatError) as exc:
        services.refund_query(out_refund_no=refund.out_refund_no)
    assert (exc.value.code, exc.value.extra["err_code"]) == ("wechat_refund_not_found", "REFUNDNOTEXIST")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED


def test_forged_refund_callbacks_are_refused_and_change_nothing(wechat_sandbox, paid, refund_hook, caplog):
    caplog.set_level(logging.WARNING)
    refund = refund_for(paid, 400)
    row = SandboxRefund.objects.select_related("prepay").get(out_refund_no=refund.out_refund_no)
    row.refund_status, row.success_time = "SUCCESS", "2024-01-01 12:00:00"

    def body(event="REFUND.SUCCESS", key=None, **over):
        from wechat.sandbox.v3 import v3_callback_body

        return v3_callback_body(event_type=event, resource_type="refund", summary="退款成功",
                                resource=refund_callback_resource(row, **over), apiv3_key=key)

    good = body()
    amount = refund_callback_resource(row)["amount"]
    cases = [
        ("signed with another key", good, v3_headers(good, key=wrong_private_key()), "invalid_signature"),
        ("stale", good, v3_headers(good, timestamp=int(time.time()) - 400), "invalid_signature"),
        ("sealed with another APIv3 key", body(key=ANOTHER_APIV3_KEY), None, "invalid_signature"),
        ("wrong refund amount", body(amount={**amount, "refund": 401}), None, "amount_mismatch"),
        ("wrong total", body(amount={**amount, "total": 999}), None, "amount_mismatch"),
        ("another merchant", body(mchid="1999999999"), None, "merchant_mismatch"),
        ("unknown out_refund_no", body(out_refund_no="R-NOT-OURS"), None, "unknown_out_refund_no"),
        ("another payment", body(out_trade_no="T-OTHER"), None, "invalid_notification"),
        ("event and status disagree", body(event="REFUND.CLOSED"), None, "invalid_notification"),
        ("still processing", body(event="REFUND.SUCCESS", refund_status="PROCESSING"), None, "invalid_notification"),
        ("a payment event", body(event="TRANSACTION.SUCCESS"), None, "invalid_notification"),
    ]
    for name, data, headers, code in cases:
        caplog.clear()
        res, answer = post_v3(wechat_sandbox, REFUND_NOTIFY, data, headers)
        assert res.status_code == 400, f"{name}: {res.status_code} {res.text[:200]}"
        assert answer["code"] == "FAIL" and answer["message"].startswith(f"{code}:"), f"{name}: {answer}"
        assert code in caplog.text, f"{name}: not logged"
        refund.refresh_from_db()
        assert (refund.status, refund.notify_count) == (RefundStatus.PROCESSING, 0), name
        assert len(refund_hook) == 0, name

    res, answer = post_v3(wechat_sandbox, REFUND_NOTIFY, good)
    assert (res.status_code, answer["code"]) == (200, "SUCCESS")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.succeeded_at == datetime(2024, 1, 1, 4, 0, tzinfo=UTC)
    assert len(refund_hook) == 1


# --- v2 and v3 side by side ------------------------------------------------------------------------

def test_rows_keep_the_api_they_were_made_with(wechat_sandbox, settings, payment_hook, refund_hook):
    settings.WECHAT_PAY_API = "v2"
    old, params = create_payment(amount_fen=700)
    assert (old.api, params["jsapi"]["signType"]) == ("v2", "MD5")

    settings.WECHAT_PAY_API = "v3"  # the shop moves to APIv3
    again, params = create_payment(amount_fen=700, out_trade_no=old.out_trade_no)
    assert (again.pk, params["jsapi"]["signType"]) == (old.pk, "MD5")  # still a v2 order
    assert services.payment_query(out_trade_no=old.out_trade_no).status == PaymentStatus.PREPAID
    answer = confirm(wechat_sandbox, old.prepay_id)  # a v2 XML notification
    assert answer["return_code"] == "SUCCESS" and answer["notifications"][0]["return_msg"] == "OK"
    assert services.payment_query(out_trade_no=old.out_trade_no).status == PaymentStatus.PAID
    new, params = create_payment(amount_fen=700)
    assert (new.api, params["jsapi"]["signType"]) == ("v3", "RSA")

    refund = refund_for(old, 700)  # a new refund: APIv3, of the v2-paid order
    assert refund.api == "v3" and SandboxRefund.objects.get().api == "v3"
    assert confirm_refund(wechat_sandbox, refund.out_refund_no)["return_code"] == "SUCCESS"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED

    settings.WECHAT_PAY_API = "v2"  # and back: the v3 order is still closed through v3
    assert services.payment_close(out_trade_no=new.out_trade_no).status == PaymentStatus.CLOSED
    assert (len(payment_hook), len(refund_hook)) == (1, 1)


def test_wechat_time_reads_v2_and_rfc3339():
    expected = datetime(2024, 1, 1, 4, 0, tzinfo=UTC)
    for text in ("20240101120000", "2024-01-01 12:00:00", "2024-01-01T12:00:00+08:00", "2024-01-01T04:00:00Z",
                 "2024-01-01T04:00:00+00:00"):
        assert _wechat_time(text) == expected, text
    for text in ("", "yesterday", "2024-13-01T00:00:00+08:00", None):
        assert _wechat_time(text) is None, text
    assert _wechat_time(rfc3339()) is not None


# --- the shop on v3 ------------------------------------------------------------------------------

def test_an_order_paid_and_refunded_on_v3(wechat_sandbox, user_client, operator_client):
    sku = make_sku(price_fen=1000, stock=10)
    no = place(user_client, sku, 2)
    prepay_id = pay(user_client, no)["prepay_id"]
    payment = WechatPayment.objects.get(prepay_id=prepay_id)
    assert payment.api == "v3"
    assert sandbox_confirm(wechat_sandbox.url, prepay_id)["return_code"] == "SUCCESS"
    order = Order.objects.get(no=no)
    assert order.status == OrderStatus.PAID and order.paid_fen == 2000
    # the callback again: nothing more
    assert sandbox_confirm(wechat_sandbox.url, prepay_id)["return_code"] == "SUCCESS"
    assert LedgerTransaction.objects.filter(kind="mall.payment").count() == 1

    res = user_client.post(f"/api/v1/orders/{no}/refunds/", {"amount_fen": 2000, "reason": "不想要了"}, format="json")
    assert res.status_code == 201, res.json()
    refund = Refund.objects.get(pk=res.json()["id"])
    assert operator_client.post(f"/api/v1/ops/refunds/{refund.pk}/approve/", {}, format="json").status_code == 200
    assert WechatRefund.objects.get(out_refund_no=refund.no).api == "v3"
    assert sandbox_refund_confirm(wechat_sandbox.url, refund.no, "SUCCESS")["return_code"] == "SUCCESS"
    assert sandbox_refund_confirm(wechat_sandbox.url, refund.no, "SUCCESS")["return_code"] == "SUCCESS"
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, 2000)
    assert Refund.objects.get(pk=refund.pk).status == MallRefundStatus.SUCCEEDED
    assert LedgerTransaction.objects.filter(kind="mall.refund").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_crowdfund_funded_and_refunded_on_v3(wechat_sandbox, operator):
    from mall.services.refunds import refund_approve, refund_request

    cf = start(UserFactory(), price_fen=3000)
    for amount in (1000, 1200, 800):
        answer = sandbox_pay(wechat_sandbox, chip_in(cf, amount, user=UserFactory())[1])
        assert answer["return_code"] == "SUCCESS"
    cf.refresh_from_db()
    assert cf.order_id is not None
    assert set(WechatPayment.objects.filter(purpose__startswith="campaigns").values_list("api", flat=True)) == {"v3"}
    assert set(cf.contributions.values_list("status", flat=True)) == {ContributionStatus.PAID}
    order = Order.objects.get(pk=cf.order_id)

    refund = refund_request(user=order.user, order_no=order.no, amount_fen=3000, reason="不想要了")
    refund_approve(operator=operator, refund_id=refund.pk)
    parts = CampaignRefund.objects.filter(mall_refund_no=refund.no)
    assert sorted(p.amount_fen for p in parts) == [800, 1000, 1200]
    assert set(WechatRefund.objects.filter(out_refund_no__in=[p.no for p in parts]).values_list("api", flat=True)) == {
        "v3"}
    assert confirm_refunds(wechat_sandbox, cf) == 3
    for p in parts:  # WeChat sends each callback again: nothing more happens
        assert sandbox_refund_confirm(wechat_sandbox.url, p.no, "SUCCESS")["return_code"] == "SUCCESS"
    assert set(CampaignRefund.objects.filter(mall_refund_no=refund.no).values_list("status", flat=True)) == {
        CampaignRefundStatus.SUCCEEDED}
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, 3000)
    assert Refund.objects.get(pk=refund.pk).status == MallRefundStatus.SUCCEEDED
    assert_money_accounted(cf)
