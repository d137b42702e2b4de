"""Operators manage commission rules: /api/v1/ops/commission-rules/, the services and the admin."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from commissions.models import CommissionRule
from commissions.services.accrual import commission_rate_resolve
from tests.factories import TierFactory, UserFactory, distribution_settings_set
from tests.mall.orders_helpers import make_sku

pytestmark = pytest.mark.django_db

URL = "/api/v1/ops/commission-rules/"


@pytest.fixture
def sku():
    return make_sku(price_fen=1000)


@pytest.fixture
def tier():
    return TierFactory(name="金", rank=5)


def _snapshot():
    return list(CommissionRule.objects.order_by("pk").values())


def test_create_get_list_patch_delete(operator_client, sku):
    res = operator_client.post(URL, {"scope": "sku", "sku_id": sku.pk, "level1_bps": 1500, "level2_fixed_fen": 30},
                               format="json")
    assert res.status_code == 201, res.json()
    body = res.json()
    assert set(body) == {"id", "scope", "sku_id", "product_id", "tier_id", "level1_bps", "level2_bps",
                         "level1_fixed_fen", "level2_fixed_fen", "is_active", "created_at", "updated_at"}
    assert (body["scope"], body["sku_id"], body["product_id"], body["tier_id"]) == ("sku", sku.pk, None, None)
    assert (body["level1_bps"], body["level2_bps"], body["level1_fixed_fen"], body["level2_fixed_fen"]) == (
        1500, None, None, 30)
    assert body["is_active"] is True
    rule_url = f"{URL}{body['id']}/"
    assert operator_client.get(rule_url).json()["level1_bps"] == 1500

    res = operator_client.patch(rule_url, {"level1_bps": None, "level1_fixed_fen": 50}, format="json")
    assert res.status_code == 200, res.json()
    row = CommissionRule.objects.get(pk=body["id"])
    assert (row.level1_bps, row.level1_fixed_fen, row.level2_fixed_fen) == (None, 50, 30)

    listed = operator_client.get(URL).json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]

    assert operator_client.delete(rule_url).status_code == 204
    row.refresh_from_db()
    assert row.is_active is False  # kept for history
    assert operator_client.get(rule_url).json()["is_active"] is False
    assert operator_client.delete(rule_url).status_code == 204  # harmless twice
    assert operator_client.delete(f"{URL}999999/").status_code == 404
    assert operator_client.get(f"{URL}999999/").status_code == 404
    assert operator_client.patch(f"{URL}999999/", {"level1_bps": 1}, format="json").status_code == 404


def test_list_filters_and_pagination(operator_client, sku, tier):
    a = CommissionRule.objects.create(scope="sku", sku=sku, level1_bps=100)
    b = CommissionRule.objects.create(scope="product", product_id=sku.product_id, level1_bps=200, is_active=False)
    c = CommissionRule.objects.create(scope="tier", tier=tier, level2_bps=300)

    def ids(query):
        res = operator_client.get(URL + query)
        assert res.status_code == 200, res.json()
        return sorted(r["id"] for r in res.json()["results"])

    assert ids("") == sorted([a.pk, b.pk, c.pk])
    assert ids("?scope=tier") == [c.pk]
    assert ids("?is_active=false") == [b.pk]
    assert ids("?is_active=true&scope=sku") == [a.pk]
    assert operator_client.get(URL + "?scope=nope").status_code == 400
    body = operator_client.get(URL + "?page_size=1").json()
    assert body["count"] == 3 and len(body["results"]) == 1


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({}, 400, "scope"),
    ({"scope": "shop", "sku_id": "SKU", "level1_bps": 100}, 400, "scope"),
    ({"scope": "sku", "level1_bps": 100}, 400, "sku_id"),  # missing target
    ({"scope": "sku", "sku_id": "SKU", "product_id": "PRODUCT", "level1_bps": 100}, 400, "product_id"),
    ({"scope": "sku", "sku_id": "SKU", "tier_id": "TIER", "level1_bps": 100}, 400, "tier_id"),
    ({"scope": "product", "sku_id": "SKU", "level1_bps": 100}, 400, "sku_id"),
    ({"scope": "sku", "sku_id": "1", "level1_bps": 100}, 400, "sku_id"),  # string id
    ({"scope": "sku", "sku_id": 0, "level1_bps": 100}, 400, "sku_id"),
    ({"scope": "sku", "sku_id": 10**30, "level1_bps": 100}, 400, "sku_id"),
    ({"scope": "sku", "sku_id": 99999999, "level1_bps": 100}, 404, None),  # forged target
    ({"scope": "product", "product_id": 99999999, "level1_bps": 100}, 404, None),
    ({"scope": "tier", "tier_id": 99999999, "level1_bps": 100}, 404, None),
    ({"scope": "sku", "sku_id": "SKU"}, 400, "level1_bps"),  # no level set
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": None, "level2_fixed_fen": None}, 400, "level1_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": -1}, 400, "level1_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": 10001}, 400, "level1_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level2_bps": 10**20}, 400, "level2_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": 10.5}, 400, "level1_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": 100.0}, 400, "level1_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": "100"}, 400, "level1_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": True}, 400, "level1_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": [100]}, 400, "level1_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level1_fixed_fen": -5}, 400, "level1_fixed_fen"),
    ({"scope": "sku", "sku_id": "SKU", "level1_fixed_fen": 10**9 + 1}, 400, "level1_fixed_fen"),
    ({"scope": "sku", "sku_id": "SKU", "level2_fixed_fen": "5"}, 400, "level2_fixed_fen"),
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": 100, "level1_fixed_fen": 5}, 400, "level1_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level2_bps": 100, "level2_fixed_fen": 5}, 400, "level2_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": 6000, "level2_bps": 4001}, 400, "level2_bps"),
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": 100, "is_active": "yes"}, 400, "is_active"),
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": 100, "id": 5}, 400, "id"),  # forged fields
    ({"scope": "sku", "sku_id": "SKU", "level1_bps": 100, "created_at": "2020-01-01T00:00:00Z"}, 400, "created_at"),
])
def test_create_refuses_bad_input_and_changes_nothing(operator_client, sku, payload, status, field):
    payload = {k: (sku.pk if v == "SKU" else sku.product_id if v == "PRODUCT" else v) for k, v in payload.items()}
    if payload.get("tier_id") == "TIER":
        payload["tier_id"] = TierFactory(name="银", rank=2).pk
    res = operator_client.post(URL, payload, format="json")
    assert res.status_code == status, res.json()
    if field:
        assert field in res.json()["extra"] or field in str(res.json()), res.json()
    assert not CommissionRule.objects.exists()


def test_boundaries_are_accepted(operator_client, sku):
    res = operator_client.post(URL, {"scope": "sku", "sku_id": sku.pk, "level1_bps": 6000, "level2_bps": 4000},
                               format="json")
    assert res.status_code == 201, res.json()
    res = operator_client.post(URL, {"scope": "product", "product_id": sku.product_id, "level1_fixed_fen": 10**9,
                                     "level2_bps": 0}, format="json")
    assert res.status_code == 201, res.json()


def test_second_active_rule_for_a_target_is_409(operator_client, sku, tier):
    for scope, target in (("sku", {"sku_id": sku.pk}), ("product", {"product_id": sku.product_id}),
                          ("tier", {"tier_id": tier.pk})):
        first = operator_client.post(URL, {"scope": scope, **target, "level1_bps": 100}, format="json")
        assert first.status_code == 201
        before = _snapshot()
        again = operator_client.post(URL, {"scope": scope, **target, "level1_bps": 200}, format="json")
        assert again.status_code == 409 and again.json()["code"] == "rule_exists", again.json()
        assert _snapshot() == before
        # after deactivating, a new rule may be created; re-activating the old one is then 409
        assert operator_client.delete(f"{URL}{first.json()['id']}/").status_code == 204
        res = operator_client.post(URL, {"scope": scope, **target, "level1_bps": 300}, format="json")
        assert res.status_code == 201
        before = _snapshot()
        res = operator_client.patch(f"{URL}{first.json()['id']}/", {"is_active": True}, format="json")
        assert res.status_code == 409 and res.json()["code"] == "rule_exists"
        assert _snapshot() == before
    # an inactive second rule is fine
    res = operator_client.post(URL, {"scope": "sku", "sku_id": sku.pk, "level1_bps": 1, "is_active": False},
                               format="json")
    assert res.status_code == 201


@pytest.mark.parametrize(("payload", "field"), [
    ({"level1_bps": 100.0}, "level1_bps"),
    ({"level1_bps": "1"}, "level1_bps"),
    ({"level1_bps": 10001}, "level1_bps"),
    ({"level2_fixed_fen": -1}, "level2_fixed_fen"),
    ({"level1_fixed_fen": 5}, "level1_bps"),  # the rule has level1_bps already
    ({"level2_bps": 9001}, "level2_bps"),  # 1000 + 9001 > 10000
    ({"level1_bps": None}, "level1_bps"),  # nothing left set
    ({"scope": "product"}, "scope"),
    ({"sku_id": 1}, "sku_id"),
    ({"is_active": 1}, "is_active"),
])
def test_patch_refuses_bad_input_and_changes_nothing(operator_client, sku, payload, field):
    rule = CommissionRule.objects.create(scope="sku", sku=sku, level1_bps=1000)
    before = _snapshot()
    res = operator_client.patch(f"{URL}{rule.pk}/", payload, format="json")
    assert res.status_code == 400, res.json()
    assert field in str(res.json())
    assert _snapshot() == before


def _perm(codename):
    return Permission.objects.get(content_type__app_label="commissions", codename=codename)


CALLS = [
    ("get", "list", None, "view_commissionrule"),
    ("post", "list", {"scope": "sku", "sku_id": "SKU", "level1_bps": 100}, "add_commissionrule"),
    ("get", "detail", None, "view_commissionrule"),
    ("patch", "detail", {"level1_bps": 200}, "change_commissionrule"),
    ("delete", "detail", None, "delete_commissionrule"),
]


@pytest.mark.parametrize(("method", "where", "body", "codename"), CALLS)
def test_permissions(api_client, client_for, sku, tier, method, where, body, codename):
    rule = CommissionRule.objects.create(scope="tier", tier=tier, level1_bps=1000)
    url = URL if where == "list" else f"{URL}{rule.pk}/"
    if body:
        body = {k: (sku.pk if v == "SKU" else v) for k, v in body.items()}
    before = _snapshot()

    res = getattr(api_client, method)(url, body, format="json")
    assert res.status_code == 401, res.content
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="commissions"))
    res = getattr(client_for(user), method)(url, body, format="json")
    assert res.status_code == 403  # not staff, even with every permission
    staff = UserFactory(is_staff=True)
    others = [p for p in Permission.objects.filter(content_type__app_label="commissions") if p.codename != codename]
    staff.user_permissions.add(*others)
    res = getattr(client_for(staff), method)(url, body, format="json")
    assert res.status_code == 403 and res.json()["code"] == "permission_denied"
    assert _snapshot() == before

    staff.user_permissions.add(_perm(codename))
    staff = type(staff).objects.get(pk=staff.pk)  # drop the permission cache
    res = getattr(client_for(staff), method)(url, body, format="json")
    assert res.status_code in (200, 201, 204), res.content


def test_a_created_rule_changes_the_resolved_rate(operator_client, sku, tier):
    distribution_settings_set(default_level1_bps=1000, default_level2_bps=500, levels=2)
    args = {"sku_id": sku.pk, "product_id": sku.product_id, "tier_id": tier.pk}
    assert commission_rate_resolve(level=1, **args) == (1000, None, "default")
    assert commission_rate_resolve(level=2, **args) == (500, None, "default")

    tier_rule = operator_client.post(URL, {"scope": "tier", "tier_id": tier.pk, "level1_bps": 1200},
                                     format="json").json()
    assert commission_rate_resolve(level=1, **args) == (1200, None, "tier")
    assert commission_rate_resolve(level=2, **args) == (500, None, "default")
    operator_client.post(URL, {"scope": "product", "product_id": sku.product_id, "level2_bps": 700}, format="json")
    assert commission_rate_resolve(level=2, **args) == (700, None, "product")
    sku_rule = operator_client.post(URL, {"scope": "sku", "sku_id": sku.pk, "level1_fixed_fen": 88},
                                    format="json").json()
    assert commission_rate_resolve(level=1, **args) == (None, 88, "sku")

    operator_client.patch(f"{URL}{sku_rule['id']}/", {"level1_fixed_fen": None, "level1_bps": 333}, format="json")
    assert commission_rate_resolve(level=1, **args) == (333, None, "sku")
    operator_client.delete(f"{URL}{sku_rule['id']}/")
    assert commission_rate_resolve(level=1, **args) == (1200, None, "tier")
    operator_client.patch(f"{URL}{tier_rule['id']}/", {"is_active": False}, format="json")
    assert commission_rate_resolve(level=1, **args) == (1000, None, "default")


# --- admin ------------------------------------------------------------------------------------

def test_admin_pages_open(admin_client, sku):
    rule = CommissionRule.objects.create(scope="sku", sku=sku, level1_bps=100)
    for url in ("/admin/commissions/commissionrule/", "/admin/commissions/commissionrule/add/",
                f"/admin/commissions/commissionrule/{rule.pk}/change/", "/admin/commissions/commission/",
                "/admin/commissions/commission/?status__exact=pending&level__exact=1&q=123"):
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/commissions/commission/add/").status_code == 403


def _error_messages(res) -> list[str]:
    return [str(m) for m in res.context["messages"] if m.level_tag == "error"]


def _add_form(**fields):
    form = {"scope": "sku", "sku": "", "product": "", "tier": "", "level1_bps": "", "level2_bps": "",
            "level1_fixed_fen": "", "level2_fixed_fen": "", "is_active": "on"}
    form.update(fields)
    return form


def test_admin_saves_through_the_services(admin_client, sku):
    url = "/admin/commissions/commissionrule/add/"
    res = admin_client.post(url, _add_form(sku=sku.pk, level1_bps=1200))
    assert res.status_code == 302
    rule = CommissionRule.objects.get()
    assert (rule.scope, rule.sku_id, rule.level1_bps) == ("sku", sku.pk, 1200)

    change = f"/admin/commissions/commissionrule/{rule.pk}/change/"
    res = admin_client.post(change, {"level1_bps": 1300, "level2_bps": "", "level1_fixed_fen": "",
                                     "level2_fixed_fen": "", "is_active": "on"})
    assert res.status_code == 302
    rule.refresh_from_db()
    assert rule.level1_bps == 1300

    admin_client.post("/admin/commissions/commissionrule/", {"action": "delete_selected",
                                                             "_selected_action": [rule.pk], "post": "yes"})
    rule.refresh_from_db()
    assert rule.is_active is False  # deleting deactivates


@pytest.mark.parametrize("fields", [
    {"level1_bps": 100, "level1_fixed_fen": 5},  # both kinds for one level
    {"level1_bps": 6000, "level2_bps": 5000},  # over 100 %
    {},  # no level
])
def test_admin_refuses_an_invalid_rule(admin_client, sku, fields):
    res = admin_client.post("/admin/commissions/commissionrule/add/", _add_form(sku=sku.pk, **fields), follow=True)
    assert res.status_code == 200
    assert _error_messages(res)  # refused by the service, shown as a message
    assert not CommissionRule.objects.exists()


def test_admin_refuses_an_invalid_change(admin_client, sku):
    rule = CommissionRule.objects.create(scope="sku", sku=sku, level1_bps=1000)
    before = _snapshot()
    change = f"/admin/commissions/commissionrule/{rule.pk}/change/"
    res = admin_client.post(change, {"level1_bps": 1000, "level2_bps": 9500, "level1_fixed_fen": "",
                                     "level2_fixed_fen": "", "is_active": "on"}, follow=True)
    assert any("level2_bps" in m for m in _error_messages(res))
    assert _snapshot() == before
