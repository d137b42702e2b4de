"""Helpers shared by the WeChat Pay tests (their hook fixtures are in tests/wechat/conftest.py).

Everything goes through the sandbox over real HTTP: wechatpy talks to the live server,
and the sandbox posts its notifications back to our notify endpoints on it.
"""
from __future__ import annotations

import threading
import uuid

import requests
from django.db import connection

from wechat import services
from wechat.pay import parse_xml, to_xml
from wechat.sandbox.models.pay import SandboxPrepay

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
