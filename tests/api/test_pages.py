"""Every list pages the same way (api/pagination.py): page 1 always exists, a page past the end is
404 in the error shape, a page or page_size that is not a whole number from 1 is 400."""

from __future__ import annotations

import pytest

from accounts.services import follow_create
from tests.factories import UserFactory
from tests.mall.orders_helpers import make_sku

LISTS = [
    "/api/v1/orders/",
    "/api/v1/me/following/",
    "/api/v1/commissions/",
    "/api/v1/wallet/entries/",
    "/api/v1/withdrawals/",
    "/api/v1/crowdfunds/",
]
OPS_LISTS = [
    "/api/v1/ops/orders/",
    "/api/v1/ops/tiers/",
    "/api/v1/ops/distributors/",
    "/api/v1/ops/refunds/",
    "/api/v1/ops/withdrawals/",
    "/api/v1/ops/products/",
]


@pytest.mark.parametrize("url", LISTS)
def test_an_empty_list_has_page_one_and_nothing_past_it(user_client, url):
    first = user_client.get(url)
    assert first.status_code == 200 and first.json()["count"] == 0 and first.json()["results"] == []
    past = user_client.get(url, {"page": 2})
    assert past.status_code == 404 and past.json()["code"] == "not_found", past.content


@pytest.mark.parametrize("url", OPS_LISTS)
def test_ops_lists_answer_404_past_the_end(operator_client, url):
    assert operator_client.get(url).status_code == 200
    assert operator_client.get(url, {"page": 3}).json()["code"] == "not_found"


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "١", "9999999999"])
@pytest.mark.parametrize("param", ["page", "page_size"])
def test_a_page_that_is_not_a_whole_number_from_one_is_400(user_client, param, page):
    res = user_client.get("/api/v1/me/following/", {param: page})
    assert res.status_code == 400 and list(res.json()["extra"]["fields"]) == [param], res.content


def test_the_last_page_is_there_and_the_next_is_not(user_client, user):
    for _ in range(3):
        follow_create(follower=user, followee=UserFactory())
    body = user_client.get("/api/v1/me/following/", {"page": 2, "page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 1 and body["next"] is None
    res = user_client.get("/api/v1/me/following/", {"page": 3, "page_size": 2})
    assert res.status_code == 404 and res.json()["extra"] == {}
    assert len(user_client.get("/api/v1/me/following/", {"page_size": 1000}).json()["results"]) == 3  # capped


def test_the_public_product_list_is_404_past_the_end_too(api_client, db):
    make_sku()
    assert api_client.get("/api/v1/products/", {"page_size": 1}).json()["count"] == 1
    res = api_client.get("/api/v1/products/", {"page": 2, "page_size": 1})
    assert res.status_code == 404 and res.json()["code"] == "not_found"
    empty = api_client.get("/api/v1/products/", {"q": "no such thing"})
    assert empty.status_code == 200 and empty.json()["results"] == []
