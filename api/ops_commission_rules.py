"""Operators manage commission rules: /api/v1/ops/commission-rules/ (staff with the
commissions.*_commissionrule permissions).

POST takes `scope` (sku, product or tier) with exactly the matching target id and the rates;
PATCH changes rates or `is_active` only (the scope and target of a rule are fixed); DELETE
deactivates the rule (kept for history) and answers 204. A second active rule for the same
target is 409 `rule_exists`.
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.fields import ID_MAX, StrictCharField
from api.pagination import Pagination, paginated
from commissions.models import RuleScope
from commissions.selectors import rules as rule_selectors
from commissions.services import rules as rule_services


class _StrictBoolean(serializers.BooleanField):
    default_error_messages = {"strict": "Must be a JSON boolean (true or false)."}

    def to_internal_value(self, data):
        if type(data) is not bool:
            self.fail("strict")
        return data


@extend_schema_field(OpenApiTypes.INT)
class _Passthrough(serializers.Field):
    """The service judges the value strictly (type and range); the API only passes it on."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


def _passthrough(low: int, high: int):
    """A _Passthrough documented with the bounds the service enforces (ids from 1, bps 0-10000...)."""

    @extend_schema_field({"type": "integer", "minimum": low, "maximum": high})
    class Bounded(_Passthrough):
        pass

    return Bounded


_Id = _passthrough(1, ID_MAX)
_Bps = _passthrough(0, rule_services.BPS_MAX)
_FixedFen = _passthrough(0, rule_services.FIXED_MAX_FEN)


class _RejectUnknown(serializers.Serializer):
    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


class RuleCreateInput(_RejectUnknown):
    scope = serializers.ChoiceField(choices=RuleScope.choices)
    sku_id = _Id(required=False, allow_null=True)
    product_id = _Id(required=False, allow_null=True)
    tier_id = _Id(required=False, allow_null=True)
    level1_bps = _Bps(required=False, allow_null=True)
    level2_bps = _Bps(required=False, allow_null=True)
    level1_fixed_fen = _FixedFen(required=False, allow_null=True)
    level2_fixed_fen = _FixedFen(required=False, allow_null=True)
    is_active = _StrictBoolean(required=False)


class RuleUpdateInput(_RejectUnknown):
    level1_bps = _Bps(required=False, allow_null=True)
    level2_bps = _Bps(required=False, allow_null=True)
    level1_fixed_fen = _FixedFen(required=False, allow_null=True)
    level2_fixed_fen = _FixedFen(required=False, allow_null=True)
    is_active = _StrictBoolean(required=False)


class RuleOutput(serializers.Serializer):
    id = serializers.IntegerField()
    scope = StrictCharField()
    sku_id = serializers.IntegerField(allow_null=True)
    product_id = serializers.IntegerField(allow_null=True)
    tier_id = serializers.IntegerField(allow_null=True)
    level1_bps = serializers.IntegerField(allow_null=True)
    level2_bps = serializers.IntegerField(allow_null=True)
    level1_fixed_fen = serializers.IntegerField(allow_null=True)
    level2_fixed_fen = serializers.IntegerField(allow_null=True)
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RuleQuery(serializers.Serializer):
    scope = serializers.ChoiceField(choices=RuleScope.choices, required=False)
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)


class _RulePerms:
    permission_classes = [HasModelPerm]
    PERMS = {
        "GET": "commissions.view_commissionrule",
        "POST": "commissions.add_commissionrule",
        "PATCH": "commissions.change_commissionrule",
        "DELETE": "commissions.delete_commissionrule",
    }

    @property
    def required_perm(self) -> str:
        return self.PERMS.get(self.request.method, "commissions.__none__")


class OpsCommissionRuleListView(_RulePerms, APIView):
    """GET: rules, newest first; filters `scope`, `is_active`. POST: create a rule."""

    pagination_class = Pagination

    @extend_schema(parameters=[RuleQuery], responses={200: RuleOutput(many=True)}, tags=["ops"])
    def get(self, request):
        query = RuleQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        qs = rule_selectors.commission_rule_list(
            scope=query.validated_data.get("scope"), is_active=query.validated_data["is_active"]
        )
        return paginated(self, request, qs, RuleOutput)

    @extend_schema(request=RuleCreateInput, responses={201: RuleOutput}, tags=["ops"])
    def post(self, request):
        data = RuleCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        rule = rule_services.commission_rule_create(**data.validated_data)
        return Response(RuleOutput(rule).data, status=201)


class OpsCommissionRuleDetailView(_RulePerms, APIView):
    @extend_schema(responses={200: RuleOutput}, tags=["ops"])
    def get(self, request, pk: int):
        return Response(RuleOutput(rule_selectors.commission_rule_get(rule_id=pk)).data)

    @extend_schema(request=RuleUpdateInput, responses={200: RuleOutput}, tags=["ops"])
    def patch(self, request, pk: int):
        rule_selectors.commission_rule_get(rule_id=pk)  # 404 before judging the body
        data = RuleUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        rule = rule_services.commission_rule_update(rule_id=pk, **data.validated_data)
        return Response(RuleOutput(rule).data)

    @extend_schema(responses={204: None}, tags=["ops"])
    def delete(self, request, pk: int):
        rule_services.commission_rule_delete(rule_id=pk)
        return Response(status=204)
