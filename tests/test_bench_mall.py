"""The mall rows of `make bench`: what their seed writes is what the server accepts.

The order row's body buys the seeded SKU (201); every seeded payment notification is signed
like WeChat's, pays its own order exactly once, and the row's after-run check counts right.
No timing is asserted.
"""
import json

import pytest

from bench.endpoints import ENDPOINTS
from bench.pay_notify_check import notify_check
from bench.seed_orders import (
    BENCH_ORDER_SKU_ID,
    NOTIFY_BODIES_FILE,
    NOTIFY_OFFSET_FILE,
    NOTIFY_PRECHECK_FILE,
    NOTIFY_SEED_FILE,
    ORDER_SKU_STOCK,
    seed_notifications,
    seed_order_sku,
)
from ledger.models import LedgerTransaction
from mall.models import Order, OrderStatus, Sku
from wechat.models import PaymentStatus, WechatPayment
from wechat.pay import parse_xml, to_xml

NOTIFY_URL = "/api/v1/wechat/pay/notify/"


def _row(name: str) -> dict:
    return next(e for e in ENDPOINTS if e["name"] == name)


def _run(**counts) -> dict:
    return {"start": 0, "next": 0, "sent": 0, "fresh": 0, "repeats": 0, "responses": 0, "errors_status": 0, **counts}


@pytest.mark.django_db
def test_the_order_row_body_creates_an_order_of_the_seeded_sku(user_client):
    row = _row("order creation")
    assert json.loads(row["body"])["items"] == [{"sku_id": BENCH_ORDER_SKU_ID, "quantity": 1}]
    seed_order_sku()
    for _ in range(2):  # the same body again: another order
        res = user_client.post(row["path"], data=row["body"].encode(), content_type="application/json")
        assert res.status_code == row["expect"] == 201, res.content
    assert Order.objects.count() == 2
    assert Sku.objects.get(pk=BENCH_ORDER_SKU_ID).stock == ORDER_SKU_STOCK - 2


@pytest.mark.django_db
def test_seeded_notifications_are_distinct_signed_and_pay_each_order_once(api_client, tmp_path):
    info = seed_notifications(count=4, work=tmp_path)
    assert (info["orders"], info["bodies"]) == (5, 4)
    assert (tmp_path / NOTIFY_OFFSET_FILE.name).read_text() == "0\n"
    precheck = (tmp_path / NOTIFY_PRECHECK_FILE.name).read_text()
    bodies = (tmp_path / NOTIFY_BODIES_FILE.name).read_text().splitlines()
    assert len(bodies) == 4 and all("\n" not in b for b in [precheck, *bodies])
    fields = [parse_xml(b) for b in [precheck, *bodies]]
    assert len({f["out_trade_no"] for f in fields}) == len({f["transaction_id"] for f in fields}) == 5
    assert Order.objects.filter(status=OrderStatus.PENDING_PAYMENT).count() == 5
    assert WechatPayment.objects.filter(status=PaymentStatus.PREPAID).count() == 5
    seed = json.loads((tmp_path / NOTIFY_SEED_FILE.name).read_text())
    assert notify_check(seed=seed, runs=[])["check_failed"]  # nothing paid yet: not even the pre-check

    for body in [precheck, *bodies, bodies[0]]:  # the last one a repeat: answered, changes nothing
        res = api_client.post(NOTIFY_URL, data=body.encode(), content_type="text/xml")
        assert res.status_code == 200 and parse_xml(res.content)["return_code"] == "SUCCESS", res.content
    assert Order.objects.filter(status=OrderStatus.PAID).count() == 5
    assert WechatPayment.objects.filter(status=PaymentStatus.PAID, notify_count=1).count() == 4
    assert LedgerTransaction.objects.filter(kind="mall.payment").count() == 5

    result = notify_check(seed=seed, runs=[_run(sent=5, fresh=4, repeats=1, responses=5)])
    assert "the measured run sent 4 distinct ones and 1 repeats" in result["check"]
    assert result["check_failed"] and "were repeats" in result["check"]  # a repeat inflates the figure
    ok = notify_check(seed=seed, runs=[_run(sent=2, fresh=2, responses=2), _run(sent=3, fresh=3, responses=2)])
    assert not ok["check_failed"], ok["check"]
    assert "5 of the 5 seeded orders became paid" in ok["check"]
    too_few_sent = notify_check(seed=seed, runs=[_run(sent=2, fresh=2, responses=2)])
    assert too_few_sent["check_failed"] and "outside 3-3" in too_few_sent["check"]


@pytest.mark.django_db
def test_a_seeded_notification_with_a_changed_amount_is_refused(api_client, tmp_path):
    seed_notifications(count=1, work=tmp_path)
    fields = parse_xml((tmp_path / NOTIFY_BODIES_FILE.name).read_text().strip())
    fields["total_fee"] = "1"  # keeps the old sign: the signature no longer matches
    res = api_client.post(NOTIFY_URL, data=to_xml(fields, signed=False).encode(), content_type="text/xml")
    assert res.status_code == 400 and parse_xml(res.content)["return_code"] == "FAIL"
    assert not Order.objects.filter(status=OrderStatus.PAID).exists()
    assert not LedgerTransaction.objects.filter(kind="mall.payment").exists()
