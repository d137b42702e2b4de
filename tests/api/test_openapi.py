"""The OpenAPI schema as a client reads it (api/schema.py): every operation described, its error
responses and Idempotency-Key documented, lists paginated, limits and examples that match the code."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from api.idempotency import HEADER

METHODS = ("get", "post", "put", "patch", "delete")

# The list endpoints that answer {count, next, previous, results} (issue 13 named the first 15).
PAGINATED = [
    "/api/v1/commissions/",
    "/api/v1/distributors/me/customers/",
    "/api/v1/distributors/me/team/",
    "/api/v1/me/followers/",
    "/api/v1/me/following/",
    "/api/v1/orders/",
    "/api/v1/orders/{no}/refunds/",
    "/api/v1/share-links/",
    "/api/v1/wallet/entries/",
    "/api/v1/withdrawals/",
    "/api/v1/ops/distributors/",
    "/api/v1/ops/orders/",
    "/api/v1/ops/refunds/",
    "/api/v1/ops/reports/evangelists/",
    "/api/v1/ops/tiers/",
    "/api/v1/crowdfunds/",
    "/api/v1/users/{id}/red-envelopes/",
    "/api/v1/categories/",
    "/api/v1/ops/withdrawals/",
]


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def body_schema(schema, operation):
    media = operation["requestBody"]["content"]["application/json"]["schema"]
    return media, resolve(schema, media["allOf"][0] if "allOf" in media else media)


def test_every_operation_has_a_summary_and_a_description(schema):
    missing = [(m, p) for p, m, op in operations(schema) if not op.get("summary") or not op.get("description")]
    assert missing == []
    assert len(list(operations(schema))) > 100


def test_every_json_operation_documents_its_errors_in_the_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "message", "extra"}
    for path, method, op in operations(schema):
        codes = set(op["responses"])
        if path.startswith("/api/v1/wechat/") and path.endswith("/notify/"):
            # Called by WeChat, answered in WeChat's own shapes ({"code": "FAIL", …}, v2's XML), not ours:
            # they document their refusals and our failures instead.
            assert {"400", "500"} <= codes, (method, path)
            continue
        if op.get("security") and {"bearerAuth": []} in op["security"] and {} not in op["security"]:
            assert {"401", "403"} <= codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        if method in ("post", "put", "patch") and "application/json" in op.get("requestBody", {}).get("content", {}):
            assert {"400", "409"} <= codes, (method, path)
        for code, response in op["responses"].items():
            content = response.get("content", {}).get("application/json")
            if code[0] in "45" and content:
                assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (method, path, code)
                assert "`" in response["description"], (method, path, code)  # names the codes


def test_the_error_descriptions_name_the_codes_of_api_errors(schema):
    orders = schema["paths"]["/api/v1/orders/"]["post"]["responses"]
    assert "`invalid`" in orders["400"]["description"]
    assert "`not_authenticated`" in orders["401"]["description"]
    assert "`invalid_transition`" in orders["409"]["description"]
    assert "`idempotency_key_reused`" in orders["422"]["description"]
    assert "`throttled`" in orders["429"]["description"]
    pay = schema["paths"]["/api/v1/orders/{no}/pay/"]["post"]["responses"]
    assert "`upstream_timeout`" in pay["504"]["description"]
    assert "401" in schema["paths"]["/api/v1/auth/login/"]["post"]["responses"]  # wrong password


def test_idempotency_key_is_documented_exactly_where_the_view_honours_it(schema):
    from django.urls import get_resolver

    honoured = set()

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                view = getattr(pattern.callback, "view_class", None)
                for method in METHODS:
                    if getattr(getattr(view, method, None), "idempotent", False):
                        honoured.add((method, prefix + str(pattern.pattern)))

    walk(get_resolver().url_patterns)
    documented = set()
    for path, method, op in operations(schema):
        headers = [p for p in op.get("parameters", []) if p["in"] == "header" and p["name"] == HEADER]
        if headers:
            documented.add((method, path))
            assert headers[0]["schema"]["maxLength"] == 255 and "422" in op["responses"]
    assert len(documented) == len(honoured) >= 8
    assert ("post", "/api/v1/orders/") in documented and ("post", "/api/v1/withdrawals/") in documented
    assert ("get", "/api/v1/orders/") not in documented


@pytest.mark.parametrize("path", PAGINATED)
def test_list_endpoints_are_documented_paginated_with_page_and_page_size(schema, path):
    op = schema["paths"][path]["get"]
    body = resolve(schema, op["responses"]["200"]["content"]["application/json"]["schema"])
    assert body["type"] == "object" and {"count", "next", "previous", "results"} <= set(body["properties"])
    assert body["properties"]["results"]["type"] == "array"
    params = {p["name"]: p for p in op["parameters"] if p["in"] == "query"}
    assert params["page"]["schema"]["minimum"] == 1 and params["page_size"]["schema"]["minimum"] == 1
    assert "404" in op["responses"]  # a page past the end


def test_no_get_answers_a_bare_array(schema):
    arrays = [
        p
        for p, m, op in operations(schema)
        if m == "get"
        and op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("type")
        == "array"
    ]
    assert arrays == []


def test_ids_start_at_one_with_realistic_examples(schema):
    for path, _method, op in operations(schema):
        for p in op.get("parameters", []):
            if p["in"] == "path" and p["schema"]["type"] == "integer":
                assert p["schema"]["minimum"] == 1 and p["example"] == 1, path
    _, order = body_schema(schema, schema["paths"]["/api/v1/orders/"]["post"])
    item = resolve(schema, order["properties"]["items"]["items"])
    assert item["properties"]["sku_id"]["minimum"] == 1
    assert item["properties"]["sku_id"]["example"] == 1  # it was 4611686018427388000 (Swagger's guess)
    _, withdrawal = body_schema(schema, schema["paths"]["/api/v1/withdrawals/"]["post"])
    assert withdrawal["properties"]["amount_fen"]["example"] == 39800


def test_bps_settings_are_bounded_0_to_10000(schema):
    _, settings_body = body_schema(schema, schema["paths"]["/api/v1/ops/settings/distribution/"]["patch"])
    for name in ("default_level1_bps", "default_level2_bps", "withdrawal_fee_bps"):
        prop = settings_body["properties"][name]
        assert (prop["minimum"], prop["maximum"]) == (0, 10000), name
    _, tier = body_schema(schema, schema["paths"]["/api/v1/ops/tiers/"]["post"])
    assert (tier["properties"]["level1_bps"]["minimum"], tier["properties"]["level1_bps"]["maximum"]) == (0, 10000)


def test_report_ranges_document_their_limits(schema):
    for path in ("/api/v1/ops/reports/overview/", "/api/v1/distributors/me/stats/"):
        op = schema["paths"][path]["get"]
        text = op["description"] + " ".join(p.get("description", "") for p in op["parameters"])
        assert "366" in text and ("from ≤ to" in text or "`from` ≤ `to`" in text or "after" in text), path


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/ops/settings/distribution/",
        "/api/v1/ops/settings/mall/",
        "/api/v1/ops/settings/crowdfunds/",
        "/api/v1/ops/settings/red-envelopes/",
        "/api/v1/ops/products/{id}/crowdfund-rule/",
    ],
)
def test_settings_changes_need_a_body_with_one_setting_at_least(schema, path):
    for method in ("patch", "put"):
        op = schema["paths"][path][method]
        assert op["requestBody"]["required"] is True
        media, body = body_schema(schema, op)
        assert media["minProperties"] == 1
        assert not body.get("required")  # partial: only what is sent changes
    assert schema["paths"][path]["put"].get("deprecated") is True


def test_text_fields_of_request_bodies_are_strings_with_limits(schema):
    _, order = body_schema(schema, schema["paths"]["/api/v1/orders/"]["post"])
    address = resolve(schema, order["properties"]["address"])
    assert address["properties"]["name"] == {"type": "string", "minLength": 1, "maxLength": 32, "example": "张三"}
    assert "pattern" in address["properties"]["phone"]


def test_amounts_the_services_check_are_bounded_in_the_schema(schema):
    _, contribution = body_schema(schema, schema["paths"]["/api/v1/crowdfunds/{id}/contributions/"]["post"])
    assert contribution["properties"]["amount_fen"]["minimum"] == 1
    _, envelope = body_schema(schema, schema["paths"]["/api/v1/red-envelopes/"]["post"])
    assert envelope["properties"]["count"]["minimum"] == 1 and envelope["properties"]["total_fen"]["minimum"] == 1
    _, top_up = body_schema(schema, schema["paths"]["/api/v1/red-envelopes/{id}/top-ups/"]["post"])
    assert top_up["properties"]["amount_fen"]["minimum"] == 1


def test_commission_rule_inputs_carry_the_services_bounds(schema):
    _, rule = body_schema(schema, schema["paths"]["/api/v1/ops/commission-rules/"]["post"])
    props = rule["properties"]
    assert (props["level1_bps"]["minimum"], props["level1_bps"]["maximum"]) == (0, 10000)
    assert props["sku_id"]["minimum"] == 1 and props["level2_fixed_fen"]["minimum"] == 0


def test_every_id_and_amount_in_a_request_body_has_a_realistic_example(schema):
    for name, component in schema["components"]["schemas"].items():
        if not name.endswith("Request"):
            continue
        for field, prop in component.get("properties", {}).items():
            if prop.get("type") == "integer" and (field.endswith("_id") or field.endswith("_fen")):
                assert "example" in prop and prop["example"] < 10**7, (name, field, prop)
