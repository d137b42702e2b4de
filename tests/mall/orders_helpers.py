"""Helpers for the order tests: their SKU, the address (tests/mall/factories.py ADDRESS), paid and shipped
orders through the services, the sandbox round trip."""

from __future__ import annotations

import itertools

import requests

from mall.models import Order, Sku
from mall.services.orders import order_create, order_mark_paid, order_ship
from tests.mall.factories import ADDRESS, SkuFactory

_txn = itertools.count(1)


def make_sku(*, price_fen: int = 1990, stock: int = 100, on_shelf: bool = True, title: str = "龙井茶", **sku) -> Sku:
    """The order tests' SKU (a 250g 龙井茶 on the shelf), made by SkuFactory."""
    return SkuFactory(product__title=title, product__on_shelf=on_shelf, product__description="",
                      product__images=["https://img.example.com/1.png"], name=sku.pop("name", "250g"),
                      price_fen=price_fen, stock=stock, **sku)


def paid_order(user, price_fen=1000, quantity=3) -> Order:
    """An order of `quantity` x a new SKU, placed and paid through the services."""
    sku = make_sku(price_fen=price_fen, stock=10)
    order = order_create(user=user, items=[{"sku_id": sku.pk, "quantity": quantity}], address=ADDRESS)
    return order_mark_paid(order_no=order.no, amount_fen=price_fen * quantity,
                           transaction_id=f"42000000009{next(_txn):017d}")


def shipped_order(user, operator, **kw) -> Order:
    """`paid_order`, then shipped by `operator`."""
    order = paid_order(user, **kw)
    return order_ship(operator=operator, order_no=order.no, carrier="SF", tracking_no="SF000001")


def order_payload(*items: tuple[Sku, int], **extra) -> dict:
    return {"items": [{"sku_id": s.pk, "quantity": q} for s, q in items], "address": dict(ADDRESS), **extra}


def sandbox_confirm(base_url: str, prepay_id: str) -> dict:
    """The shopper pays in WeChat: the sandbox sends the signed notification to us."""
    res = requests.post(f"{base_url}/wechat-sandbox/pay/{prepay_id}/confirm/", timeout=30)
    return res.json()


def sandbox_refund_confirm(base_url: str, out_refund_no: str, status: str = "SUCCESS") -> dict:
    res = requests.post(
        f"{base_url}/wechat-sandbox/pay/refunds/{out_refund_no}/confirm/", json={"status": status}, timeout=30
    )
    return res.json()


def sandbox_fault(base_url: str, endpoint: str, mode: str, times: int = 1) -> None:
    res = requests.post(
        f"{base_url}/wechat-sandbox/faults/", json={"endpoint": endpoint, "mode": mode, "times": times}, timeout=10
    )
    res.raise_for_status()


def place(client, sku, quantity=1) -> str:
    res = client.post("/api/v1/orders/", order_payload((sku, quantity)), format="json")
    assert res.status_code == 201, res.json()
    return res.json()["no"]


def pay(client, no) -> dict:
    res = client.post(f"/api/v1/orders/{no}/pay/")
    assert res.status_code == 200, res.json()
    return res.json()
