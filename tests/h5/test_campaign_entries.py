"""A new user finds the campaigns from the shop: the home page leads to starting a crowdfund and
sending a red envelope, a product page to crowdfunding that product; the pages they lead to
answer (in Chinese by default, English when asked)."""
from __future__ import annotations

import pytest
from django.test import Client

from tests.h5.helpers import tea_product, text

pytestmark = pytest.mark.django_db


def test_home_leads_to_a_crowdfund_and_a_red_envelope():
    client = Client()
    tea_product()
    html = text(client.get("/h5/"))
    assert 'href="/h5/crowdfunds/new"' in html and "好友众筹" in html
    assert 'href="/h5/red-envelopes/new"' in html and "发红包" in html
    english = text(client.get("/h5/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "Crowdfund with friends" in english and "Send a red envelope" in english
    for path in ("/h5/crowdfunds/new", "/h5/red-envelopes/new"):
        assert client.get(path).status_code == 200


def test_a_product_page_leads_to_crowdfunding_that_product():
    client = Client()
    product, big, _ = tea_product()
    html = text(client.get(f"/h5/products/{product.pk}"))
    href = f'href="/h5/crowdfunds/new?product={product.pk}"'
    assert href in html and "找好友一起凑钱买" in html
    page = client.get(f"/h5/crowdfunds/new?product={product.pk}")
    assert page.status_code == 200 and "礼盒装" in text(page)
