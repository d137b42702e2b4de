"""Shared pieces of the H5 page tests: a product with SKUs and reviews, a page's h5-config."""

from __future__ import annotations

import json
import re

from mall.models import Review
from tests.factories import UserFactory
from tests.mall.factories import CategoryFactory, ProductFactory, SkuFactory, order_for


def tea_product(*, title: str = "明前龙井 250g", on_shelf: bool = True, category=None):
    """A product with two SKUs (¥398.00 with stock, ¥128.00 sold out) and one visible and one
    hidden review by buyers."""
    product = ProductFactory(
        title=title,
        on_shelf=on_shelf,
        description="西湖产区，手工炒制",
        images=["https://img.example.com/tea-1.png", "https://img.example.com/tea-2.png"],
        category=category or CategoryFactory(name="茶叶"),
    )
    big = SkuFactory(product=product, name="礼盒装", price_fen=39_800, stock=7, sort=1)
    small = SkuFactory(product=product, name="尝鲜装", price_fen=12_800, stock=0, sort=2)
    return product, big, small


def review(product, sku, *, text: str, rating: int = 5, hidden: bool = False, nickname: str = "老茶客"):
    buyer = UserFactory(nickname=nickname)
    order = order_for(buyer, sku)
    item = order.items.get()
    r = Review.objects.create(order_item=item, product=product, user=buyer, rating=rating, text=text, is_hidden=hidden)
    product.review_count += 0 if hidden else 1
    product.rating_sum += 0 if hidden else rating
    product.save(update_fields=["review_count", "rating_sum"])
    return r


def h5_config(html: str) -> dict:
    match = re.search(r'<script id="h5-config" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page carries no h5-config"
    return json.loads(match.group(1))


def text(response) -> str:
    return response.content.decode()
