"""Catalog and order factories for the mall tests.

`ProductFactory` makes an on-shelf product; `SkuFactory` an active SKU (with its product);
`CategoryFactory` a category. `order_completed_for(user, sku, quantity)` builds a completed
Order with one OrderItem straight through the ORM (no payment flow), for review tests.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from mall.models import Category, Order, OrderItem, OrderStatus, Product, Sku

ADDRESS = {
    "name": "张三",
    "phone": "13800138000",
    "province": "广东省",
    "city": "深圳市",
    "district": "南山区",
    "detail": "科技园 1 号",
}


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"分类{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    title = factory.Sequence(lambda n: f"商品{n}")
    description = "好东西"
    images = factory.LazyFunction(lambda: ["https://img.example.com/cover.png"])
    on_shelf = True


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku

    product = factory.SubFactory(ProductFactory)
    name = factory.Sequence(lambda n: f"规格{n}")
    price_fen = 1990
    stock = 100
    is_active = True


def order_for(
    user, sku: Sku, quantity: int = 1, *, status: str = OrderStatus.COMPLETED, completed: bool | None = None
) -> Order:
    """An order of `quantity` x `sku` for `user` in `status`, written through the ORM.

    `completed_at` is set when the status is completed, or when `completed=True` (e.g. a
    partially refunded order that had been completed).
    """
    now = timezone.now()
    amount = sku.price_fen * quantity
    paid = status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.CLOSED)
    refunded = {OrderStatus.REFUNDED: amount, OrderStatus.PARTIALLY_REFUNDED: min(100, amount)}.get(status, 0)
    if completed is None:
        completed = status == OrderStatus.COMPLETED
    order = Order.objects.create(
        no=f"T{uuid.uuid4().hex[:20].upper()}",
        user=user,
        status=status,
        total_fen=amount,
        paid_fen=amount if paid else 0,
        refunded_fen=refunded,
        address=dict(ADDRESS),
        pay_deadline=now + timedelta(minutes=30),
        paid_at=now if paid else None,
        completed_at=now if completed else None,
    )
    OrderItem.objects.create(
        order=order,
        product=sku.product,
        sku=sku,
        title=sku.product.title,
        sku_name=sku.name,
        image=(sku.product.images or [""])[0],
        price_fen=sku.price_fen,
        quantity=quantity,
        amount_fen=amount,
    )
    return order


def order_completed_for(user, sku: Sku, quantity: int = 1) -> Order:
    """A completed Order with one OrderItem (quantity x sku) for `user`."""
    return order_for(user, sku, quantity, status=OrderStatus.COMPLETED)


__all__ = [
    "ADDRESS",
    "CategoryFactory",
    "ProductFactory",
    "SkuFactory",
    "order_completed_for",
    "order_for",
]
