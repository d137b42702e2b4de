"""The OpenAPI schema's central rules (REST_FRAMEWORK DEFAULT_SCHEMA_CLASS = api.schema.AutoSchema).

Instead of repeating it on every view, one place adds to every operation:

* a summary and a description: the view method's docstring (first line = summary), else the
  view class's docstring, else `api/schema_docs.py` OPERATION_DOCS (keyed by operationId; used
  for views whose module documents them elsewhere, such as api/red_envelopes.py);
* the error responses it can answer, in the error shape of api/errors.py (`Error`), each with
  the codes it can carry: 400 when it takes a body or query parameters, 401 and 403 when it
  needs a login, 404 with a path parameter or a page, 409 for writes, 422 with
  `Idempotency-Key`, 429 when throttled, 502/504 when it calls WeChat (UPSTREAM);
* the `Idempotency-Key` request header on every view method wrapped by api.idempotency.idempotent;
* pagination: a GET answering a list (`many=True`) is documented as the paginated
  `{count, next, previous, results}` with `page` and `page_size` (api.pagination.Pagination is
  what every list view uses);
* path parameters that are ids: integers from 1 (with an example).
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.plumbing import get_doc
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from api.fields import ID_MAX, BpsField, IdField, MoneyField, StrictURLField
from api.idempotency import HEADER as IDEMPOTENCY_HEADER
from api.idempotency import MAX_KEY_LENGTH
from api.pagination import Pagination
from api.schema_docs import OPERATION_DOCS


class ErrorSerializer(serializers.Serializer):
    """Every error answer of the API (api/errors.py)."""

    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `invalid`, `not_found`")
    message = serializers.CharField(help_text="A human message in the request's language (Accept-Language)")
    extra = serializers.DictField(
        help_text="Details: `fields` (field → messages) for `invalid`, `retry_after_seconds` for 429, ..."
    )


ERROR_DESCRIPTIONS = {
    400: "The input is not valid: `invalid` (field messages in `extra.fields`), `parse_error` (not JSON), "
    "or a domain code such as `amount_too_small`, `no_openid`, `self_follow`.",
    401: "No valid login: `not_authenticated` (no `Authorization: Bearer <token>`), "
    "`authentication_failed` (the token is unknown, expired or revoked), `invalid_credentials` "
    "(operator login: wrong username or password).",
    403: "Logged in but not allowed: `permission_denied` (an operator permission is missing, or the "
    "object is not yours to change), `self_approval`.",
    404: "`not_found`: no such object, in the path or named in the body (also one that belongs to someone "
    "else), or a page past the end; `not_a_distributor`.",
    409: "The current state does not allow it: `conflict`, `invalid_transition`, `insufficient_balance`, "
    "`idempotency_in_progress` (the first request with this Idempotency-Key is still running), or a "
    "more specific code.",
    422: "`idempotency_key_reused`: the Idempotency-Key was sent before with a different request.",
    429: "Too many requests: `throttled`, `too_many_requests`, `too_many_login_failures`, "
    "`too_many_login_attempts`; `extra.retry_after_seconds` and the `Retry-After` header say when to retry.",
    502: "`upstream_error`: WeChat failed or answered something that cannot be trusted; retry later.",
    504: "`upstream_timeout`: WeChat did not answer in time; retry later.",
}

# Operations that call WeChat while the client waits (pay, refund, payout, login, mini-program code).
UPSTREAM = {
    "v1_auth_wechat_create",
    "v1_orders_pay_create",
    "v1_orders_refunds_create",
    "v1_ops_orders_refunds_create",
    "v1_ops_refunds_approve_create",
    "v1_ops_withdrawals_approve_create",
    "v1_ops_withdrawals_bulk_create",
    "v1_ops_withdrawals_cancel_create",
    "v1_crowdfunds_create",
    "v1_crowdfunds_contributions_create",
    "v1_crowdfunds_finish_create",
    "v1_red_envelopes_create",
    "v1_red_envelopes_top_ups_create",
    "v1_share_links_wxacode.png_retrieve",
}

# What the rules above cannot see: the operator login answers 401 `invalid_credentials` for a
# wrong password although it needs no login itself; the commission statement's `distributor`
# filter is 404 for an unknown distributor.
EXTRA_STATUSES: dict[str, set[int]] = {
    "v1_auth_login_create": {401},
    "ops_reports_commission_statement": {404},
}
# A distributor's own pages are 404 `not_a_distributor` for someone who is not one.
DISTRIBUTOR_PREFIX = "/api/v1/distributors/me/"

# Realistic examples for the strict fields (Swagger UI showed 4611686018427388000 for an id).
FIELD_EXAMPLES = [(IdField, 1), (MoneyField, 39800), (BpsField, 500)]

# printable ASCII, no space at either end (the key is stripped, then must be printable)
KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"

# ...and by the end of a field's name, for the fields that are not of those classes
NAME_EXAMPLES = {"fen": 39800, "bps": 500, "quantity": 1, "count": 10, "hours": 24, "days": 7, "minutes": 15}

ADDRESS_EXAMPLE = {
    "name": "张三",
    "phone": "13800138000",
    "province": "广东省",
    "city": "深圳市",
    "district": "南山区",
    "detail": "科技园南区 1 栋 101",
}

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _first_line(doc: str) -> str:
    return doc.strip().split("\n\n")[0].split("\n")[0].strip()


class AutoSchema(openapi.AutoSchema):
    def _method_handler(self):
        return getattr(self.view, self.method.lower(), None)

    def _docs(self) -> tuple[str, str]:
        """(summary, description) of this operation."""
        table = OPERATION_DOCS.get(self.get_operation_id())
        if table:
            summary, _, rest = table.partition("\n")
            return summary.strip(), table.strip()
        method_doc = get_doc(self._method_handler())
        if method_doc:
            return _first_line(method_doc), method_doc
        view_doc = get_doc(self.view.__class__)
        if view_doc:
            return _first_line(view_doc), view_doc
        return "", ""

    def get_summary(self):
        return self._docs()[0] or None

    def get_description(self):
        return self._docs()[1]

    # --- pagination --------------------------------------------------------------------------
    def _get_paginator(self):
        paginator = super()._get_paginator()
        if paginator is None and self.method == "GET":
            return Pagination()
        return paginator

    # --- Idempotency-Key --------------------------------------------------------------------
    def is_idempotent(self) -> bool:
        return bool(getattr(self._method_handler(), "idempotent", False))

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.is_idempotent():
            parameters.append(
                OpenApiParameter(
                    IDEMPOTENCY_HEADER,
                    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": KEY_PATTERN},
                    OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        "Makes a retry safe: the first request with a key runs, a repeat with the same body gets "
                        "the stored answer back (with `Idempotent-Replayed: true`), a different body 422, a repeat "
                        "while the first runs 409. Keys are per user and kept 24 hours. A UUID is a good key."
                    ),
                    examples=[],
                )
            )
        return parameters

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, StrictURLField) and isinstance(schema, dict):
            schema.update({"format": "uri", "pattern": "^https?://"})
        if isinstance(schema, dict) and "example" not in schema:
            for cls, example in FIELD_EXAMPLES:
                if isinstance(field, cls):
                    low, high = schema.get("minimum"), schema.get("maximum")
                    if (low is None or low <= example) and (high is None or example <= high):
                        schema["example"] = example
                    break
        return schema

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body and getattr(self._method_handler(), "settings_change", False):
            body["required"] = True
            for media in body.get("content", {}).values():
                media["schema"] = {"allOf": [media["schema"]], "minProperties": 1}
        return body

    # --- error responses ---------------------------------------------------------------------
    def _needs_login(self) -> bool:
        return not all(isinstance(p, AllowAny) for p in self.view.get_permissions())

    def _authenticates(self) -> bool:
        return bool(self.view.get_authenticators())

    def _throttled(self) -> bool:
        return bool(self.view.get_throttles())

    def error_statuses(self) -> list[int]:
        statuses = set()
        has_query = any(p.get("in") == "query" for p in self._get_parameters())
        has_path = "{" in self.path
        if self.method in {"POST", "PUT", "PATCH"} or has_query:
            statuses.add(400)
        if self._authenticates():
            statuses.add(401)
        if self._needs_login():
            statuses.update({401, 403})
        has_page = any(p.get("in") == "query" and p.get("name") == "page" for p in self._get_parameters())
        if (
            has_path
            or has_page
            or self.path.startswith(DISTRIBUTOR_PREFIX)
            or (self.method == "GET" and self._is_list_view())
        ):
            statuses.add(404)
        if self.method in WRITE_METHODS:
            statuses.update({404, 409})  # a write names objects (a SKU, an inviter, a target...)
        if self.is_idempotent():
            statuses.update({409, 422})
        if self._throttled():
            statuses.add(429)
        if self.get_operation_id() in UPSTREAM:
            statuses.update({502, 504})
        statuses.update(EXTRA_STATUSES.get(self.get_operation_id(), ()))
        return sorted(statuses)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        # A view that documents its own client errors (WeChat's XML callbacks, the images) knows
        # its answers: only the throttle's 429 and WeChat's 502/504 are added there.
        own = any(code.startswith("4") for code in responses)
        for status in self.error_statuses():
            code = str(status)
            if code in responses or (own and status not in (429, 502, 504)):
                continue
            responses[code] = self._get_response_for_code(
                OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status]), code, direction=direction
            )
        return responses


# Amounts and counts whose serializers are deliberately wide so that the service answers its own
# codes (amount_too_small, amount_too_large, count must be at least 1...): the schema still says the
# bounds the service enforces. api/red_envelopes.py's inputs are here because that module is the
# lead's (issue 12).
SERVICE_BOUNDS: dict[str, dict[str, tuple[int, int]]] = {
    "ContributionCreateInputRequest": {"amount_fen": (1, 10**10)},
    "EnvelopeCreateInputRequest": {"total_fen": (1, 10**10), "count": (1, 100_000)},
    "TopUpInputRequest": {"amount_fen": (1, 10**10)},
}


def postprocess_schema(result, generator, request, public):
    """Schema-wide touches after every operation is built (SPECTACULAR_SETTINGS POSTPROCESSING_HOOKS)."""
    components = result.get("components", {}).get("schemas", {})
    for name, bounds in SERVICE_BOUNDS.items():
        properties = components.get(name, {}).get("properties", {})
        for field, (low, high) in bounds.items():
            if field in properties:
                properties[field].update({"minimum": low, "maximum": high})
                if high < 2**31:
                    properties[field].pop("format", None)
    # Realistic examples by name wherever a field class gave none (Swagger UI would show the
    # maximum, 4611686018427388000, for an id bounded by 2^62).
    for schema in components.values():
        for name, prop in schema.get("properties", {}).items():
            if prop.get("type") != "integer" or "example" in prop or prop.get("readOnly"):
                continue
            example = 1 if name == "id" or name.endswith("_id") else NAME_EXAMPLES.get(name.rsplit("_", 1)[-1])
            low, high = prop.get("minimum"), prop.get("maximum")
            if example is not None and (low is None or low <= example) and (high is None or example <= high):
                prop["example"] = example
    # A delivery address that passes the checks (the examples phase of make fuzz places an order).
    for name in ("AddressRequest", "PatchedAddressRequest"):
        for field, example in ADDRESS_EXAMPLE.items():
            prop = components.get(name, {}).get("properties", {}).get(field)
            if prop is not None:
                prop.setdefault("example", example)
    # The paginated envelope: count ≥ 0, page numbers from 1.
    for name, schema in components.items():
        if name.startswith("Paginated") and "count" in schema.get("properties", {}):
            schema["properties"]["count"]["minimum"] = 0
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("in") == "path" and parameter["schema"].get("type") == "integer":
                    parameter["schema"].update({"minimum": 1, "maximum": ID_MAX})  # ids
                    parameter.setdefault("example", 1)
                if parameter.get("in") == "query" and parameter.get("name") in ("page", "page_size"):
                    parameter["schema"].update({"minimum": 1, "maximum": 10**9 - 1})
    return result
