"""The mall's order and payment-notification rows (called from bench/seed.py).

* A product with one SKU at fixed ids (BENCH_ORDER_PRODUCT_ID, BENCH_ORDER_SKU_ID, named by
  bench/endpoints.py) whose stock (10^9) no run can exhaust, for POST /api/v1/orders/.
* BENCH_NOTIFICATIONS (default: 500 per second of warm-up and measured run, 6,000) + 1 unpaid
  orders of a buyer `bench-buyer`, made by mall.services.orders.order_create, each with its
  WechatPayment in status `prepaid` (as if the unified order had been answered; no WeChat call),
  and for each the payment notification WeChat would send, built and signed by the sandbox's own
  builder (wechat.sandbox.pay_views.payment_notification: MD5 with the merchant key, our appid
  and mch_id, the order's amount, a distinct 28-digit transaction_id made from the payment's id).
  The first order's notification is the row's pre-check body (NOTIFY_PRECHECK_FILE); the others
  go one per line into NOTIFY_BODIES_FILE, which bench/pay_notify.lua sends, each once, and
  NOTIFY_OFFSET_FILE says where the next wrk run starts.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from django.db import transaction

from accounts.models import User
from mall.models import Category, Product, Sku
from mall.services.orders import PAYMENT_PURPOSE, order_create
from wechat.models import PaymentStatus, WechatPayment
from wechat.pay import to_xml

BENCH_ORDER_PRODUCT_ID = 900002
BENCH_ORDER_SKU_ID = 900102
ORDER_SKU_STOCK = 10**9
ORDER_ADDRESS = {
    "name": "张三",
    "phone": "13800138000",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "龙井路 1 号",
}
# Enough for 500 notifications/s through the warm-up and the measured run (defaults as in
# bench/run.py); the hot platform account rows keep the rate far below that. A run that runs
# out sends repeats, and the row's check fails and says so.
_RUN_SECONDS = int(os.environ.get("BENCH_SECONDS", "10")) + int(os.environ.get("BENCH_WARMUP", "2"))
NOTIFICATIONS = int(os.environ.get("BENCH_NOTIFICATIONS", str(max(2000, 500 * _RUN_SECONDS))))
BUYER = "bench-buyer"
BUYER_OPENID = "o-bench-buyer-0000000000000"

WORK = Path(__file__).resolve().parent / ".work"
NOTIFY_BODIES_FILE = WORK / "pay_notify_bodies.txt"
NOTIFY_PRECHECK_FILE = WORK / "pay_notify_precheck.xml"
NOTIFY_OFFSET_FILE = WORK / "pay_notify.offset"
NOTIFY_RUNS_FILE = WORK / "pay_notify_runs.jsonl"  # one line per wrk run, written by bench/pay_notify.lua
NOTIFY_SEED_FILE = WORK / "pay_notify_seed.json"
BATCH = 500  # orders per transaction while seeding (one commit each, not one per order)


def seed_order_sku() -> int:
    """The product and SKU the order-creation row buys; returns the SKU id."""
    category, _ = Category.objects.get_or_create(name="bench 茶")
    product, _ = Product.objects.update_or_create(
        pk=BENCH_ORDER_PRODUCT_ID,
        defaults={
            "title": "bench 下单用 白茶",
            "description": "福鼎白茶。" * 20,
            "images": ["https://img.example.com/bench/order/0.jpg"],
            "category": category,
            "on_shelf": True,
        },
    )
    Sku.objects.update_or_create(
        pk=BENCH_ORDER_SKU_ID,
        defaults={"product": product, "name": "100g", "price_fen": 12800, "stock": ORDER_SKU_STOCK, "is_active": True},
    )
    return BENCH_ORDER_SKU_ID


def _notification_xml(*, payment: WechatPayment, time_end: str) -> str:
    from wechat.sandbox.models.pay import SandboxPrepay
    from wechat.sandbox.pay_views import payment_notification

    # An unsaved SandboxPrepay carries the fields WeChat's notification repeats; the sandbox
    # builder signs them exactly as the sandbox's confirm endpoint does for a real payment.
    prepay = SandboxPrepay(
        prepay_id=payment.prepay_id, appid=_setting("WECHAT_APPID"), mch_id=_setting("WECHAT_MCH_ID"),
        out_trade_no=payment.out_trade_no, total_fee=payment.amount_fen, openid=payment.openid,
        trade_type="JSAPI", transaction_id=f"4200{time_end[:8]}{payment.pk:016d}", time_end=time_end,
    )  # fmt: skip
    fields = payment_notification(prepay)
    return to_xml(fields, signed=False).replace("\r", "").replace("\n", "")  # signed already; one line


def _setting(name: str) -> str:
    from django.conf import settings

    return getattr(settings, name)


def seed_notifications(count: int = NOTIFICATIONS, work: Path = WORK) -> dict:
    """`count` + 1 unpaid orders with prepaid WechatPayments and their signed notifications (files in `work`)."""
    started = time.monotonic()
    buyer, _ = User.objects.get_or_create(username=BUYER, defaults={"nickname": "bench buyer", "openid": BUYER_OPENID})
    sku_id = seed_order_sku()
    time_end = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d%H%M%S")
    bodies: list[str] = []
    order_pks: list[int] = []
    total = count + 1
    for first in range(0, total, BATCH):
        with transaction.atomic():
            orders = [
                order_create(user=buyer, items=[{"sku_id": sku_id, "quantity": 1}], address=ORDER_ADDRESS)
                for _ in range(first, min(first + BATCH, total))
            ]
            payments = WechatPayment.objects.bulk_create(
                [
                    WechatPayment(
                        out_trade_no=o.no, purpose=PAYMENT_PURPOSE, ref=o.no, amount_fen=o.total_fen,
                        openid=BUYER_OPENID, description="bench 下单用 白茶", client_ip="127.0.0.1",
                        prepay_id=f"wx{time_end}{first + i:020d}", status=PaymentStatus.PREPAID,
                    )
                    for i, o in enumerate(orders)
                ]
            )  # fmt: skip
        bodies += [_notification_xml(payment=p, time_end=time_end) for p in payments]
        order_pks += [o.pk for o in orders]
    work.mkdir(parents=True, exist_ok=True)
    (work / NOTIFY_PRECHECK_FILE.name).write_text(bodies[0])
    (work / NOTIFY_BODIES_FILE.name).write_text("".join(b + "\n" for b in bodies[1:]))
    (work / NOTIFY_OFFSET_FILE.name).write_text("0\n")
    (work / NOTIFY_RUNS_FILE.name).unlink(missing_ok=True)
    info = {
        "buyer_id": buyer.pk, "order_pk_min": min(order_pks), "order_pk_max": max(order_pks), "orders": total,
        "bodies": count, "seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    (work / NOTIFY_SEED_FILE.name).write_text(json.dumps(info) + "\n")
    return info
