"""Forged, broken and mismatched payment notifications are refused, logged, and change nothing."""
from __future__ import annotations

import hashlib
import hmac
import logging

import requests

from wechat.models import PaymentStatus, WechatEvent
from wechat.pay import to_xml
from wechat.sandbox.pay_views import payment_notification

from .pay_helpers import arm, confirm, create_payment, notify_pay, post_xml, prepay_for

TX = "4200000000202401019999999999"


def _signed(prepay, **overrides):
    return payment_notification(prepay, **{"transaction_id": TX, "time_end": "20240101120000", **overrides})


def _forgeries(prepay, settings) -> list[tuple[str, bytes, int, str]]:
    """(name, body, expected HTTP status, expected code)."""
    good = _signed(prepay)
    tampered = dict(good, total_fee=str(int(good["total_fee"]) * 100))  # sign left as it was
    tampered_openid = dict(good, openid="o-attacker")
    unsigned = {k: v for k, v in good.items() if k != "sign"}
    hmac_fields = {**{k: v for k, v in good.items() if k != "sign"}, "sign_type": "HMAC-SHA256"}
    hmac_fields["sign"] = hmac.new(settings.WECHAT_PAY_API_KEY.encode(),
                                   "&".join(f"{k}={hmac_fields[k]}" for k in sorted(hmac_fields)).encode()
                                   + f"&key={settings.WECHAT_PAY_API_KEY}".encode(),
                                   hashlib.sha256).hexdigest().upper()
    lower = dict(good, sign=good["sign"].lower())
    xml = lambda f: to_xml(f, signed=False).encode()  # noqa: E731
    return [
        ("tampered amount", xml(tampered), 400, "invalid_signature"),
        ("tampered openid", xml(tampered_openid), 400, "invalid_signature"),
        ("unsigned", xml(unsigned), 400, "invalid_signature"),
        ("empty sign", xml(dict(good, sign=" ")), 400, "invalid_signature"),
        ("lower-case sign", xml(lower), 400, "invalid_signature"),
        ("signed with another key", xml(_signed(prepay, api_key="another-merchant-key-0123456789ab")), 400,
         "invalid_signature"),
        ("HMAC-SHA256 sign", xml(hmac_fields), 400, "invalid_signature"),
        ("wrong amount, signed", xml(_signed(prepay, total_fee=prepay.total_fee + 1)), 400, "amount_mismatch"),
        ("wrong currency, signed", xml(_signed(prepay, fee_type="USD")), 400, "amount_mismatch"),
        ("other appid, signed", xml(_signed(prepay, appid="wx0ther0app0000001")), 400, "merchant_mismatch"),
        ("other mch_id, signed", xml(_signed(prepay, mch_id="1999999999")), 400, "merchant_mismatch"),
        ("unknown out_trade_no, signed", xml(_signed(prepay, out_trade_no="NOT-OURS-123")), 400,
         "unknown_out_trade_no"),
        ("no transaction_id, signed", xml(_signed(prepay, transaction_id="")), 400, "invalid_notification"),
        ("not XML", b"total_fee=1&out_trade_no=x", 400, "invalid_xml"),
        ("JSON", b'{"return_code": "SUCCESS"}', 400, "invalid_xml"),
        ("empty body", b"", 400, "invalid_xml"),
        ("nested XML", b"<xml><a><b>1</b></a></xml>", 400, "invalid_xml"),
        ("entity expansion", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><a>&a;</a></xml>', 400,
         "invalid_xml"),
        ("huge body", b"<xml><attach>" + b"A" * 200_000 + b"</attach></xml>", 413, "payload_too_large"),
    ]


def test_forged_and_mismatched_notifications_are_refused_logged_and_change_nothing(
    wechat_sandbox, payment_hook, caplog, settings
):
    caplog.set_level(logging.WARNING)
    payment, _ = create_payment(amount_fen=2500)
    prepay = prepay_for(payment)
    events_before = WechatEvent.objects.count()

    for name, body, status, code in _forgeries(prepay, settings):
        caplog.clear()
        res, answer = post_xml(wechat_sandbox, "/api/v1/wechat/pay/notify/", body)
        assert res.status_code == status, f"{name}: HTTP {res.status_code} {res.text[:200]}"
        assert answer.get("return_code") == "FAIL", f"{name}: {res.text[:200]}"
        assert answer["return_msg"].startswith(f"{code}:"), f"{name}: {answer['return_msg']}"
        assert code in caplog.text, f"{name}: refusal not logged"
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.PREPAID, name
        assert payment.transaction_id is None, name
        assert payment.notify_count == 0, name
        assert len(payment_hook) == 0, name

    assert WechatEvent.objects.count() == events_before

    # The genuine one still works afterwards.
    res, answer = notify_pay(wechat_sandbox, _signed(prepay))
    assert (res.status_code, answer["return_code"]) == (200, "SUCCESS")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert len(payment_hook) == 1


def test_sandbox_notification_signed_with_a_wrong_key_is_refused(wechat_sandbox, payment_hook, caplog):
    payment, _ = create_payment()
    arm(wechat_sandbox, "pay.notify", "bad_signature")

    answer = confirm(wechat_sandbox, payment.prepay_id)

    assert answer["return_code"] == "FAIL"
    assert answer["notifications"][0]["status_code"] == 400
    assert answer["notifications"][0]["return_msg"].startswith("invalid_signature")
    assert "payment notification refused: invalid_signature" in caplog.text
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PREPAID
    assert len(payment_hook) == 0


def test_notify_endpoints_only_take_post(wechat_sandbox):
    for path in ("/api/v1/wechat/pay/notify/", "/api/v1/wechat/refund/notify/"):
        for method in ("get", "put"):
            res = requests.request(method, f"{wechat_sandbox.url}{path}", timeout=5)
            assert res.status_code == 405, (path, method)
