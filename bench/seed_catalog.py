"""Catalog rows for the product list and detail benchmarks (called from bench/seed.py).

40 on-shelf products with three SKUs each under two categories (a full first list page),
and the detail product at the fixed id BENCH_PRODUCT_ID, which bench/endpoints.py names.
On PostgreSQL an explicit id does not move the id sequence, so products created later (order
benchmarks) get ids 41, 42, ... far below it.
"""

from mall.models import Category, Product, Sku
from mall.services.catalog import product_create

BENCH_PRODUCT_ID = 900001


def seed_catalog() -> int:
    tea, _ = Category.objects.get_or_create(name="bench 茶")
    wine, _ = Category.objects.get_or_create(name="bench 酒")
    if not Product.objects.filter(title__startswith="bench 商品").exists():
        for i in range(40):
            product_create(
                title=f"bench 商品 {i}",
                description="benchmark product " * 20,
                images=[f"https://img.example.com/bench/{i}/{n}.jpg" for n in range(3)],
                category_id=(tea if i % 2 else wine).pk,
                on_shelf=True,
                skus=[{"name": f"规格{n}", "price_fen": 990 + 100 * i + 500 * n, "stock": 1000} for n in range(3)],
            )
    product, _ = Product.objects.update_or_create(
        pk=BENCH_PRODUCT_ID,
        defaults={
            "title": "bench 明前龙井",
            "description": "西湖龙井，明前采摘。" * 30,
            "images": [f"https://img.example.com/bench/detail/{n}.jpg" for n in range(6)],
            "category": tea,
            "on_shelf": True,
        },
    )
    for n, (name, price) in enumerate((("50g", 5800), ("100g", 9900), ("250g", 22800), ("500g", 42800))):
        Sku.objects.update_or_create(
            product=product, name=name, defaults={"price_fen": price, "stock": 100000, "sort": n, "is_active": True}
        )
    return product.pk
