"""Share links: creating (one per target and channel), listing and reading them; who may."""
from __future__ import annotations

import pytest

from distributors import hooks as distributors_hooks
from distributors import targets
from distributors.models import ShareLink
from distributors.services import links as link_services
from tests.concurrency import run_at_once
from tests.factories import DistributorFactory, ShareLinkFactory, UserFactory

from .links_helpers import make_product

pytestmark = pytest.mark.django_db

URL = "/api/v1/share-links/"


@pytest.fixture(autouse=True)
def _no_official_account_qr(settings):
    settings.SHARE_LINK_MP_QR = False  # these tests make no call to WeChat (see test_links_wechat.py)
    settings.PUBLIC_BASE_URL = "https://shop.example.com"


@pytest.fixture
def distributor(db):
    return DistributorFactory()


@pytest.fixture
def client(client_for, distributor):
    return client_for(distributor.user)


@pytest.fixture
def product(db):
    return make_product()


def test_create_a_product_link(client, distributor, product):
    res = client.post(URL, {"target_type": "product", "target_id": product.pk, "channel": "moments"}, format="json")
    assert res.status_code == 201, res.json()
    body = res.json()
    code = body["code"]
    assert len(code) == 8
    assert body["url"] == f"https://shop.example.com/s/{code}"
    assert body["qr_png_url"] == f"https://shop.example.com/api/v1/share-links/{code}/qr.png"
    assert body["qr_svg_url"] == f"https://shop.example.com/api/v1/share-links/{code}/qr.svg"
    assert body["poster_url"] == f"https://shop.example.com/api/v1/share-links/{code}/poster.png"
    assert body["wxacode_url"] == f"https://shop.example.com/api/v1/share-links/{code}/wxacode.png"
    assert body["mp_qr_url"] is None  # switched off here
    assert (body["target_type"], body["target_id"], body["channel"]) == ("product", product.pk, "moments")
    assert (body["clicks"], body["unique_visitors"], body["orders"], body["gmv_fen"]) == (0, 0, 0, 0)
    assert body["created_at"]
    link = ShareLink.objects.get()
    assert (link.code, link.distributor_id, link.target_id) == (code, distributor.pk, product.pk)


def test_the_same_target_twice_gives_the_same_link(client, product):
    first = client.post(URL, {"target_type": "product", "target_id": product.pk}, format="json")
    again = client.post(URL, {"target_type": "product", "target_id": product.pk, "channel": ""}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["code"] == first.json()["code"]
    other_channel = client.post(URL, {"target_type": "product", "target_id": product.pk, "channel": "g1"},
                                format="json")
    assert other_channel.status_code == 201
    assert other_channel.json()["code"] != first.json()["code"]
    assert ShareLink.objects.count() == 2


def test_store_and_recruit_links_take_no_id(client, distributor):
    store = client.post(URL, {"target_type": "store"}, format="json")
    assert store.status_code == 201, store.json()
    assert store.json()["target_id"] is None
    assert client.post(URL, {"target_type": "store", "target_id": 0}, format="json").json()["code"] == (
        store.json()["code"]
    )
    assert client.post(URL, {"target_type": "store", "target_id": None}, format="json").status_code == 200
    recruit = client.post(URL, {"target_type": "recruit"}, format="json")
    assert recruit.status_code == 201
    assert recruit.json()["code"] != store.json()["code"]
    link = ShareLink.objects.get(code=recruit.json()["code"])
    target = targets.target_resolve(target_type="recruit", target_id=0, distributor=distributor)
    assert target.path == f"/recruit?inviter={distributor.invite_code}"
    assert (link.target_type, link.target_id) == ("recruit", 0)
    assert targets.target_resolve(target_type="store", target_id=0).path == "/"


def test_product_target_resolves_title_price_and_path(product):
    target = targets.target_resolve(target_type="product", target_id=product.pk)
    assert (target.title, target.price_fen, target.path) == (product.title, 1990, f"/products/{product.pk}")
    assert target.image_url == "https://img.example.com/cover.png"


def test_anonymous_is_refused(api_client, product):
    res = api_client.post(URL, {"target_type": "store"}, format="json")
    assert res.status_code == 401
    assert api_client.get(URL).status_code == 401
    assert not ShareLink.objects.exists()


def test_a_non_distributor_is_refused(user_client):
    res = user_client.post(URL, {"target_type": "store"}, format="json")
    assert res.status_code == 403
    assert res.json()["code"] == "not_a_distributor"
    listed = user_client.get(URL)
    assert (listed.status_code, listed.json()["code"]) == (403, "not_a_distributor")
    assert not ShareLink.objects.exists()


@pytest.mark.parametrize("status", ["pending", "rejected", "frozen"])
def test_an_unapproved_distributor_is_refused(client_for, product, status):
    distributor = DistributorFactory(status=status)
    client = client_for(distributor.user)
    res = client.post(URL, {"target_type": "product", "target_id": product.pk}, format="json")
    assert res.status_code == 403
    assert res.json()["code"] == "distributor_not_approved"
    assert not ShareLink.objects.exists()
    # Their earlier links (made while approved) stay readable.
    old = ShareLinkFactory(distributor=distributor)
    assert [x["code"] for x in client.get(URL).json()["results"]] == [old.code]


BAD_BODIES = [
    ({}, "target_type"),
    ({"target_type": "coupon"}, "target_type"),
    ({"target_type": 123}, "target_type"),
    ({"target_type": None}, "target_type"),
    ({"target_type": ["product"]}, "target_type"),
    ({"target_type": "product"}, "target_id"),
    ({"target_type": "product", "target_id": None}, "target_id"),
    ({"target_type": "product", "target_id": "12"}, "target_id"),
    ({"target_type": "product", "target_id": 12.0}, "target_id"),
    ({"target_type": "product", "target_id": True}, "target_id"),
    ({"target_type": "product", "target_id": -1}, "target_id"),
    ({"target_type": "product", "target_id": 0}, "target_id"),
    ({"target_type": "product", "target_id": 2**63}, "target_id"),
    ({"target_type": "product", "target_id": 10**40}, "target_id"),
    ({"target_type": "store", "target_id": 5}, "target_id"),
    ({"target_type": "recruit", "target_id": 1}, "target_id"),
    ({"target_type": "store", "channel": "x" * 33}, "channel"),
    ({"target_type": "store", "channel": "a b"}, "channel"),
    ({"target_type": "store", "channel": "渠道"}, "channel"),
    ({"target_type": "store", "channel": "a/b"}, "channel"),
    ({"target_type": "store", "channel": 123}, "channel"),
    ({"target_type": "store", "channel": None}, "channel"),
    ({"target_type": "store", "distributor_id": 1}, "distributor_id"),
    ({"target_type": "store", "code": "AAAAAAAA"}, "code"),
    ({"target_type": "store", "clicks": 1000}, "clicks"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_input_is_refused_and_changes_nothing(client, body, field):
    res = client.post(URL, body, format="json")
    assert res.status_code == 400, res.json()
    assert res.json()["code"] == "invalid"
    assert field in res.json()["extra"]["fields"]
    assert not ShareLink.objects.exists()


@pytest.mark.parametrize("raw", [b"[]", b"\"store\"", b"{", b"null", b"x" * 10000])
def test_a_body_that_is_not_an_object_is_refused(client, raw):
    res = client.generic("POST", URL, raw, content_type="application/json")
    assert res.status_code == 400
    assert res.json()["code"] in ("invalid", "parse_error")
    assert not ShareLink.objects.exists()


def test_a_valid_channel_at_the_limit_is_accepted(client):
    res = client.post(URL, {"target_type": "store", "channel": "A-z_0" + "9" * 27}, format="json")
    assert res.status_code == 201
    assert res.json()["channel"] == "A-z_0" + "9" * 27


def test_service_checks_its_input_too(distributor):
    from core.errors import InvalidInput

    for kwargs in (
        {"target_type": "product", "target_id": "5"},
        {"target_type": "product", "target_id": True},
        {"target_type": "nope", "target_id": None},
        {"target_type": "store", "target_id": None, "channel": "-" * 40},
    ):
        with pytest.raises(InvalidInput):
            link_services.share_link_get_or_create(user=distributor.user, **kwargs)
    assert not ShareLink.objects.exists()


def test_an_unknown_or_off_shelf_product_is_404(client, product):
    missing = client.post(URL, {"target_type": "product", "target_id": product.pk + 1000}, format="json")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    product.on_shelf = False
    product.save(update_fields=["on_shelf"])
    off = client.post(URL, {"target_type": "product", "target_id": product.pk}, format="json")
    assert (off.status_code, off.json()["code"]) == (404, "not_found")
    assert not ShareLink.objects.exists()


@pytest.fixture
def unregistered():
    """Take a target type's resolver away for the test (campaigns registers crowdfund), and
    put it back afterwards."""
    taken = {}

    def take(target_type):
        taken[target_type] = distributors_hooks.share_target.one(target_type)
        distributors_hooks.unregister_share_target(target_type)

    yield take
    for target_type, resolver in taken.items():
        distributors_hooks.unregister_share_target(target_type)
        if resolver is not None:  # as it was registered (a ShareTargetResolver)
            distributors_hooks.share_target.register(resolver, key=target_type)


@pytest.mark.parametrize("target_type", ["crowdfund", "red_envelope"])
def test_campaign_targets_are_unavailable_until_registered(client, target_type, unregistered):
    unregistered(target_type)
    res = client.post(URL, {"target_type": target_type, "target_id": 7}, format="json")
    assert res.status_code == 400
    assert res.json()["code"] == "target_unavailable"
    assert not ShareLink.objects.exists()

    seen = []

    def resolver(target_id):
        seen.append(target_id)
        if target_id != 7:
            from core.errors import NotFound

            raise NotFound()
        return {"title": "众筹", "image_url": "", "price_fen": 5000, "path": f"/c/{target_id}"}

    distributors_hooks.register_share_target(target_type, resolver)
    ok = client.post(URL, {"target_type": target_type, "target_id": 7}, format="json")
    assert ok.status_code == 201, ok.json()
    assert client.post(URL, {"target_type": target_type, "target_id": 8}, format="json").status_code == 404
    assert seen == [7, 8]
    assert ShareLink.objects.count() == 1


def test_a_broken_resolver_is_caught_by_the_registry(unregistered):
    unregistered("crowdfund")
    distributors_hooks.register_share_target("crowdfund", lambda target_id: {"title": "x", "path": "no-slash"})
    with pytest.raises(TypeError):
        targets.target_resolve(target_type="crowdfund", target_id=1)
    with pytest.raises(ValueError):
        distributors_hooks.register_share_target("coupon", lambda target_id: {})


def test_list_shows_mine_with_counters_newest_first(client, distributor, product):
    older = ShareLinkFactory(distributor=distributor)
    newer = ShareLinkFactory(distributor=distributor, target_type="product", target_id=product.pk)
    ShareLink.objects.filter(pk=newer.pk).update(clicks=120, unique_visitors=80, orders=3, gmv_fen=5970)
    someone_else = ShareLinkFactory()
    res = client.get(URL)
    assert res.status_code == 200
    body = res.json()
    assert body["count"] == 2
    codes = [x["code"] for x in body["results"]]
    assert codes == [newer.code, older.code]
    assert someone_else.code not in codes
    first = body["results"][0]
    assert (first["clicks"], first["unique_visitors"], first["orders"], first["gmv_fen"]) == (120, 80, 3, 5970)


def test_list_is_paginated(client, distributor):
    for i in range(5):
        ShareLinkFactory(distributor=distributor, channel=f"c{i}")
    page = client.get(URL, {"page_size": 2, "page": 2}).json()
    assert page["count"] == 5
    assert len(page["results"]) == 2
    assert page["next"] and page["previous"]
    assert client.get(URL, {"page": 99}).status_code == 404


def test_detail_is_mine_only(client, distributor):
    mine = ShareLinkFactory(distributor=distributor)
    theirs = ShareLinkFactory()
    res = client.get(f"{URL}{mine.code}/")
    assert res.status_code == 200
    assert res.json()["code"] == mine.code
    assert client.get(f"{URL}{mine.code.lower()}/").json()["code"] == mine.code
    for code in (theirs.code, "ZZZZZZZZ", "not-a-code", "0O1IL", "A" * 40):
        res = client.get(f"{URL}{code}/")
        assert res.status_code == 404, code
        assert res.json()["code"] == "not_found"


def test_a_taken_code_is_retried(client, distributor, monkeypatch):
    taken = ShareLinkFactory()
    codes = iter([taken.code, taken.code, "FRESH234"])
    monkeypatch.setattr(link_services, "code_generate", lambda length: next(codes))
    res = client.post(URL, {"target_type": "store"}, format="json")
    assert res.status_code == 201
    assert res.json()["code"] == "FRESH234"


def test_code_allocation_gives_up_cleanly(client, distributor, monkeypatch):
    taken = ShareLinkFactory()
    monkeypatch.setattr(link_services, "code_generate", lambda length: taken.code)
    res = client.post(URL, {"target_type": "store"}, format="json")
    assert res.status_code == 409
    assert res.json()["code"] == "code_allocation_failed"
    assert ShareLink.objects.filter(distributor=distributor).count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_for_one_target_make_one_link():
    distributor = DistributorFactory()
    results = run_at_once(lambda i: link_services.share_link_get_or_create(
        user=distributor.user, target_type="store")[0].code, 6, domain_errors=False)
    assert len(set(results)) == 1 and len(results) == 6
    assert ShareLink.objects.count() == 1


def test_schema_describes_the_share_link_endpoints(api_client):
    res = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert res.status_code == 200
    paths = res.json()["paths"]
    for suffix in ("", "{code}/", "{code}/qr.png", "{code}/qr.svg", "{code}/poster.png", "{code}/wxacode.png"):
        assert f"/api/v1/share-links/{suffix}" in paths, suffix
    assert "image/png" in paths["/api/v1/share-links/{code}/qr.png"]["get"]["responses"]["200"]["content"]


def test_another_users_token_cannot_reach_my_link(client_for, distributor):
    mine = ShareLinkFactory(distributor=distributor)
    stranger = client_for(UserFactory())
    assert stranger.get(f"{URL}{mine.code}/").status_code == 404
