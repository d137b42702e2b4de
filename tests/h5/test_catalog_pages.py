"""The public H5 pages rendered from the database: home, product, checkout, recruitment, 404."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.factories import DistributorFactory, ShareLinkFactory
from tests.h5.helpers import h5_config, review, tea_product, text
from tests.mall.factories import CategoryFactory, ProductFactory, SkuFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return Client()


def test_home_lists_on_shelf_products_with_price_in_yuan_and_categories(client):
    product, _, _ = tea_product()
    hidden = ProductFactory(title="下架的茶", on_shelf=False)
    SkuFactory(product=hidden, price_fen=100)
    res = client.get("/h5/")
    assert res.status_code == 200
    html = text(res)
    assert "明前龙井 250g" in html
    assert "¥128.00" in html  # "from" price: the cheapest active SKU
    assert 'data-fen="12800"' in html
    assert "茶叶" in html
    assert "下架的茶" not in html
    assert f'href="/h5/products/{product.pk}"' in html


def test_home_filters_by_category_and_search(client):
    tea_product()
    other = ProductFactory(title="蜂蜜", category=CategoryFactory(name="蜂产品"))
    SkuFactory(product=other, price_fen=5_000)
    res = client.get(f"/h5/?category={other.category_id}")
    assert "蜂蜜" in text(res) and "明前龙井" not in text(res)
    res = client.get("/h5/?q=龙井")
    assert "明前龙井" in text(res) and "蜂蜜" not in text(res)


def test_home_keeps_the_share_code_on_product_links(client):
    product, _, _ = tea_product()
    html = text(client.get("/h5/?sc=SABCDEFG"))
    assert f'href="/h5/products/{product.pk}?sc=SABCDEFG"' in html


def test_product_page_shows_images_price_skus_and_only_visible_reviews(client):
    product, big, small = tea_product()
    review(product, big, text="香气很足，回购", nickname="老茶客")
    review(product, big, text="被隐藏的评价", hidden=True)
    res = client.get(f"/h5/products/{product.pk}")
    assert res.status_code == 200
    html = text(res)
    assert "明前龙井 250g" in html
    assert "https://img.example.com/tea-2.png" in html
    assert "¥398.00" in html  # the first SKU in stock is chosen
    assert f'data-sku-id="{big.pk}"' in html and f'data-sku-id="{small.pk}"' in html
    assert "礼盒装" in html and "尝鲜装" in html
    assert "香气很足，回购" in html and "老茶客" in html
    assert "被隐藏的评价" not in html
    assert 'data-testid="buy"' in html


def test_product_page_keeps_sc_for_binding_and_attribution(client):
    product, _, _ = tea_product()
    html = text(client.get(f"/h5/products/{product.pk}?sc=sabcdefg"))
    assert 'var sc = "SABCDEFG"' in html  # normalised, kept for the order's share_code
    garbage = text(client.get(f"/h5/products/{product.pk}?sc=<script>"))
    assert 'var sc = ""' in garbage and '<script>"' not in garbage


def test_share_link_lands_on_the_product_page(client, settings):
    product, _, _ = tea_product()
    link = ShareLinkFactory(target_type="product", target_id=product.pk)
    res = client.get(f"/s/{link.code}")
    assert res.status_code == 302
    location = res["Location"]
    assert location.startswith(settings.H5_BASE_URL + f"/products/{product.pk}?sc={link.code}")
    assert settings.H5_BASE_URL.endswith("/h5")
    page = client.get(location.replace(settings.PUBLIC_BASE_URL, ""))
    assert page.status_code == 200 and "明前龙井 250g" in text(page)


def test_recruit_link_lands_on_the_apply_form_with_the_invite_code(client, settings):
    distributor = DistributorFactory(user__nickname="小王")
    link = ShareLinkFactory(distributor=distributor, target_type="recruit")
    res = client.get(f"/s/{link.code}")
    assert res.status_code == 302
    page = client.get(res["Location"].replace(settings.PUBLIC_BASE_URL, ""))
    assert page.status_code == 200
    html = text(page)
    assert f'value="{distributor.invite_code}"' in html
    assert "小王" in html
    assert 'data-testid="apply-submit"' in html


def test_store_link_lands_on_home(client, settings):
    tea_product()
    link = ShareLinkFactory(target_type="store")
    res = client.get(f"/s/{link.code}")
    page = client.get(res["Location"].replace(settings.PUBLIC_BASE_URL, ""))
    assert page.status_code == 200 and "明前龙井 250g" in text(page)


def test_checkout_shows_the_sku_and_the_total(client):
    product, big, _ = tea_product()
    res = client.get(f"/h5/buy?product={product.pk}&sku={big.pk}&qty=2&sc=SABCDEFG")
    assert res.status_code == 200
    html = text(res)
    assert "礼盒装" in html and "× 2" in html
    assert "¥796.00" in html and 'data-fen="79600"' in html
    assert 'var sc = "SABCDEFG"' in html
    assert 'data-testid="place-order"' in html


@pytest.mark.parametrize(
    "path",
    [
        "/h5/products/999999",
        "/h5/nothing-here",
        "/h5/?page=7",
        "/h5/?category=999999",
        "/h5/?category=abc",
        "/h5/buy?product=999999&sku=1",
        "/h5/orders/NOSUCHORDER1",
        "/h5/orders/bad-no!",
        "/h5/distributor/links/%3C%3E",
    ],
)
def test_unknown_ids_answer_the_404_page(client, path):
    res = client.get(path)
    assert res.status_code == 404
    html = text(res)
    assert 'data-testid="not-found"' in html
    assert "<!DOCTYPE html>" in html  # the H5 page, not the API's JSON


def test_off_shelf_product_and_foreign_sku_are_404(client):
    product, big, _ = tea_product(on_shelf=False)
    assert client.get(f"/h5/products/{product.pk}").status_code == 404
    other, _, _ = tea_product(title="另一款")
    assert client.get(f"/h5/buy?product={other.pk}&sku={big.pk}").status_code == 404


def test_pages_are_chinese_first_and_english_when_the_browser_asks(client):
    product, _, _ = tea_product()
    zh = text(client.get(f"/h5/products/{product.pk}"))
    assert '<html lang="zh-hans">' in zh
    assert "立即购买" in zh and "Buy now" not in zh
    en = text(client.get(f"/h5/products/{product.pk}", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9"))
    assert '<html lang="en">' in en
    assert "Buy now" in en and "立即购买" not in en
    assert h5_config(en)["labels"]["order"]["paid"] == "Paid, awaiting shipment"
    assert h5_config(zh)["labels"]["order"]["paid"] == "已付款，待发货"
    assert h5_config(zh)["messages"]["network"] != h5_config(en)["messages"]["network"]


def test_page_config_for_the_script(client):
    tea_product()
    config = h5_config(text(client.get("/h5/")))
    assert config["api"] == "/api/v1"
    assert config["login"] == "/h5/login"
    assert config["wechat_mode"] == "sandbox"
    assert set(config["labels"]) >= {"order", "refund", "commission", "withdrawal", "distributor"}


@pytest.mark.parametrize(
    "target_path",
    [
        "/",  # store (distributors/targets.py)
        "/products/1",  # product
        "/recruit?inviter=VABCDEFG",  # recruit
        "/crowdfunds/1",  # crowdfund (campaigns/targets.py)
        "/red-envelopes/1",  # red envelope
        "/distributor/commissions",  # template-message links (commissions/notifications.py)
        "/distributor/withdrawals/1",
    ],
)
def test_every_share_target_and_message_link_has_a_page(target_path):
    from django.urls import resolve

    match = resolve("/h5" + target_path.split("?")[0])
    assert match.url_name != "unknown", target_path


def test_product_page_shows_the_first_reviews_and_the_api_has_the_rest(client):
    product, big, _ = tea_product()
    for i in range(12):
        review(product, big, text=f"评价{i:02d}", nickname=f"买家{i}")
    html = text(client.get(f"/h5/products/{product.pk}"))
    shown = sorted(set(re.findall(r"评价(\d\d)", html)))
    assert shown == [f"{i:02d}" for i in range(2, 12)]  # the newest ten
    assert 'data-testid="reviews-more"' in html
    rest = client.get(f"/api/v1/products/{product.pk}/reviews/?page_size=10&page=2").json()
    assert sorted(r["text"] for r in rest["results"]) == ["评价00", "评价01"] and rest["next"] is None


def test_the_pages_words_are_their_own_not_another_apps(client):
    """The H5 strings carry the context "h5": no other app's catalogue (the admin's "Log out",
    django-celery-beat's "Name") can translate them."""
    product, big, _ = tea_product()
    html = text(client.get(f"/h5/buy?product={product.pk}&sku={big.pk}"))
    assert ">退出<" in html and "注销" not in html
    assert ">姓名<" in html and "任务名" not in html
    centre = text(client.get("/h5/distributor"))
    assert "佣金明细" in centre


def test_home_and_product_pages_read_in_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(path):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    product, big, _ = tea_product()
    review(product, big, text="一")
    few_home, few_product = queries("/h5/"), queries(f"/h5/products/{product.pk}")
    for i in range(8):
        tea_product(title=f"茶{i}")
        review(product, big, text=f"评{i}")
    assert queries("/h5/") == few_home
    assert queries(f"/h5/products/{product.pk}") == few_product
    with django_assert_max_num_queries(6):
        client.get(f"/h5/products/{product.pk}")


def test_link_previews_may_ask_with_head(client):
    product, _, _ = tea_product()
    assert client.head(f"/h5/products/{product.pk}").status_code == 200
    assert client.head("/h5/").status_code == 200
    assert client.post("/h5/").status_code == 405
