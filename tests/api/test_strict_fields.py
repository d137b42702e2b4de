"""Request bodies take JSON as typed: text fields are JSON strings, numbers JSON integers (api/fields.py);
`{"name": 0}` is 400, not a tier named "0"."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from api.fields import StrictCharField, StrictIntegerField
from distributors.models import Tier
from mall.models import Order, Product

# api/red_envelopes.py is the lead's (issue 12) and keeps DRF's fields for now.
NOT_YET = {"/api/v1/red-envelopes/", "/api/v1/red-envelopes/{id}/top-ups/"}


def _request_serializers():
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    for path, _regex, method, view in generator._get_paths_and_endpoints():
        if method not in ("POST", "PUT", "PATCH") or path in NOT_YET:
            continue
        view.schema.path, view.schema.method = path, method
        found = view.schema.get_request_serializer()
        if isinstance(found, serializers.BaseSerializer) or (
            isinstance(found, type) and issubclass(found, serializers.BaseSerializer)
        ):
            yield f"{method} {path}", found() if isinstance(found, type) else found


def _loose_fields(serializer, prefix=""):
    if isinstance(serializer, serializers.ListSerializer):
        serializer = serializer.child
    for name, field in serializer.fields.items():
        where = f"{prefix}{name}"
        if field.read_only:
            continue
        if isinstance(field, serializers.ListSerializer | serializers.Serializer):
            yield from _loose_fields(field, where + ".")
        elif isinstance(field, serializers.ListField):
            child = field.child
            if isinstance(child, serializers.CharField) and not isinstance(child, StrictCharField):
                yield where + "[]"
            if isinstance(child, serializers.IntegerField) and not isinstance(child, StrictIntegerField):
                yield where + "[]"
        elif isinstance(field, serializers.CharField) and not isinstance(field, StrictCharField):
            yield where
        elif isinstance(field, serializers.IntegerField) and not isinstance(field, StrictIntegerField):
            yield where


def test_every_request_body_uses_the_strict_fields():
    bodies = dict(_request_serializers())
    assert len(bodies) > 30
    loose = {where: fields for where, serializer in bodies.items() if (fields := list(_loose_fields(serializer)))}
    assert loose == {}


@pytest.mark.parametrize("value", [0, 12.5, True, ["a"], {"a": 1}])
def test_a_tier_name_must_be_a_string(operator_client, value):
    res = operator_client.post("/api/v1/ops/tiers/", {"name": value, "rank": 1}, format="json")
    assert res.status_code == 400 and "name" in res.json()["extra"]["fields"], res.content
    assert not Tier.objects.exists()
    assert operator_client.post("/api/v1/ops/tiers/", {"name": "银牌", "rank": 1}, format="json").status_code == 201


def test_an_address_of_numbers_is_refused(user_client):
    from tests.mall.orders_helpers import make_sku

    sku = make_sku()
    address = {
        "name": 123,
        "phone": 13800138000,
        "province": "广东省",
        "city": "深圳市",
        "district": "南山区",
        "detail": 1,
    }
    res = user_client.post(
        "/api/v1/orders/", {"items": [{"sku_id": sku.pk, "quantity": 1}], "address": address}, format="json"
    )
    assert res.status_code == 400
    assert set(res.json()["extra"]["fields"]["address"]) == {"name", "phone", "detail"}
    assert not Order.objects.exists()


def test_a_product_title_of_a_number_is_refused(operator_client, db):
    res = operator_client.post(
        "/api/v1/ops/products/", {"title": 0, "skus": [{"name": "a", "price_fen": 100}]}, format="json"
    )
    assert res.status_code == 400 and "title" in res.json()["extra"]["fields"], res.content
    assert not Product.objects.exists()


@pytest.mark.parametrize("sku_id", [0, -1, 2**63, "1"])
def test_a_body_id_below_one_or_beyond_bigint_is_400_not_404_or_500(user_client, sku_id):
    res = user_client.post(
        "/api/v1/orders/", {"items": [{"sku_id": sku_id, "quantity": 1}], "address": {}}, format="json"
    )
    assert res.status_code == 400 and "sku_id" in res.json()["extra"]["fields"]["items"][0]
