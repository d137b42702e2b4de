"""The public catalog: product list (filters, search, ordering, pagination) and detail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.mall_catalog import ProductDetailOutput, ProductListItemOutput
from mall.models import Product, Review
from mall.services.catalog import product_create

from .factories import CategoryFactory, ProductFactory, SkuFactory, order_completed_for

pytestmark = pytest.mark.django_db

LIST = "/api/v1/products/"


def detail(pk: int) -> str:
    return f"/api/v1/products/{pk}/"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def make(title="商品", prices=(1000,), stock=10, on_shelf=True, category=None, **product):
    p = ProductFactory(title=title, on_shelf=on_shelf, category=category, **product)
    for i, price in enumerate(prices):
        SkuFactory(product=p, name=f"s{i}", price_fen=price, stock=stock)
    return p


def test_list_shows_on_shelf_products_with_price_range_and_summary(api_client):
    cat = CategoryFactory(name="茶")
    p = make("龙井", prices=(3500, 1990, 6000), category=cat, images=["https://img.example.com/a.png"])
    Product.objects.filter(pk=p.pk).update(sold_count=7, review_count=3, rating_sum=13)
    make("下架", on_shelf=False)
    res = api_client.get(LIST)
    body = res.json()
    assert res.status_code == 200
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 1
    row = body["results"][0]
    assert set(row) == set(ProductListItemOutput().fields)
    assert row["id"] == p.pk and row["title"] == "龙井"
    assert row["cover"] == "https://img.example.com/a.png"
    assert row["category"] == {"id": cat.pk, "name": "茶"}
    assert (row["price_min_fen"], row["price_max_fen"]) == (1990, 6000)
    assert row["in_stock"] is True
    assert row["sold_count"] == 7
    # 13 / 3 = 4.333 -> "4.3", integer tenths 43 (never a float)
    assert row["review_summary"] == {"count": 3, "average_rating": "4.3", "average_rating_tenths": 43}


def test_average_rating_rounds_half_up_in_integers(api_client):
    p = make()
    Product.objects.filter(pk=p.pk).update(review_count=4, rating_sum=19)  # 4.75 -> 4.8
    assert api_client.get(detail(p.pk)).json()["review_summary"]["average_rating"] == "4.8"


def test_detail_has_active_skus_images_category_and_review_distribution(api_client, user):
    cat = CategoryFactory(name="茶")
    p = make("龙井", prices=(), category=cat, images=["https://img.example.com/1.png", "https://img.example.com/2.png"])
    a = SkuFactory(product=p, name="250g", price_fen=1990, stock=5)
    b = SkuFactory(product=p, name="500g", price_fen=3500, stock=0)
    SkuFactory(product=p, name="旧款", price_fen=100, stock=9, is_active=False)
    for rating in (5, 5, 3):
        order = order_completed_for(user, a)
        Review.objects.create(order_item=order.items.get(), product=p, user=user, rating=rating)
    hidden_order = order_completed_for(user, a)
    Review.objects.create(order_item=hidden_order.items.get(), product=p, user=user, rating=1, is_hidden=True)
    Product.objects.filter(pk=p.pk).update(review_count=3, rating_sum=13)

    res = api_client.get(detail(p.pk))
    assert res.status_code == 200
    body = res.json()
    assert set(body) == set(ProductDetailOutput().fields)
    assert body["skus"] == [
        {"id": a.pk, "name": "250g", "price_fen": 1990, "stock": 5},
        {"id": b.pk, "name": "500g", "price_fen": 3500, "stock": 0},
    ]
    assert body["images"] == ["https://img.example.com/1.png", "https://img.example.com/2.png"]
    assert body["category"] == {"id": cat.pk, "name": "茶"}
    assert (body["price_min_fen"], body["price_max_fen"]) == (1990, 3500)  # the inactive 100 fen SKU is ignored
    assert body["review_summary"] == {
        "count": 3,
        "average_rating": "4.3",
        "average_rating_tenths": 43,
        "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 2},
    }
    assert all(type(s["price_fen"]) is int for s in body["skus"])


def test_off_shelf_unknown_and_sku_less_products_are_404(api_client):
    off = make(on_shelf=False)
    no_active = make(prices=())
    SkuFactory(product=no_active, is_active=False)
    no_skus = ProductFactory()
    for pk in (off.pk, no_active.pk, no_skus.pk, 999_999):
        res = api_client.get(detail(pk))
        assert res.status_code == 404, pk
        assert res.json()["code"] == "not_found"
    assert ids(api_client.get(LIST)) == []
    assert api_client.get("/api/v1/products/abc/").status_code == 404


def test_inactive_sku_is_not_shown(api_client):
    p = make(prices=(1000, 2000))
    p.skus.filter(name="s1").update(is_active=False)
    body = api_client.get(detail(p.pk)).json()
    assert [s["name"] for s in body["skus"]] == ["s0"]
    assert body["price_max_fen"] == 1000


def test_filter_by_category_includes_sub_categories(api_client):
    tea = CategoryFactory(name="茶")
    green = CategoryFactory(name="绿茶", parent=tea)
    other = CategoryFactory(name="酒")
    a, b, c = make(category=tea), make(category=green), make(category=other)
    make()  # no category
    assert sorted(ids(api_client.get(LIST, {"category": tea.pk}))) == sorted([a.pk, b.pk])
    assert ids(api_client.get(LIST, {"category": green.pk})) == [b.pk]
    assert ids(api_client.get(LIST, {"category": other.pk})) == [c.pk]
    assert ids(api_client.get(LIST, {"category": 987654})) == []


def test_filter_by_price_range_uses_the_cheapest_active_sku(api_client):
    cheap = make(prices=(500, 9000))
    mid = make(prices=(2000,))
    dear = make(prices=(8000, 12000))
    assert sorted(ids(api_client.get(LIST, {"min_price_fen": 1000}))) == sorted([mid.pk, dear.pk])
    assert sorted(ids(api_client.get(LIST, {"max_price_fen": 2000}))) == sorted([cheap.pk, mid.pk])
    assert ids(api_client.get(LIST, {"min_price_fen": 1000, "max_price_fen": 5000})) == [mid.pk]


def test_search_matches_title_or_description_case_insensitively(api_client):
    a = make(title="West Lake Longjing", description="green tea")
    b = make(title="普洱", description="云南 LONGJING 风味")
    make(title="Maotai", description="baijiu")
    assert sorted(ids(api_client.get(LIST, {"q": "longjing"}))) == sorted([a.pk, b.pk])
    assert ids(api_client.get(LIST, {"q": "普洱"})) == [b.pk]
    assert ids(api_client.get(LIST, {"q": "nothing-like-this"})) == []
    assert len(ids(api_client.get(LIST, {"q": ""}))) == 3


def test_orderings(api_client):
    a = make(prices=(3000,), sort=1)
    b = make(prices=(1000,), sort=3)
    c = make(prices=(2000,), sort=2)
    now = timezone.now()
    Product.objects.filter(pk=a.pk).update(
        created_at=now - timedelta(days=1), sold_count=5, review_count=2, rating_sum=9
    )
    Product.objects.filter(pk=b.pk).update(
        created_at=now - timedelta(days=3), sold_count=50, review_count=1, rating_sum=5
    )
    Product.objects.filter(pk=c.pk).update(created_at=now - timedelta(days=2), sold_count=0)
    assert ids(api_client.get(LIST)) == [b.pk, c.pk, a.pk]  # the operators' sort
    assert ids(api_client.get(LIST, {"ordering": "newest"})) == [a.pk, c.pk, b.pk]
    assert ids(api_client.get(LIST, {"ordering": "price"})) == [b.pk, c.pk, a.pk]
    assert ids(api_client.get(LIST, {"ordering": "-price"})) == [a.pk, c.pk, b.pk]
    assert ids(api_client.get(LIST, {"ordering": "sales"})) == [b.pk, a.pk, c.pk]
    assert ids(api_client.get(LIST, {"ordering": "rating"})) == [b.pk, a.pk, c.pk]  # 5.0, 4.5, none


def test_pagination_links_and_pages(api_client):
    made = [make(sort=i) for i in range(5)]
    res = api_client.get(LIST, {"page_size": 2})
    body = res.json()
    assert body["count"] == 5
    assert [r["id"] for r in body["results"]] == [made[4].pk, made[3].pk]
    assert body["previous"] is None
    assert body["next"].endswith("/api/v1/products/?page=2&page_size=2")
    page3 = api_client.get(body["next"].replace("page=2", "page=3")).json()
    assert [r["id"] for r in page3["results"]] == [made[0].pk]
    assert page3["next"] is None
    assert "page=2" in page3["previous"]
    past = api_client.get(LIST, {"page": 9, "page_size": 2})  # past the end: 404, as every list (issue 13)
    assert past.status_code == 404 and past.json()["code"] == "not_found"


def test_list_is_a_fixed_number_of_queries_whatever_the_page_size(api_client, django_assert_max_num_queries):
    tea = CategoryFactory()
    for i in range(30):
        make(prices=(1000 + i, 2000 + i, 3000 + i), category=tea)
    with CaptureQueriesContext(connection) as small:
        assert len(ids(api_client.get(LIST, {"page_size": 2, "ordering": "price"}))) == 2
    with CaptureQueriesContext(connection) as large:
        assert len(ids(api_client.get(LIST, {"page_size": 30, "ordering": "price"}))) == 30
    assert len(large.captured_queries) == len(small.captured_queries) <= 3


@pytest.mark.parametrize(
    "params, field",
    [
        ({"category": "tea"}, "category"),
        ({"category": "0"}, "category"),
        ({"min_price_fen": "-1"}, "min_price_fen"),
        ({"min_price_fen": "1.5"}, "min_price_fen"),
        ({"max_price_fen": "99999999999999999999"}, "max_price_fen"),
        ({"min_price_fen": "500", "max_price_fen": "100"}, "max_price_fen"),
        ({"ordering": "price; drop table"}, "ordering"),
        ({"page": "0"}, "page"),
        ({"page_size": "1000"}, "page_size"),
        ({"q": "x" * 65}, "q"),
    ],
)
def test_bad_list_parameters_are_400(api_client, params, field):
    make()
    res = api_client.get(LIST, params)
    assert res.status_code == 400
    body = res.json()
    assert body["code"] == "invalid"
    assert field in body["extra"]["fields"]


def test_categories_list(api_client):
    tea = CategoryFactory(name="茶", sort=2)
    wine = CategoryFactory(name="酒", sort=1)
    CategoryFactory(name="停用", is_active=False)
    body = api_client.get("/api/v1/categories/").json()
    assert [c["name"] for c in body["results"]] == ["酒", "茶"]
    assert body["results"][1] == {"id": tea.pk, "name": "茶", "parent_id": None}
    assert wine.pk in [c["id"] for c in body["results"]]


def test_public_catalog_ignores_a_bad_token(api_client):
    p = make()
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-token")
    assert api_client.get(detail(p.pk)).status_code == 200
    assert api_client.get(LIST).status_code == 200


def test_product_create_service_makes_a_listed_product(api_client):
    p = product_create(
        title="  新品  ",
        on_shelf=True,
        skus=[{"name": "a", "price_fen": 100, "stock": 1}],
        images=["https://x.example/1"],
    )
    assert p.title == "新品"
    assert ids(api_client.get(LIST)) == [p.pk]
