"""Operators' product CRUD (/api/v1/ops/products/) and stock adjustments."""

from __future__ import annotations

import copy

import pytest
from django.contrib.auth.models import Permission

from mall.models import Product, Sku
from mall.services import catalog as catalog_services
from tests.concurrency import run_at_once
from tests.factories import UserFactory

from .factories import CategoryFactory, ProductFactory, SkuFactory, order_completed_for

pytestmark = pytest.mark.django_db

LIST = "/api/v1/ops/products/"

GOOD = {
    "title": "明前龙井",
    "description": "杭州西湖",
    "images": ["https://img.example.com/1.png", "http://img.example.com/2.png"],
    "on_shelf": True,
    "skus": [{"name": "250g", "price_fen": 1990, "stock": 10}, {"name": "500g", "price_fen": 3500, "stock": 0}],
}


def detail(pk: int) -> str:
    return f"{LIST}{pk}/"


def snapshot() -> tuple:
    return (
        list(Product.objects.order_by("pk").values_list("pk", "title", "on_shelf", "images", "category_id")),
        list(Sku.objects.order_by("pk").values_list("pk", "name", "price_fen", "stock", "is_active")),
    )


def test_create_with_nested_skus(operator_client):
    cat = CategoryFactory()
    res = operator_client.post(LIST, {**GOOD, "category": cat.pk}, format="json")
    assert res.status_code == 201, res.json()
    body = res.json()
    assert body["title"] == "明前龙井" and body["on_shelf"] is True and body["category"] == cat.pk
    assert [(s["name"], s["price_fen"], s["stock"], s["is_active"]) for s in body["skus"]] == [
        ("250g", 1990, 10, True),
        ("500g", 3500, 0, True),
    ]
    product = Product.objects.get(pk=body["id"])
    assert product.images == GOOD["images"]
    assert operator_client.get(detail(product.pk)).json() == body


def test_create_defaults_off_shelf(operator_client):
    res = operator_client.post(LIST, {"title": "t", "skus": [{"name": "a", "price_fen": 1, "stock": 0}]}, format="json")
    assert res.status_code == 201
    assert res.json()["on_shelf"] is False and res.json()["images"] == []


def _bad(**change):
    body = copy.deepcopy(GOOD)
    for key, value in change.items():
        if value is KeyError:
            body.pop(key)
        else:
            body[key] = value
    return body


def _bad_sku(**change):
    sku = {"name": "x", "price_fen": 100, "stock": 1}
    for key, value in change.items():
        if value is KeyError:
            sku.pop(key)
        else:
            sku[key] = value
    return _bad(skus=[sku])


BAD_BODIES = [
    ("no title", _bad(title=KeyError), "title"),
    ("blank title", _bad(title="   "), "title"),
    ("long title", _bad(title="长" * 121), "title"),
    ("title not text", _bad(title=["a"]), "title"),
    ("no skus", _bad(skus=KeyError), "skus"),
    ("empty skus", _bad(skus=[]), "skus"),
    ("skus not a list", _bad(skus={"name": "a"}), "skus"),
    ("too many skus", _bad(skus=[{"name": f"s{i}", "price_fen": 1, "stock": 1} for i in range(51)]), "skus"),
    ("duplicate sku names", _bad(skus=[{"name": "a", "price_fen": 1, "stock": 1}] * 2), "skus"),
    (
        "duplicate names after trim",
        _bad(skus=[{"name": "a", "price_fen": 1, "stock": 1}, {"name": " a ", "price_fen": 2, "stock": 1}]),
        "skus",
    ),
    ("sku without name", _bad_sku(name=KeyError), "skus"),
    ("sku long name", _bad_sku(name="n" * 65), "skus"),
    ("sku without price", _bad_sku(price_fen=KeyError), "skus"),
    ("sku without stock", _bad_sku(stock=KeyError), "skus"),
    ("zero price", _bad_sku(price_fen=0), "skus"),
    ("negative price", _bad_sku(price_fen=-100), "skus"),
    ("huge price", _bad_sku(price_fen=10**9 + 1), "skus"),
    ("float price", _bad_sku(price_fen=19.9), "skus"),
    ("integral float price", _bad_sku(price_fen=100.0), "skus"),
    ("string price", _bad_sku(price_fen="100"), "skus"),
    ("bool price", _bad_sku(price_fen=True), "skus"),
    ("null price", _bad_sku(price_fen=None), "skus"),
    ("negative stock", _bad_sku(stock=-1), "skus"),
    ("huge stock", _bad_sku(stock=10**7 + 1), "skus"),
    ("float stock", _bad_sku(stock=1.5), "skus"),
    ("string stock", _bad_sku(stock="5"), "skus"),
    ("bool stock", _bad_sku(stock=False), "skus"),
    ("sku id on create", _bad_sku(id=1), "skus"),
    ("images not a list", _bad(images="https://img.example.com/1.png"), "images"),
    ("too many images", _bad(images=[f"https://img.example.com/{i}.png" for i in range(10)]), "images"),
    ("image not a url", _bad(images=["not a url"]), "images"),
    ("javascript image", _bad(images=["javascript:alert(1)"]), "images"),
    ("ftp image", _bad(images=["ftp://img.example.com/1.png"]), "images"),
    ("long image url", _bad(images=["https://img.example.com/" + "a" * 600]), "images"),
    ("unknown category", _bad(category=987654), "category"),
    ("category as text", _bad(category="1"), "category"),
    ("on_shelf as text", _bad(on_shelf="yes"), "on_shelf"),
    ("on_shelf as int", _bad(on_shelf=1), "on_shelf"),
    ("sort as float", _bad(sort=1.5), "sort"),
]


@pytest.mark.parametrize("body, field", [(b, f) for _, b, f in BAD_BODIES], ids=[name for name, _, _ in BAD_BODIES])
def test_bad_create_is_400_and_creates_nothing(operator_client, body, field):
    before = snapshot()
    res = operator_client.post(LIST, body, format="json")
    assert res.status_code == 400, res.json()
    assert res.json()["code"] == "invalid"
    assert field in res.json()["extra"]["fields"], res.json()
    assert snapshot() == before


def test_not_json_is_400(operator_client):
    res = operator_client.post(LIST, "{not json", content_type="application/json")
    assert res.status_code == 400
    assert not Product.objects.exists()


# --- update -------------------------------------------------------------------------------


@pytest.fixture
def product(operator_client):
    return Product.objects.get(pk=operator_client.post(LIST, GOOD, format="json").json()["id"])


def test_put_matches_skus_by_id_creates_new_and_deactivates_missing(operator_client, product):
    a, b = product.skus.order_by("pk")
    res = operator_client.put(
        detail(product.pk),
        {
            "title": "新名",
            "skus": [
                {"id": a.pk, "name": "250g 礼盒", "price_fen": 2990, "stock": 3},
                {"name": "1kg", "price_fen": 9900, "stock": 2},
            ],
        },
        format="json",
    )
    assert res.status_code == 200, res.json()
    body = res.json()
    assert body["title"] == "新名"
    assert body["on_shelf"] is False  # PUT replaces: an omitted on_shelf is the default
    assert body["images"] == []
    skus = {s["name"]: s for s in body["skus"]}
    assert skus["250g 礼盒"] == {**skus["250g 礼盒"], "id": a.pk, "price_fen": 2990, "stock": 3, "is_active": True}
    assert skus["500g"]["id"] == b.pk and skus["500g"]["is_active"] is False
    assert skus["1kg"]["is_active"] is True
    assert Sku.objects.filter(pk=b.pk).exists()  # deactivated, not deleted


def test_patch_changes_only_what_it_sends(operator_client, product):
    res = operator_client.patch(detail(product.pk), {"on_shelf": False}, format="json")
    assert res.status_code == 200
    product.refresh_from_db()
    assert product.on_shelf is False and product.title == "明前龙井" and product.images == GOOD["images"]
    assert product.skus.filter(is_active=True).count() == 2


def test_patch_sku_without_price_or_stock_keeps_them(operator_client, product):
    a, b = product.skus.order_by("pk")
    Sku.objects.filter(pk=a.pk).update(stock=4)  # orders took some
    res = operator_client.patch(
        detail(product.pk), {"skus": [{"id": a.pk, "name": "250g"}, {"id": b.pk, "name": "半斤"}]}, format="json"
    )
    assert res.status_code == 200, res.json()
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.price_fen, a.stock, b.name, b.price_fen) == (1990, 4, "半斤", 3500)


def test_a_deactivated_sku_comes_back_when_listed_again(operator_client, product):
    a, b = product.skus.order_by("pk")
    operator_client.patch(detail(product.pk), {"skus": [{"id": a.pk, "name": "250g"}]}, format="json")
    operator_client.patch(
        detail(product.pk), {"skus": [{"id": a.pk, "name": "250g"}, {"id": b.pk, "name": "500g"}]}, format="json"
    )
    b.refresh_from_db()
    assert b.is_active is True


BAD_UPDATES = [
    ("empty skus", {"skus": []}),
    ("blank title", {"title": ""}),
    (
        "duplicate names",
        {"skus": [{"name": "a", "price_fen": 1, "stock": 1}, {"name": "a", "price_fen": 2, "stock": 1}]},
    ),
    ("new sku without price", {"skus": [{"name": "a", "stock": 1}]}),
    ("sku without name", {"skus": [{"price_fen": 1, "stock": 1}]}),
    ("float price", {"skus": [{"name": "a", "price_fen": 1.0, "stock": 1}]}),
    ("negative stock", {"skus": [{"name": "a", "price_fen": 1, "stock": -5}]}),
    ("string id", {"skus": [{"id": "1", "name": "a"}]}),
    ("forged sku id", {"skus": [{"id": 10**12, "name": "a"}]}),
    ("on_shelf as null", {"on_shelf": None}),
]


@pytest.mark.parametrize("body", [b for _, b in BAD_UPDATES], ids=[n for n, _ in BAD_UPDATES])
def test_bad_update_is_400_and_changes_nothing(operator_client, product, body):
    before = snapshot()
    res = operator_client.patch(detail(product.pk), body, format="json")
    assert res.status_code == 400, res.json()
    assert res.json()["code"] == "invalid"
    assert snapshot() == before


def test_another_products_sku_id_is_refused(operator_client, product):
    other = SkuFactory(name="别人的", price_fen=1, stock=1)
    before = snapshot()
    res = operator_client.patch(detail(product.pk), {"skus": [{"id": other.pk, "name": "偷来的"}]}, format="json")
    assert res.status_code == 400
    assert "skus" in res.json()["extra"]["fields"]
    assert snapshot() == before
    other.refresh_from_db()
    assert (other.product_id, other.name) == (other.product_id, "别人的")


def test_put_needs_title_and_skus(operator_client, product):
    before = snapshot()
    res = operator_client.put(detail(product.pk), {"title": "只有标题"}, format="json")
    assert res.status_code == 400 and "skus" in res.json()["extra"]["fields"]
    assert snapshot() == before


def test_unknown_product_is_404(operator_client):
    assert operator_client.get(detail(987654)).status_code == 404
    assert operator_client.patch(detail(987654), {"title": "x"}, format="json").status_code == 404
    assert operator_client.delete(detail(987654)).status_code == 404


# --- list, delete ---------------------------------------------------------------------------


def test_list_includes_off_shelf_and_filters(operator_client):
    tea = CategoryFactory()
    on = ProductFactory(title="绿茶", category=tea)
    SkuFactory(product=on, stock=0)
    off = ProductFactory(title="红茶", on_shelf=False)
    SkuFactory(product=off, stock=5)

    def ids(**params):
        res = operator_client.get(LIST, params)
        assert res.status_code == 200, res.json()
        return [row["id"] for row in res.json()["results"]]

    assert ids() == [off.pk, on.pk]
    assert ids(on_shelf="false") == [off.pk]
    assert ids(on_shelf="true") == [on.pk]
    assert ids(category=tea.pk) == [on.pk]
    assert ids(q="红") == [off.pk]
    assert ids(has_stock="true") == [off.pk]
    assert ids(has_stock="false") == [on.pk]
    assert operator_client.get(LIST, {"on_shelf": "maybe"}).status_code == 400
    assert operator_client.get(LIST, {"category": "x"}).status_code == 400


def test_delete_removes_a_never_ordered_product(operator_client, product):
    res = operator_client.delete(detail(product.pk))
    assert res.status_code == 200
    assert res.json() == {"id": product.pk, "deleted": True, "on_shelf": False}
    assert not Product.objects.filter(pk=product.pk).exists()
    assert not Sku.objects.filter(product_id=product.pk).exists()


def test_delete_of_an_ordered_product_takes_it_off_the_shelf(operator_client, product, user):
    order_completed_for(user, product.skus.first())
    res = operator_client.delete(detail(product.pk))
    assert res.status_code == 200
    assert res.json() == {"id": product.pk, "deleted": False, "on_shelf": False}
    product.refresh_from_db()
    assert product.on_shelf is False
    assert product.skus.count() == 2


# --- permissions ------------------------------------------------------------------------------


def _perm(codename):
    return Permission.objects.get(content_type__app_label="mall", codename=codename)


def test_anonymous_is_401_and_normal_users_403(api_client, user_client, product):
    before = snapshot()
    for client, status in ((api_client, 401), (user_client, 403)):
        assert client.get(LIST).status_code == status
        assert client.post(LIST, GOOD, format="json").status_code == status
        assert client.get(detail(product.pk)).status_code == status
        assert client.patch(detail(product.pk), {"title": "x"}, format="json").status_code == status
        assert client.delete(detail(product.pk)).status_code == status
        sku = product.skus.first()
        assert (
            client.post(f"/api/v1/ops/skus/{sku.pk}/adjust-stock/", {"delta": 5}, format="json").status_code == status
        )
    assert snapshot() == before


@pytest.mark.parametrize(
    "method, path, body, codename",
    [
        ("get", "list", None, "view_product"),
        ("get", "detail", None, "view_product"),
        ("post", "list", GOOD, "add_product"),
        ("put", "detail", GOOD, "change_product"),
        ("patch", "detail", {"title": "改"}, "change_product"),
        ("delete", "detail", None, "delete_product"),
        ("post", "stock", {"delta": 1}, "change_product"),
    ],
)
def test_staff_need_the_fitting_permission(client_for, product, method, path, body, codename):
    staff = UserFactory(is_staff=True)
    url = {
        "list": LIST,
        "detail": detail(product.pk),
        "stock": f"/api/v1/ops/skus/{product.skus.first().pk}/adjust-stock/",
    }[path]
    # every mall product permission but the one this call needs
    others = [c for c in ("view_product", "add_product", "change_product", "delete_product") if c != codename]
    staff.user_permissions.add(*[_perm(c) for c in others])
    before = snapshot()
    res = getattr(client_for(staff), method)(url, body, format="json")
    assert res.status_code == 403, res.content
    assert res.json()["code"] == "permission_denied"
    assert snapshot() == before
    staff.user_permissions.add(_perm(codename))
    res = getattr(client_for(staff), method)(url, body, format="json")
    assert res.status_code in (200, 201), res.content


def test_a_non_staff_user_with_the_permission_is_still_403(client_for, product):
    user = UserFactory()
    user.user_permissions.add(_perm("view_product"))
    assert client_for(user).get(LIST).status_code == 403


# --- stock ------------------------------------------------------------------------------------


def test_adjust_stock(operator_client, product):
    sku = product.skus.order_by("pk").first()  # 10 in stock
    url = f"/api/v1/ops/skus/{sku.pk}/adjust-stock/"
    assert operator_client.post(url, {"delta": 5}, format="json").json() == {"id": sku.pk, "stock": 15}
    assert operator_client.post(url, {"delta": -15}, format="json").json() == {"id": sku.pk, "stock": 0}
    res = operator_client.post(url, {"delta": -1}, format="json")
    assert res.status_code == 409
    assert res.json()["code"] == "insufficient_stock"
    sku.refresh_from_db()
    assert sku.stock == 0


@pytest.mark.parametrize("delta", [0, 1.5, "3", True, None, 10**7 + 1, -(10**7) - 1])
def test_bad_stock_delta_is_400(operator_client, product, delta):
    sku = product.skus.order_by("pk").first()
    res = operator_client.post(f"/api/v1/ops/skus/{sku.pk}/adjust-stock/", {"delta": delta}, format="json")
    assert res.status_code == 400
    sku.refresh_from_db()
    assert sku.stock == 10


def test_stock_cannot_go_over_the_maximum(product):
    sku = product.skus.order_by("pk").first()
    Sku.objects.filter(pk=sku.pk).update(stock=10**7 - 1)
    with pytest.raises(catalog_services.InsufficientStock):
        catalog_services.sku_adjust_stock(sku_id=sku.pk, delta=2)
    sku.refresh_from_db()
    assert sku.stock == 10**7 - 1


def test_adjust_unknown_sku_is_404(operator_client):
    assert operator_client.post("/api/v1/ops/skus/987654/adjust-stock/", {"delta": 1}, format="json").status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_stock_removals_never_go_below_zero():
    sku = SkuFactory(stock=10)
    def take(i):
        try:
            catalog_services.sku_adjust_stock(sku_id=sku.pk, delta=-1)
        except catalog_services.InsufficientStock:
            return "refused"
        return "ok"

    outcomes = run_at_once(take, 20, domain_errors=False)
    assert sorted(outcomes) == ["ok"] * 10 + ["refused"] * 10
    sku.refresh_from_db()
    assert sku.stock == 0
