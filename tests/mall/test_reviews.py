"""Reviews: only the buyer of a completed order line, once per line; hide/unhide moves the counters."""

from __future__ import annotations

import pytest

from mall.models import OrderStatus, Product, Review
from mall.services import reviews as review_services
from tests.concurrency import run_at_once
from tests.factories import UserFactory

from .factories import ProductFactory, SkuFactory, order_completed_for, order_for

pytestmark = pytest.mark.django_db


def url(product_id: int) -> str:
    return f"/api/v1/products/{product_id}/reviews/"


@pytest.fixture
def sku():
    return SkuFactory(product=ProductFactory(title="龙井"), name="250g", price_fen=1990)


@pytest.fixture
def item(user, sku):
    return order_completed_for(user, sku).items.get()


def counters(product_id: int) -> tuple[int, int]:
    p = Product.objects.get(pk=product_id)
    return p.review_count, p.rating_sum


def post(client, product_id, **body):
    return client.post(url(product_id), body, format="json")


def test_buyer_reviews_a_completed_order_line(user_client, user, sku, item, api_client):
    res = post(
        user_client,
        sku.product_id,
        order_item_id=item.pk,
        rating=5,
        text="香！",
        images=["https://img.example.com/r1.png"],
    )
    assert res.status_code == 201, res.json()
    body = res.json()
    assert body["rating"] == 5 and body["text"] == "香！" and body["sku_name"] == "250g"
    assert body["images"] == ["https://img.example.com/r1.png"]
    assert body["user"] == {"nickname": user.nickname, "avatar_url": user.avatar_url}
    assert counters(sku.product_id) == (1, 5)
    listed = api_client.get(url(sku.product_id)).json()
    assert listed["count"] == 1
    assert listed["results"][0]["id"] == body["id"]
    assert set(listed["results"][0]) == {"id", "rating", "text", "images", "sku_name", "user", "created_at"}


def test_list_is_public_newest_first_visible_only_and_paginated(api_client, user, sku):
    made = []
    for rating in (1, 2, 3, 4):
        made.append(
            review_services.review_create(
                user=user,
                product_id=sku.product_id,
                order_item_id=order_completed_for(user, sku).items.get().pk,
                rating=rating,
            )
        )
    review_services.review_hide(review_id=made[1].pk)
    body = api_client.get(url(sku.product_id), {"page_size": 2}).json()
    assert body["count"] == 3
    assert [r["rating"] for r in body["results"]] == [4, 3]
    assert body["next"]
    assert [r["rating"] for r in api_client.get(body["next"]).json()["results"]] == [1]


def test_reviews_of_unknown_or_off_shelf_products_are_404(api_client, sku):
    assert api_client.get(url(987654)).status_code == 404
    Product.objects.filter(pk=sku.product_id).update(on_shelf=False)
    assert api_client.get(url(sku.product_id)).status_code == 404


def test_anonymous_cannot_post(api_client, sku, item):
    res = post(api_client, sku.product_id, order_item_id=item.pk, rating=5)
    assert res.status_code == 401
    assert not Review.objects.exists()


def test_another_users_order_line_is_404(client_for, sku, item):
    stranger = client_for(UserFactory())
    res = post(stranger, sku.product_id, order_item_id=item.pk, rating=1, text="差评")
    assert res.status_code == 404
    assert res.json()["code"] == "not_found"
    assert not Review.objects.exists()
    assert counters(sku.product_id) == (0, 0)


def test_forged_ids_are_404(user_client, sku, item):
    assert post(user_client, sku.product_id, order_item_id=10**12, rating=5).status_code == 404
    assert post(user_client, 10**12, order_item_id=item.pk, rating=5).status_code == 404
    assert not Review.objects.exists()


def test_order_line_of_another_product_is_refused(user_client, user, sku, item):
    other = SkuFactory()
    res = post(user_client, other.product_id, order_item_id=item.pk, rating=5)
    assert res.status_code == 400
    assert "order_item_id" in res.json()["extra"]["fields"]
    assert not Review.objects.exists()
    assert counters(other.product_id) == (0, 0)


@pytest.mark.parametrize(
    "status, completed",
    [
        (OrderStatus.PENDING_PAYMENT, False),
        (OrderStatus.PAID, False),
        (OrderStatus.SHIPPED, False),
        (OrderStatus.CLOSED, False),
        (OrderStatus.REFUNDING, True),
        (OrderStatus.REFUNDED, True),
        (OrderStatus.PARTIALLY_REFUNDED, False),  # refunded before it was ever completed
    ],
)
def test_orders_not_completed_cannot_review(user_client, user, sku, status, completed):
    item = order_for(user, sku, status=status, completed=completed).items.get()
    res = post(user_client, sku.product_id, order_item_id=item.pk, rating=5)
    assert res.status_code == 409
    assert res.json()["code"] == "order_not_completed"
    assert res.json()["extra"]["status"] == status
    assert not Review.objects.exists()
    assert counters(sku.product_id) == (0, 0)


def test_partially_refunded_after_completion_may_review(user_client, user, sku):
    item = order_for(user, sku, status=OrderStatus.PARTIALLY_REFUNDED, completed=True).items.get()
    assert post(user_client, sku.product_id, order_item_id=item.pk, rating=3).status_code == 201


def test_second_review_of_a_line_is_409(user_client, user, sku, item):
    assert post(user_client, sku.product_id, order_item_id=item.pk, rating=5).status_code == 201
    res = post(user_client, sku.product_id, order_item_id=item.pk, rating=1)
    assert res.status_code == 409
    assert res.json()["code"] == "already_reviewed"
    assert Review.objects.count() == 1
    assert counters(sku.product_id) == (1, 5)


def test_each_order_line_may_be_reviewed_once(user_client, user, sku, item):
    second = order_completed_for(user, sku).items.get()
    assert post(user_client, sku.product_id, order_item_id=item.pk, rating=5).status_code == 201
    assert post(user_client, sku.product_id, order_item_id=second.pk, rating=2).status_code == 201
    assert counters(sku.product_id) == (2, 7)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"rating": 5}, "order_item_id"),
        ({"order_item_id": "1", "rating": 5}, "order_item_id"),
        ({"order_item_id": 1.0, "rating": 5}, "order_item_id"),
        ({"order_item_id": True, "rating": 5}, "order_item_id"),
        ({"order_item_id": -1, "rating": 5}, "order_item_id"),
        ({"order_item_id": 10**30, "rating": 5}, "order_item_id"),
        ({}, "rating"),
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": -3}, "rating"),
        ({"rating": 4.5}, "rating"),
        ({"rating": "5"}, "rating"),
        ({"rating": True}, "rating"),
        ({"rating": None}, "rating"),
        ({"rating": 5, "text": "x" * 2001}, "text"),
        ({"rating": 5, "text": 123}, "text"),
        ({"rating": 5, "images": "https://img.example.com/1.png"}, "images"),
        ({"rating": 5, "images": ["not a url"]}, "images"),
        ({"rating": 5, "images": ["javascript:alert(1)"]}, "images"),
        ({"rating": 5, "images": [f"https://img.example.com/{i}.png" for i in range(10)]}, "images"),
        ({"rating": 5, "images": ["https://img.example.com/" + "a" * 600]}, "images"),
    ],
)
def test_bad_review_input_is_400_and_writes_nothing(user_client, sku, item, body, field):
    payload = {"order_item_id": item.pk, **body} if field != "order_item_id" else body
    res = user_client.post(url(sku.product_id), payload, format="json")
    assert res.status_code == 400, res.json()
    assert res.json()["code"] == "invalid"
    assert field in res.json()["extra"]["fields"]
    assert not Review.objects.exists()
    assert counters(sku.product_id) == (0, 0)


def test_ftp_image_urls_are_refused_by_the_service(user_client, sku, item):
    res = post(user_client, sku.product_id, order_item_id=item.pk, rating=5, images=["ftp://img.example.com/1.png"])
    assert res.status_code == 400
    assert not Review.objects.exists()


# --- operators hide and unhide ------------------------------------------------------------


@pytest.fixture
def review(user, sku, item):
    return review_services.review_create(user=user, product_id=sku.product_id, order_item_id=item.pk, rating=4)


def test_operator_hides_and_unhides(operator_client, api_client, sku, review):
    res = operator_client.post(f"/api/v1/ops/reviews/{review.pk}/hide/")
    assert res.status_code == 200 and res.json()["is_hidden"] is True
    assert counters(sku.product_id) == (0, 0)
    assert api_client.get(url(sku.product_id)).json()["count"] == 0
    # hiding again changes nothing
    assert operator_client.post(f"/api/v1/ops/reviews/{review.pk}/hide/").status_code == 200
    assert counters(sku.product_id) == (0, 0)
    res = operator_client.post(f"/api/v1/ops/reviews/{review.pk}/unhide/")
    assert res.status_code == 200 and res.json()["is_hidden"] is False
    assert operator_client.post(f"/api/v1/ops/reviews/{review.pk}/unhide/").status_code == 200
    assert counters(sku.product_id) == (1, 4)
    listed = operator_client.get("/api/v1/ops/reviews/", {"product": sku.product_id, "is_hidden": "false"}).json()
    assert [r["id"] for r in listed["results"]] == [review.pk]
    assert operator_client.get("/api/v1/ops/reviews/", {"is_hidden": "true"}).json()["count"] == 0


def test_hide_unknown_review_is_404(operator_client):
    assert operator_client.post("/api/v1/ops/reviews/987654/hide/").status_code == 404


def test_hide_needs_the_permission(api_client, user_client, client_for, review, sku):
    from django.contrib.auth.models import Permission

    assert api_client.post(f"/api/v1/ops/reviews/{review.pk}/hide/").status_code == 401
    assert user_client.post(f"/api/v1/ops/reviews/{review.pk}/hide/").status_code == 403
    staff = UserFactory(is_staff=True)
    staff_client = client_for(staff)
    assert staff_client.post(f"/api/v1/ops/reviews/{review.pk}/hide/").status_code == 403
    assert staff_client.get("/api/v1/ops/reviews/").status_code == 403
    assert counters(sku.product_id) == (1, 4)
    staff.user_permissions.add(Permission.objects.get(codename="change_review"))
    assert client_for(staff).post(f"/api/v1/ops/reviews/{review.pk}/hide/").status_code == 200
    assert counters(sku.product_id) == (0, 0)


# --- races (PostgreSQL) -------------------------------------------------------------------


def _race(n, fn):
    return run_at_once(fn, n, domain_errors=False)  # any exception in a thread fails the test


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_reviews_of_one_line_make_one(client_for):
    user = UserFactory()
    sku = SkuFactory()
    item = order_completed_for(user, sku).items.get()
    clients = [client_for(user) for _ in range(10)]
    statuses = _race(
        10, lambda i: post(clients[i], sku.product_id, order_item_id=item.pk, rating=1 + i % 5).status_code
    )
    assert sorted(statuses) == [201] + [409] * 9
    assert Review.objects.filter(order_item=item).count() == 1
    review = Review.objects.get()
    assert counters(sku.product_id) == (1, review.rating)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_hides_move_the_counters_once():
    user = UserFactory()
    sku = SkuFactory()
    reviews = [
        review_services.review_create(
            user=user, product_id=sku.product_id, order_item_id=order_completed_for(user, sku).items.get().pk, rating=5
        )
        for _ in range(2)
    ]
    _race(10, lambda i: review_services.review_hide(review_id=reviews[0].pk))
    assert counters(sku.product_id) == (1, 5)
    _race(10, lambda i: review_services.review_unhide(review_id=reviews[0].pk))
    assert counters(sku.product_id) == (2, 10)
