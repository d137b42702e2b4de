"""Helpers shared by the WeChat Pay tests (their hook fixtures are in tests/wechat/conftest.py).

Everything goes through the sandbox over real HTTP: wechatpy talks to the live server,
and the sandbox posts its notifications back to our notify endpoints on it.

The pay tests run on both APIs: `make test` runs them again with WECHAT_PAY_API=v3 (the
payments and refunds they make are then APIv3 ones, and the sandbox's confirm helpers send
APIv3 callbacks). A test that is v2 by nature (hand-made v2 XML, MD5, a v2-only behaviour) is
decorated with `pay_v2_only`; `jsapi_signed` checks JSAPI parameters for either API.
"""
from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import requests
from django.conf import settings
from django.db import connection

from wechat import services, v3
from wechat.pay import parse_xml, sign, to_xml
from wechat.sandbox.models.pay import SandboxPrepay
from wechat.sandbox.v3 import platform_private_key, v3_callback_body

# Skipped when the suite runs with WECHAT_PAY_API=v3 (a plain skipif, so any test file can use it
# without registering a marker).
pay_v2_only = pytest.mark.skipif(settings.WECHAT_PAY_API == "v3",
                                 reason="v2 by nature (v2 XML / MD5 / a v2-only behaviour); WECHAT_PAY_API=v3")
PAY_NOTIFY = "/api/v1/wechat/pay/notify/"
REFUND_NOTIFY = "/api/v1/wechat/refund/notify/"

PURPOSE = "test.pay"
OPENID = "o-pay-test-openid-000001"
SHOPPER_IP = "203.0.113.7"


def new_no(prefix: str = "T") -> str:
    return f"{prefix}{uuid.uuid4().hex[:20]}"


class Calls:
    """What a registered handler saw, recorded from whichever thread ran it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items: list[dict] = []

    def __call__(self, obj) -> None:
        with self.lock:
            self.items.append({"obj": obj, "status": obj.status, "in_atomic": connection.in_atomic_block})

    def __len__(self) -> int:
        return len(self.items)


def create_payment(amount_fen: int = 1234, out_trade_no: str | None = None):
    return services.payment_create(
        out_trade_no=out_trade_no or new_no(), purpose=PURPOSE, ref="42", amount_fen=amount_fen, openid=OPENID,
        description="测试商品 x1", client_ip=SHOPPER_IP,
    )


def refund_for(payment, amount_fen, out_refund_no=None):
    """A refund of `amount_fen` of `payment` asked of WeChat (through the service)."""
    return services.refund_create(out_refund_no=out_refund_no or new_no("R"), out_trade_no=payment.out_trade_no,
                                  amount_fen=amount_fen, reason="不想要了")


def arm(server, endpoint: str, mode: str, times: int = 1, err_code: str = "") -> None:
    res = requests.post(f"{server.url}/wechat-sandbox/faults/",
                        json={"endpoint": endpoint, "mode": mode, "times": times, "err_code": err_code}, timeout=5)
    assert res.status_code == 201, res.text


def confirm(server, prepay_id: str) -> dict:
    res = requests.post(f"{server.url}/wechat-sandbox/pay/{prepay_id}/confirm/", timeout=15)
    assert res.status_code == 200, res.text
    return res.json()


def confirm_refund(server, out_refund_no: str, status: str = "SUCCESS") -> dict:
    res = requests.post(f"{server.url}/wechat-sandbox/pay/refunds/{out_refund_no}/confirm/", json={"status": status},
                        timeout=15)
    assert res.status_code == 200, res.text
    return res.json()


def post_xml(server, path: str, body: bytes | str) -> tuple[requests.Response, dict]:
    data = body.encode() if isinstance(body, str) else body
    res = requests.post(f"{server.url}{path}", data=data, headers={"Content-Type": "text/xml"}, timeout=10)
    try:
        answer = parse_xml(res.content)
    except ValueError:
        answer = {}
    return res, answer


def notify_pay(server, fields: dict) -> tuple[requests.Response, dict]:
    return post_xml(server, "/api/v1/wechat/pay/notify/", to_xml(fields, signed=False))


def prepay_for(payment) -> SandboxPrepay:
    return SandboxPrepay.objects.get(prepay_id=payment.prepay_id)


def jsapi_signed(jsapi: dict) -> bool:
    """getBrandWCPayRequest's parameters are signed right: MD5 with the API key (v2) or RSA
    with the merchant's API certificate key, checked with its public key (v3)."""
    if jsapi.get("signType") == "RSA":
        message = f"{jsapi['appId']}\n{jsapi['timeStamp']}\n{jsapi['nonceStr']}\n{jsapi['package']}\n"
        return v3.rsa_verify(v3.merchant_public_key(), message, jsapi["paySign"])
    return jsapi.get("paySign") == sign({k: v for k, v in jsapi.items() if k != "paySign"})


def v3_headers(body: bytes, *, timestamp: int | None = None, key=None, serial: str = "", nonce: str = "") -> dict:
    """Wechatpay-* headers for `body` as WeChat signs a callback: the sandbox's platform key (or
    `key`), now (or `timestamp`), naming the platform certificate / public key id (or `serial`)."""
    from wechat.sandbox.v3 import answer_serial

    ts = str(int(time.time()) if timestamp is None else timestamp)
    nc = nonce or v3.nonce_str()
    signature = v3.rsa_sign(key or platform_private_key(), v3.answer_message(ts, nc, body))
    return {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nc, "Wechatpay-Serial": serial or answer_serial(),
            "Wechatpay-Signature": signature, "Wechatpay-Signature-Type": v3.SCHEMA}


def post_v3(server, path: str, body: bytes, headers: dict | None = None) -> tuple[requests.Response, dict]:
    """POST an APIv3 callback (signed now with the platform key unless `headers`); (response, JSON)."""
    sent = headers if headers is not None else v3_headers(body)
    res = requests.post(f"{server.url}{path}", data=body, headers={"Content-Type": "application/json", **sent},
                        timeout=15)
    try:
        answer = res.json()
    except ValueError:
        answer = {}
    return res, answer


def pay_callback_body(resource: dict, *, event_type: str = "TRANSACTION.SUCCESS", apiv3_key: bytes | None = None,
                      resource_type: str = "transaction") -> bytes:
    return v3_callback_body(event_type=event_type, resource_type=resource_type, summary="支付成功",
                            resource=resource, apiv3_key=apiv3_key)


def callback_tampered(body: bytes) -> bytes:
    """The callback with one character of its ciphertext changed (then signed anew by the caller)."""
    data = json.loads(body)
    ct = data["resource"]["ciphertext"]
    data["resource"]["ciphertext"] = ("B" if ct[0] != "B" else "C") + ct[1:]
    return json.dumps(data, separators=(",", ":")).encode()
