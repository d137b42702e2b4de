"""The catalog cache: a repeated product detail or list GET does no database query, and every
change made through a service, the operators' API or the admin shows on the next GET."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mall import cache as catalog_cache
from mall.models import Product, Sku
from mall.services import catalog as catalog_services
from mall.services import reviews as review_services

from .factories import CategoryFactory, ProductFactory, SkuFactory, order_completed_for

pytestmark = pytest.mark.django_db

LIST = "/api/v1/products/"


def detail(pk: int) -> str:
    return f"/api/v1/products/{pk}/"


@pytest.fixture
def product():
    p = ProductFactory(title="龙井", category=CategoryFactory(name="茶"))
    SkuFactory(product=p, name="250g", price_fen=1990, stock=10)
    return p


def get(client, url, **params):
    res = client.get(url, params)
    assert res.status_code == 200, res.content
    return res


def warm(client, url, **params):
    """GET twice; the second answer must come from the cache with no database query."""
    first = get(client, url, **params)
    with CaptureQueriesContext(connection) as ctx:
        second = get(client, url, **params)
    assert ctx.captured_queries == []
    assert second["X-Catalog-Cache"] == "hit"
    assert second.content == first.content
    return second.json()


def test_second_detail_get_does_no_query(api_client, product, django_assert_num_queries):
    first = api_client.get(detail(product.pk))
    assert first["X-Catalog-Cache"] == "miss"
    with django_assert_num_queries(0):
        second = api_client.get(detail(product.pk))
    assert second.status_code == 200 and second["X-Catalog-Cache"] == "hit"
    assert second.json() == first.json()


def test_second_list_get_does_no_query(api_client, product, django_assert_num_queries):
    api_client.get(LIST, {"ordering": "price", "q": "龙"})
    with django_assert_num_queries(0):
        res = api_client.get(LIST, {"ordering": "price", "q": "龙"})
    assert res["X-Catalog-Cache"] == "hit"
    assert [r["id"] for r in res.json()["results"]] == [product.pk]
    # other parameters are another page
    assert api_client.get(LIST, {"ordering": "newest"})["X-Catalog-Cache"] == "miss"


def test_a_404_is_not_cached(api_client, product):
    Product.objects.filter(pk=product.pk).update(on_shelf=False)
    assert api_client.get(detail(product.pk)).status_code == 404
    catalog_services.product_set_shelf(product_ids=[product.pk], on_shelf=True)
    assert api_client.get(detail(product.pk)).status_code == 200


# --- every service invalidates ------------------------------------------------------------


def test_product_update_shows_at_once(api_client, product):
    warm(api_client, detail(product.pk))
    warm(api_client, LIST)
    catalog_services.product_update(product_id=product.pk, title="明前龙井")
    assert get(api_client, detail(product.pk)).json()["title"] == "明前龙井"
    assert get(api_client, LIST).json()["results"][0]["title"] == "明前龙井"


def test_sku_changes_show_at_once(api_client, product):
    sku = product.skus.get()
    warm(api_client, detail(product.pk))
    catalog_services.product_update(
        product_id=product.pk,
        skus=[{"id": sku.pk, "name": "250g", "price_fen": 2500}, {"name": "500g", "price_fen": 4000, "stock": 3}],
    )
    body = warm(api_client, detail(product.pk))
    assert [(s["name"], s["price_fen"]) for s in body["skus"]] == [("250g", 2500), ("500g", 4000)]
    catalog_services.product_update(product_id=product.pk, skus=[{"id": sku.pk, "name": "250g"}])
    assert [s["name"] for s in get(api_client, detail(product.pk)).json()["skus"]] == ["250g"]


def test_stock_adjustment_shows_at_once(api_client, product):
    sku = product.skus.get()
    warm(api_client, detail(product.pk))
    catalog_services.sku_adjust_stock(sku_id=sku.pk, delta=-4)
    assert get(api_client, detail(product.pk)).json()["skus"][0]["stock"] == 6


def test_catalog_invalidate_from_order_code_shows_stock(api_client, product):
    """The order services take stock themselves and call catalog_invalidate(product_id=...)."""
    warm(api_client, detail(product.pk))
    warm(api_client, LIST)
    Sku.objects.filter(product=product).update(stock=0)
    assert get(api_client, detail(product.pk)).json()["skus"][0]["stock"] == 10  # not told yet: cached
    catalog_cache.catalog_invalidate(product_id=product.pk)
    assert get(api_client, detail(product.pk)).json()["skus"][0]["stock"] == 0
    assert get(api_client, LIST).json()["results"][0]["in_stock"] is False


def test_shelf_off_and_on(api_client, product):
    warm(api_client, detail(product.pk))
    warm(api_client, LIST)
    catalog_services.product_set_shelf(product_ids=[product.pk], on_shelf=False)
    assert api_client.get(detail(product.pk)).status_code == 404
    assert get(api_client, LIST).json()["count"] == 0
    catalog_services.product_set_shelf(product_ids=[product.pk], on_shelf=True)
    assert get(api_client, LIST).json()["count"] == 1


def test_delete_shows_at_once(api_client, product):
    warm(api_client, detail(product.pk))
    warm(api_client, LIST)
    assert catalog_services.product_delete(product_id=product.pk) is True
    assert api_client.get(detail(product.pk)).status_code == 404
    assert get(api_client, LIST).json()["count"] == 0


def test_category_change_shows_on_every_page(api_client, product):
    warm(api_client, detail(product.pk))
    warm(api_client, LIST)
    catalog_services.category_update(category_id=product.category_id, name="名茶")
    assert get(api_client, detail(product.pk)).json()["category"]["name"] == "名茶"
    assert get(api_client, LIST).json()["results"][0]["category"]["name"] == "名茶"
    catalog_services.category_delete(category_id=product.category_id)
    assert get(api_client, detail(product.pk)).json()["category"] is None


def test_new_product_shows_in_the_list(api_client, product):
    warm(api_client, LIST)
    catalog_services.product_create(title="新品", on_shelf=True, skus=[{"name": "a", "price_fen": 1, "stock": 1}])
    assert get(api_client, LIST).json()["count"] == 2


def test_reviews_move_the_summary_at_once(api_client, product, user):
    sku = product.skus.get()
    item = order_completed_for(user, sku).items.get()
    warm(api_client, detail(product.pk))
    warm(api_client, LIST)
    review = review_services.review_create(user=user, product_id=product.pk, order_item_id=item.pk, rating=4)
    summary = warm(api_client, detail(product.pk))["review_summary"]
    assert (summary["count"], summary["average_rating"], summary["distribution"]["4"]) == (1, "4.0", 1)
    assert get(api_client, LIST).json()["results"][0]["review_summary"]["count"] == 1
    review_services.review_hide(review_id=review.pk)
    summary = warm(api_client, detail(product.pk))["review_summary"]
    assert (summary["count"], summary["average_rating"], summary["distribution"]["4"]) == (0, None, 0)
    review_services.review_unhide(review_id=review.pk)
    assert get(api_client, detail(product.pk)).json()["review_summary"]["count"] == 1


# --- the operators' API and the admin invalidate ------------------------------------------


def test_ops_api_changes_show_at_once(api_client, operator_client, product):
    warm(api_client, detail(product.pk))
    res = operator_client.patch(f"/api/v1/ops/products/{product.pk}/", {"title": "改名"}, format="json")
    assert res.status_code == 200
    assert get(api_client, detail(product.pk)).json()["title"] == "改名"
    warm(api_client, detail(product.pk))
    sku = product.skus.get()
    res = operator_client.post(f"/api/v1/ops/skus/{sku.pk}/adjust-stock/", {"delta": 5}, format="json")
    assert res.status_code == 200
    assert get(api_client, detail(product.pk)).json()["skus"][0]["stock"] == 15
    warm(api_client, detail(product.pk))
    assert operator_client.delete(f"/api/v1/ops/products/{product.pk}/").status_code == 200
    assert api_client.get(detail(product.pk)).status_code == 404


def _product_form(product, **changes) -> dict:
    skus = list(product.skus.order_by("pk"))
    data = {
        "title": product.title,
        "description": product.description,
        "images": '["https://img.example.com/cover.png"]',
        "category": product.category_id or "",
        "on_shelf": "on" if product.on_shelf else "",
        "sort": product.sort,
        "skus-TOTAL_FORMS": len(skus),
        "skus-INITIAL_FORMS": len(skus),
        "skus-MIN_NUM_FORMS": 0,
        "skus-MAX_NUM_FORMS": 1000,
    }
    for i, sku in enumerate(skus):
        data.update(
            {
                f"skus-{i}-id": sku.pk,
                f"skus-{i}-product": product.pk,
                f"skus-{i}-name": sku.name,
                f"skus-{i}-price_fen": sku.price_fen,
                f"skus-{i}-stock": sku.stock,
                f"initial-skus-{i}-stock": sku.stock,
                f"skus-{i}-is_active": "on" if sku.is_active else "",
                f"skus-{i}-sort": sku.sort,
            }
        )
    data.update(changes)
    return data


def test_admin_product_change_shows_at_once(api_client, admin_client, product):
    warm(api_client, detail(product.pk))
    url = f"/admin/mall/product/{product.pk}/change/"
    res = admin_client.post(url, _product_form(product, title="后台改名", **{"skus-0-price_fen": 2990}))
    assert res.status_code == 302, res.content.decode()[:2000]
    body = get(api_client, detail(product.pk)).json()
    assert body["title"] == "后台改名"
    assert body["skus"][0]["price_fen"] == 2990


def test_admin_product_save_does_not_write_back_counters_or_stock(admin_client, product):
    """The admin saves only what its form changed: a sale or review that moved a counter or the
    stock between loading the form and saving it is kept."""
    form = _product_form(product, title="后台改名")
    sku = product.skus.get()
    Product.objects.filter(pk=product.pk).update(sold_count=3, review_count=2, rating_sum=9)
    Sku.objects.filter(pk=sku.pk).update(stock=7)  # an order took 3 after the form was loaded
    res = admin_client.post(f"/admin/mall/product/{product.pk}/change/", form)
    assert res.status_code == 302
    product.refresh_from_db()
    sku.refresh_from_db()
    assert (product.title, product.sold_count, product.review_count, product.rating_sum) == ("后台改名", 3, 2, 9)
    assert sku.stock == 7


def test_admin_stock_edit_is_a_delta_on_the_live_stock(admin_client, product):
    """The operator saw 10 and typed 15 (+5) while an order took 3: the stock becomes 12."""
    sku = product.skus.get()
    form = _product_form(product, **{"skus-0-stock": 15})
    Sku.objects.filter(pk=sku.pk).update(stock=7)
    assert admin_client.post(f"/admin/mall/product/{product.pk}/change/", form).status_code == 302
    sku.refresh_from_db()
    assert sku.stock == 12
    # saw 12, typed 0 (-12) while another order took 5: refused, nothing changes
    form = _product_form(product, **{"skus-0-stock": 0})
    Sku.objects.filter(pk=sku.pk).update(stock=7)
    admin_client.post(f"/admin/mall/product/{product.pk}/change/", form)
    sku.refresh_from_db()
    assert sku.stock == 7


def test_admin_rejects_bad_images_and_prices(admin_client, product):
    url = f"/admin/mall/product/{product.pk}/change/"
    res = admin_client.post(url, _product_form(product, images='["ftp://x/1.png"]'))
    assert res.status_code == 200  # the form again, with its error
    res = admin_client.post(url, _product_form(product, **{"skus-0-price_fen": 0}))
    assert res.status_code == 200
    product.refresh_from_db()
    assert product.skus.get().price_fen == 1990


def test_admin_shelf_actions_show_at_once(api_client, admin_client, product):
    warm(api_client, detail(product.pk))
    warm(api_client, LIST)
    changelist = "/admin/mall/product/"
    res = admin_client.post(changelist, {"action": "take_off_shelf", "_selected_action": [product.pk]})
    assert res.status_code == 302
    assert api_client.get(detail(product.pk)).status_code == 404
    assert get(api_client, LIST).json()["count"] == 0
    admin_client.post(changelist, {"action": "put_on_shelf", "_selected_action": [product.pk]})
    assert get(api_client, LIST).json()["count"] == 1


def test_admin_category_change_and_delete_show_at_once(api_client, admin_client, product):
    warm(api_client, detail(product.pk))
    url = f"/admin/mall/category/{product.category_id}/change/"
    res = admin_client.post(url, {"name": "后台分类", "parent": "", "sort": 0, "is_active": "on"})
    assert res.status_code == 302
    assert get(api_client, detail(product.pk)).json()["category"]["name"] == "后台分类"
    warm(api_client, detail(product.pk))
    res = admin_client.post(f"/admin/mall/category/{product.category_id}/delete/", {"post": "yes"})
    assert res.status_code == 302
    assert get(api_client, detail(product.pk)).json()["category"] is None


def test_admin_product_delete_shows_at_once(api_client, admin_client, product):
    warm(api_client, detail(product.pk))
    res = admin_client.post(f"/admin/mall/product/{product.pk}/delete/", {"post": "yes"})
    assert res.status_code == 302
    assert not Product.objects.filter(pk=product.pk).exists()
    assert api_client.get(detail(product.pk)).status_code == 404


def test_admin_review_actions_move_counters_and_show_at_once(api_client, admin_client, product, user):
    item = order_completed_for(user, product.skus.get()).items.get()
    review = review_services.review_create(user=user, product_id=product.pk, order_item_id=item.pk, rating=2)
    warm(api_client, detail(product.pk))
    res = admin_client.post("/admin/mall/review/", {"action": "hide_reviews", "_selected_action": [review.pk]})
    assert res.status_code == 302
    product.refresh_from_db()
    assert (product.review_count, product.rating_sum) == (0, 0)
    assert get(api_client, detail(product.pk)).json()["review_summary"]["count"] == 0
    admin_client.post("/admin/mall/review/", {"action": "hide_reviews", "_selected_action": [review.pk]})
    product.refresh_from_db()
    assert (product.review_count, product.rating_sum) == (0, 0)  # hiding twice moves nothing
    admin_client.post("/admin/mall/review/", {"action": "unhide_reviews", "_selected_action": [review.pk]})
    product.refresh_from_db()
    assert (product.review_count, product.rating_sum) == (1, 2)
    assert get(api_client, detail(product.pk)).json()["review_summary"]["count"] == 1


def test_admin_pages_render(admin_client, product, user):
    order = order_completed_for(user, product.skus.get())
    for url in (
        "/admin/mall/product/",
        f"/admin/mall/product/{product.pk}/change/",
        "/admin/mall/product/add/",
        "/admin/mall/category/",
        "/admin/mall/order/",
        f"/admin/mall/order/{order.pk}/change/",
        "/admin/mall/order/?status__exact=completed&q=" + order.no,
        "/admin/mall/refund/?status__exact=requested",
        "/admin/mall/review/",
    ):
        assert admin_client.get(url).status_code == 200, url


# --- the versions themselves --------------------------------------------------------------


def test_an_evicted_version_key_never_revives_an_old_entry(api_client, product):
    warm(api_client, detail(product.pk))
    Product.objects.filter(pk=product.pk).update(title="改过")
    cache.delete(catalog_cache._product_key(product.pk))  # Redis evicted the version number
    assert get(api_client, detail(product.pk)).json()["title"] == "改过"


def test_invalidation_bumps_again_after_commit(transactional_db, api_client):
    """A reader that cached rows between the first bump and the commit is superseded by the
    second bump, which runs after the commit."""
    product = ProductFactory()
    SkuFactory(product=product)
    key = catalog_cache._product_key(product.pk)
    from django.db import transaction

    with transaction.atomic():
        catalog_cache.catalog_invalidate(product_id=product.pk)
        inside = cache.get(key)
    assert cache.get(key) == inside + 1


DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there: every call fails to connect
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


def test_an_unreachable_cache_renders_from_the_database_and_invalidation_does_not_raise(settings):
    settings.CACHES = DEAD_REDIS
    calls = []

    def build() -> bytes:
        calls.append(1)
        return b'{"fresh": true}'

    assert catalog_cache.catalog_detail_cached(product_id=1, build=build) == (b'{"fresh": true}', False, 0)
    assert catalog_cache.catalog_list_cached(params={"page": "2"}, build=build, count_key="c") == (
        b'{"fresh": true}',
        False,
        0,
    )
    assert len(calls) == 2
    catalog_cache.catalog_invalidate(product_id=1)
    catalog_cache.catalog_invalidate()


@pytest.mark.redis
def test_entries_and_versions_live_in_redis(api_client, product, settings):
    """With Redis, every web process shares the entries and the version numbers."""
    import redis

    raw = redis.Redis.from_url(settings.REDIS_URL)
    warm(api_client, detail(product.pk))
    keys = {k.decode() for k in raw.keys("*mall:cat:*")}
    assert any(k.endswith(f"mall:cat:d{product.pk}") for k in keys)
    version_key = next(k for k in keys if k.endswith(f"mall:cat:P{product.pk}"))
    before = int(raw.get(version_key))
    catalog_cache.catalog_invalidate(product_id=product.pk)
    assert int(raw.get(version_key)) > before


# --- rate limit (counted in the same cache round trip) ------------------------------------


@pytest.fixture
def three_per_day(settings):  # a day-long window: the test never straddles two
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "3/day"},
    }


def test_catalog_pages_are_rate_limited_per_client_ip(api_client, product, three_per_day):
    for _ in range(2):
        assert api_client.get(detail(product.pk)).status_code == 200
    assert api_client.get(LIST).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        res = api_client.get(detail(product.pk))
    assert res.status_code == 429
    assert res.json()["code"] == "throttled"
    assert 0 <= int(res["Retry-After"]) <= 86400
    assert ctx.captured_queries == []
    assert api_client.get(LIST).status_code == 429
    # another client is not affected
    assert api_client.get(detail(product.pk), REMOTE_ADDR="10.0.0.2").status_code == 200


def test_a_throttled_miss_does_no_database_work(api_client, product, three_per_day):
    for _ in range(3):
        api_client.get(LIST, {"q": "x"})
    with CaptureQueriesContext(connection) as ctx:
        assert api_client.get(LIST, {"q": "never cached"}).status_code == 429
    assert ctx.captured_queries == []
