"""Orders: creation takes stock atomically, bad input changes nothing, cancel returns stock."""
from __future__ import annotations

import pytest

from mall.models import Order, OrderEvent, OrderItem, OrderStatus, Sku
from tests.concurrency import run_at_once
from tests.factories import UserFactory

from .orders_helpers import ADDRESS, make_sku, order_payload

pytestmark = pytest.mark.django_db


def _counts():
    return Order.objects.count(), OrderItem.objects.count(), OrderEvent.objects.count()


def test_create_order_snapshots_prices_and_takes_stock(user_client, user):
    tea = make_sku(price_fen=1990, stock=10)
    cup = make_sku(price_fen=500, stock=3, title="杯子", name="白")
    res = user_client.post("/api/v1/orders/", order_payload((tea, 2), (cup, 3), share_code="abc123"), format="json")
    assert res.status_code == 201, res.json()
    body = res.json()
    assert body["status"] == "pending_payment"
    assert body["total_fen"] == 2 * 1990 + 3 * 500
    assert body["share_code"] == "abc123"
    assert body["distributor"] is None
    assert [(i["sku_id"], i["quantity"], i["amount_fen"]) for i in body["items"]] == [
        (tea.pk, 2, 3980), (cup.pk, 3, 1500)
    ]
    assert len(body["no"]) == 16 and body["no"].isdigit()
    tea.refresh_from_db(), cup.refresh_from_db()
    assert (tea.stock, cup.stock) == (8, 0)
    # The price is a snapshot: changing the SKU later does not change the order.
    Sku.objects.filter(pk=tea.pk).update(price_fen=9999)
    detail = user_client.get(f"/api/v1/orders/{body['no']}/").json()
    assert detail["items"][0]["price_fen"] == 1990
    assert OrderEvent.objects.filter(order__no=body["no"], kind="created").count() == 1


def test_order_numbers_are_unique_and_not_sequential(user):
    from mall.services.orders import order_create

    sku = make_sku(stock=50)
    nos = [order_create(user=user, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS).no for _ in range(20)]
    assert len(set(nos)) == 20
    gaps = {int(b) - int(a) for a, b in zip(nos, nos[1:], strict=False)}
    assert gaps != {1}


def test_out_of_stock_takes_nothing(user_client):
    plenty = make_sku(stock=10)
    scarce = make_sku(stock=1, title="限量")
    before = _counts()
    res = user_client.post("/api/v1/orders/", order_payload((plenty, 2), (scarce, 2)), format="json")
    assert res.status_code == 409
    assert res.json()["code"] == "out_of_stock"
    assert res.json()["extra"]["sku_id"] == scarce.pk
    plenty.refresh_from_db(), scarce.refresh_from_db()
    assert (plenty.stock, scarce.stock) == (10, 1)  # the first item's stock came back too
    assert _counts() == before


BAD_ITEMS = [
    pytest.param([], "invalid", id="no-items"),
    pytest.param([{"sku_id": "SKU", "quantity": 0}], "invalid", id="zero-quantity"),
    pytest.param([{"sku_id": "SKU", "quantity": -1}], "invalid", id="negative-quantity"),
    pytest.param([{"sku_id": "SKU", "quantity": 10**9}], "invalid", id="huge-quantity"),
    pytest.param([{"sku_id": "SKU", "quantity": 1.5}], "invalid", id="float-quantity"),
    pytest.param([{"sku_id": "SKU", "quantity": 1.0}], "invalid", id="float-integral-quantity"),
    pytest.param([{"sku_id": "SKU", "quantity": "1"}], "invalid", id="string-quantity"),
    pytest.param([{"sku_id": "SKU", "quantity": True}], "invalid", id="bool-quantity"),
    pytest.param([{"sku_id": "SKU"}], "invalid", id="missing-quantity"),
    pytest.param([{"quantity": 1}], "invalid", id="missing-sku"),
    pytest.param([{"sku_id": 987654321, "quantity": 1}], "sku_unavailable", id="unknown-sku"),
    pytest.param([{"sku_id": -5, "quantity": 1}], "invalid", id="negative-sku"),
    pytest.param([{"sku_id": 2**70, "quantity": 1}], "invalid", id="huge-sku"),
    pytest.param([{"sku_id": "SKU", "quantity": 1}, {"sku_id": "SKU", "quantity": 2}], "duplicate_sku", id="dup"),
    pytest.param([{"sku_id": "SKU", "quantity": 1}] * 51, "invalid", id="too-many-items"),
    pytest.param("not-a-list", "invalid", id="not-a-list"),
]


@pytest.mark.parametrize(("items", "code"), BAD_ITEMS)
def test_bad_items_are_refused_and_change_nothing(user_client, items, code):
    sku = make_sku(stock=5)
    if isinstance(items, list):
        items = [{k: (sku.pk if v == "SKU" else v) for k, v in item.items()} for item in items]
    before = _counts()
    res = user_client.post("/api/v1/orders/", {"items": items, "address": ADDRESS}, format="json")
    assert res.status_code == 400, res.json()
    assert res.json()["code"] == code
    sku.refresh_from_db()
    assert sku.stock == 5
    assert _counts() == before


@pytest.mark.parametrize("which", ["off_shelf", "inactive"])
def test_unavailable_skus_are_refused(user_client, which):
    sku = make_sku(stock=5, on_shelf=which != "off_shelf", is_active=which != "inactive")
    res = user_client.post("/api/v1/orders/", order_payload((sku, 1)), format="json")
    assert res.status_code == 400
    assert res.json()["code"] == "sku_unavailable"
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    "address",
    [
        pytest.param({k: v for k, v in ADDRESS.items() if k != "phone"}, id="missing-phone"),
        pytest.param({**ADDRESS, "name": ""}, id="blank-name"),
        pytest.param({**ADDRESS, "phone": "call me"}, id="bad-phone"),
        pytest.param({**ADDRESS, "detail": "x" * 201}, id="huge-detail"),
        pytest.param("somewhere", id="not-an-object"),
        pytest.param(None, id="null"),
    ],
)
def test_bad_address_is_refused(user_client, address):
    sku = make_sku(stock=5)
    res = user_client.post("/api/v1/orders/", {"items": [{"sku_id": sku.pk, "quantity": 1}], "address": address},
                           format="json")
    assert res.status_code == 400
    assert res.json()["code"] == "invalid"
    assert "address" in res.json()["extra"]["fields"]
    assert Order.objects.count() == 0


def test_anonymous_cannot_order(api_client):
    sku = make_sku(stock=5)
    res = api_client.post("/api/v1/orders/", order_payload((sku, 1)), format="json")
    assert res.status_code == 401
    assert Order.objects.count() == 0


def test_idempotency_key_creates_one_order(user_client):
    sku = make_sku(stock=5)
    first = user_client.post("/api/v1/orders/", order_payload((sku, 1)), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = user_client.post("/api/v1/orders/", order_payload((sku, 1)), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = user_client.post("/api/v1/orders/", order_payload((sku, 2)), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1
    sku.refresh_from_db()
    assert sku.stock == 4


def test_list_and_detail_show_only_my_orders(user_client, user, client_for):
    from mall.services.orders import order_create

    sku = make_sku(stock=10)
    mine = order_create(user=user, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS)
    stranger = UserFactory()
    theirs = order_create(user=stranger, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS)
    listed = user_client.get("/api/v1/orders/").json()
    assert [o["no"] for o in listed["results"]] == [mine.no]
    assert listed["count"] == 1
    for path in ("", "pay/", "cancel/", "confirm-receipt/", "refunds/"):
        method = user_client.get if path == "" else user_client.post
        res = method(f"/api/v1/orders/{theirs.no}/{path}", {"amount_fen": 1, "reason": "x"}, format="json")
        assert res.status_code == 404, (path, res.json())
    theirs.refresh_from_db()
    assert theirs.status == OrderStatus.PENDING_PAYMENT
    assert user_client.get("/api/v1/orders/?status=bogus").status_code == 400
    assert user_client.get("/api/v1/orders/?status=closed").json()["count"] == 0


def test_list_loads_items_once_per_page(user_client, user, django_assert_max_num_queries):
    from mall.services.orders import order_create

    sku = make_sku(stock=100)
    for _ in range(15):
        order_create(user=user, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS)
    with django_assert_max_num_queries(6):  # auth, count, page, items (+ throttling/cache misses)
        res = user_client.get("/api/v1/orders/")
    assert len(res.json()["results"]) == 15


def test_cancel_returns_stock_once(user_client, user, django_capture_on_commit_callbacks):
    sku = make_sku(stock=5)
    no = user_client.post("/api/v1/orders/", order_payload((sku, 3)), format="json").json()["no"]
    with django_capture_on_commit_callbacks(execute=True):
        res = user_client.post(f"/api/v1/orders/{no}/cancel/")
    assert res.status_code == 200
    assert res.json()["status"] == "closed"
    sku.refresh_from_db()
    assert sku.stock == 5
    again = user_client.post(f"/api/v1/orders/{no}/cancel/")
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"
    sku.refresh_from_db()
    assert sku.stock == 5
    assert user_client.post(f"/api/v1/orders/{no}/pay/").json()["code"] == "order_not_payable"


def test_transitions_outside_the_table_are_refused(user):
    from core.errors import InvalidTransition
    from mall.services.order_state import order_move as order_transition
    from mall.services.orders import order_create, order_lock

    sku = make_sku(stock=5)
    order = order_create(user=user, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS)
    for target in (OrderStatus.SHIPPED, OrderStatus.COMPLETED, OrderStatus.REFUNDED, OrderStatus.REFUNDING):
        with pytest.raises(InvalidTransition):
            order_transition(order=order_lock(no=order.no), to=target, kind="test")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert not OrderEvent.objects.filter(order=order, kind="test").exists()


THREADS = 40  # at most this many connections at once (PostgreSQL's default limit is 100)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_100_buyers_race_for_10_units(client_for):
    sku = make_sku(stock=10)
    clients = [client_for(UserFactory()) for _ in range(100)]
    results: list[tuple[int, str]] = [(0, "")] * len(clients)

    def buy(first: int) -> None:
        for i in range(first, len(clients), THREADS):  # 100 buyers, THREADS at a time
            res = clients[i].post("/api/v1/orders/", order_payload((sku, 1)), format="json")
            results[i] = (res.status_code, res.json().get("code", ""))

    run_at_once(buy, THREADS, domain_errors=False)
    statuses = [status for status, _ in results]
    assert statuses.count(201) == 10
    assert statuses.count(409) == 90
    assert {code for status, code in results if status == 409} == {"out_of_stock"}
    sku.refresh_from_db()
    assert sku.stock == 0
    assert Order.objects.count() == 10
    assert sum(OrderItem.objects.values_list("quantity", flat=True)) == 10
    assert Order.objects.values("user").distinct().count() == 10
