"""Helpers for the order tests: catalog rows, an address, the sandbox round trip."""

from __future__ import annotations

import requests

from mall.models import Product, Sku

ADDRESS = {
    "name": "张三",
    "phone": "13800138000",
    "province": "广东省",
    "city": "深圳市",
    "district": "南山区",
    "detail": "科技园 1 号",
}


def make_sku(*, price_fen: int = 1990, stock: int = 100, on_shelf: bool = True, title: str = "龙井茶", **sku) -> Sku:
    product = Product.objects.create(title=title, on_shelf=on_shelf, images=["https://img.example.com/1.png"])
    return Sku.objects.create(product=product, name=sku.pop("name", "250g"), price_fen=price_fen, stock=stock, **sku)


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
