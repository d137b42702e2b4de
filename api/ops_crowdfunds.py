"""Crowdfunds — the operators' side (the shoppers': the crowdfund endpoints).

* `GET /api/v1/ops/crowdfunds/?status=&product=&from=&to=&initiator=` — paginated, newest
  first (`campaigns.view_crowdfund`);
* `GET /api/v1/ops/crowdfunds/{id}/` — one crowdfund with its contributions (each with its
  WeChat payment and its refunds with theirs), events and ledger postings (same permission);
* `GET/PUT /api/v1/ops/settings/crowdfunds/` — the shop's crowdfund settings
  (`campaigns.change_crowdfundsettings`); PUT changes the fields sent, strictly typed;
* `GET/PUT /api/v1/ops/products/{id}/crowdfund-rule/` — crowdfunding off for a product, or
  its minimum goal (`campaigns.change_crowdfundproductrule`); 404 for an unknown product,
  checked before the body.

Reads go through campaigns/selectors/ops.py, writes through campaigns/services/settings.py.
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.fields import MomentField, StrictCharField
from api.pagination import Pagination
from api.settings_change import INT_COLUMN_MAX, StrictBooleanField, bounded, settings_changes, settings_schema
from campaigns.models import CampaignRefundStatus, ContributionStatus, CrowdfundStatus
from campaigns.selectors import ops as ops_selectors
from campaigns.services import settings as settings_services

VIEW_PERM = "campaigns.view_crowdfund"
SETTINGS_PERM = "campaigns.change_crowdfundsettings"
RULE_PERM = "campaigns.change_crowdfundproductrule"
MAX_ID = 2**62


# --- filters ------------------------------------------------------------------------------

class PeriodQuery(serializers.Serializer):
    """`from` / `to` (a day or a date-time, both inclusive; `to` not before `from`); shared
    with the red-envelope ops list."""

    def get_fields(self):
        fields = super().get_fields()  # `from` is a Python keyword: added here
        fields["from"] = MomentField(end_of_day=False, required=False)
        fields["to"] = MomentField(end_of_day=True, required=False)
        return fields

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"to": ["to is before from."]})
        return attrs


class CrowdfundQuery(PeriodQuery):
    status = serializers.ChoiceField(choices=CrowdfundStatus.choices, required=False)
    product = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    initiator = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


FILTER_PARAMS = [
    OpenApiParameter("status", str, enum=CrowdfundStatus.values, required=False),
    OpenApiParameter("product", int, required=False, description="The product id"),
    OpenApiParameter("from", str, required=False, description="Started from: YYYY-MM-DD or ISO date-time"),
    OpenApiParameter("to", str, required=False, description="Started until (a day: its end), inclusive; ≥ `from`"),
    OpenApiParameter("initiator", int, required=False, description="The initiator's user id"),
]


# --- output -------------------------------------------------------------------------------

class CrowdfundUserRef(serializers.Serializer):
    id = serializers.IntegerField()
    username = StrictCharField()
    nickname = StrictCharField()


class CrowdfundOrderRef(serializers.Serializer):
    no = StrictCharField()
    status = StrictCharField()
    paid_fen = serializers.IntegerField()
    refunded_fen = serializers.IntegerField()


def _counts(name: str, keys) -> serializers.Serializer:
    return type(name, (serializers.Serializer,), {k: serializers.IntegerField() for k in keys})()


class CrowdfundFiguresOutput(serializers.Serializer):
    contributions = _counts("CrowdfundContributionsByStatus", ContributionStatus.values)
    paid_fen = serializers.IntegerField(help_text="Contributions whose money arrived (counted or being refunded)")
    refunded_fen = serializers.IntegerField(help_text="Given back to contributors so far")
    refunds = _counts("CrowdfundRefundsByStatus", CampaignRefundStatus.values)
    needs_operator = serializers.BooleanField(help_text="A refund failed every attempt: an operator must pay it")


class OpsCrowdfundRowOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = StrictCharField()
    sku_name = StrictCharField()
    product_id = serializers.IntegerField()
    sku_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    initiator = CrowdfundUserRef()
    price_fen = serializers.IntegerField()
    goal_fen = serializers.IntegerField()
    raised_fen = serializers.IntegerField()
    reserved_fen = serializers.IntegerField()
    missing_fen = serializers.IntegerField()
    contributors = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CrowdfundStatus.choices)
    share_code = StrictCharField()
    deadline = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    funded_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    stock_held = serializers.BooleanField()
    order = CrowdfundOrderRef(allow_null=True)
    figures = CrowdfundFiguresOutput(source="ops_figures")


class WechatPaymentRef(serializers.Serializer):
    out_trade_no = StrictCharField()
    status = StrictCharField()
    amount_fen = serializers.IntegerField()
    transaction_id = StrictCharField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    notify_count = serializers.IntegerField()
    error_code = StrictCharField()
    created_at = serializers.DateTimeField()


class WechatRefundRef(serializers.Serializer):
    out_refund_no = StrictCharField()
    status = StrictCharField()
    amount_fen = serializers.IntegerField()
    refund_id = StrictCharField()
    succeeded_at = serializers.DateTimeField(allow_null=True)
    error_code = StrictCharField()
    error_message = StrictCharField()


class CampaignRefundOutput(serializers.Serializer):
    id = serializers.IntegerField()
    no = StrictCharField()
    amount_fen = serializers.IntegerField()
    reason = StrictCharField()
    mall_refund_no = StrictCharField()
    attempt = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CampaignRefundStatus.choices)
    error_code = StrictCharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    wechat = WechatRefundRef(allow_null=True, help_text="The WeChat refund (None until it was asked for)")


class OpsContributionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    no = StrictCharField()
    user = CrowdfundUserRef()
    amount_fen = serializers.IntegerField()
    refunded_fen = serializers.IntegerField()
    message = StrictCharField()
    anonymous = serializers.BooleanField()
    is_rest = serializers.BooleanField()
    status = serializers.ChoiceField(choices=ContributionStatus.choices)
    reserved_until = serializers.DateTimeField()
    transaction_id = StrictCharField()
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    payment = WechatPaymentRef(allow_null=True, help_text="Its WeChat payment (out_trade_no = no)")
    refunds = CampaignRefundOutput(many=True, source="refund_rows")


class CrowdfundEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    subject = StrictCharField()
    kind = StrictCharField()
    contribution_id = serializers.IntegerField(allow_null=True)
    from_status = StrictCharField()
    to_status = StrictCharField()
    actor = CrowdfundUserRef(allow_null=True)
    data = serializers.JSONField()
    created_at = serializers.DateTimeField()


class PostingEntryOutput(serializers.Serializer):
    account = StrictCharField(source="account.code")
    kind = StrictCharField(source="account.kind")
    amount_fen = serializers.IntegerField()


class PostingOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = StrictCharField()
    memo = StrictCharField()
    cause_type = StrictCharField()
    cause_id = StrictCharField()
    created_at = serializers.DateTimeField()
    entries = PostingEntryOutput(many=True)


class OpsCrowdfundDetailOutput(OpsCrowdfundRowOutput):
    address = serializers.JSONField()
    message = StrictCharField()
    attribution = serializers.JSONField()
    escrow_fen = serializers.IntegerField(help_text="What the crowdfund's escrow account holds now")
    contributions = OpsContributionOutput(many=True)
    events = CrowdfundEventOutput(many=True)
    postings = PostingOutput(many=True)


def _detail(crowdfund_id: int) -> dict:
    detail = ops_selectors.crowdfund_detail_for_ops(crowdfund_id=crowdfund_id)
    cf = detail["crowdfund"]
    data = dict(OpsCrowdfundRowOutput(cf).data)
    data.update(address=cf.address, message=cf.message, attribution=cf.attribution, escrow_fen=detail["escrow_fen"],
                contributions=OpsContributionOutput(detail["contributions"], many=True).data,
                events=CrowdfundEventOutput(detail["events"], many=True).data,
                postings=PostingOutput(detail["postings"], many=True).data)
    return data


# --- views --------------------------------------------------------------------------------

class OpsCrowdfundListView(APIView):
    """Crowdfunds newest first, each with its page-loaded figures (contributions and refunds
    by status, paid and refunded fen, whether a refund waits for an operator)."""

    permission_classes = [HasModelPerm]
    required_perm = VIEW_PERM
    pagination_class = Pagination  # for the schema

    @extend_schema(parameters=FILTER_PARAMS, responses={200: OpsCrowdfundRowOutput(many=True)}, tags=["ops"])
    def get(self, request):
        query = CrowdfundQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        v = query.validated_data
        qs = ops_selectors.crowdfund_list_for_ops(
            status=v.get("status"), product_id=v.get("product"), created_from=v.get("from"),
            created_to=v.get("to"), initiator_id=v.get("initiator"))
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        ops_selectors.crowdfunds_figures_attach(crowdfunds=page)
        return paginator.get_paginated_response(OpsCrowdfundRowOutput(page, many=True).data)


class OpsCrowdfundDetailView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = VIEW_PERM

    @extend_schema(responses={200: OpsCrowdfundDetailOutput}, tags=["ops"])
    def get(self, request, pk: int):
        return Response(_detail(pk))


def _bounded(name: str) -> serializers.IntegerField:
    low, high = settings_services.LIMITS[name]
    # Money columns are bigint (the service's bounds fit); the others are `integer` columns.
    return bounded(low, high if name.endswith("_fen") else min(high, INT_COLUMN_MAX))


class CrowdfundSettingsSerializer(serializers.Serializer):
    """PATCH (or PUT): only the fields sent change; integers must be JSON integers, `enabled` a
    boolean; an empty body, an unknown field, a value out of range or a default duration above
    the maximum is 400 `invalid` (extra.fields) and nothing changes."""

    enabled = StrictBooleanField()
    default_duration_hours = _bounded("default_duration_hours")
    max_duration_hours = _bounded("max_duration_hours")
    min_contribution_fen = _bounded("min_contribution_fen")
    pay_window_minutes = _bounded("pay_window_minutes")
    min_goal_fen = _bounded("min_goal_fen")
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class OpsCrowdfundSettingsView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = SETTINGS_PERM

    @extend_schema(responses={200: CrowdfundSettingsSerializer}, tags=["ops"])
    def get(self, request):
        """The crowdfund settings."""
        return Response(CrowdfundSettingsSerializer(settings_services.crowdfund_settings_get()).data)

    @settings_schema(CrowdfundSettingsSerializer, tags=["ops"])
    def patch(self, request):
        """Change the crowdfund settings.

        Only the fields sent change; an empty body, an unknown field, a bad value or a default
        duration above the maximum is 400 `invalid` and nothing changes."""
        changes = settings_changes(request, CrowdfundSettingsSerializer)
        row = settings_services.crowdfund_settings_update(actor=request.user, **changes)
        return Response(CrowdfundSettingsSerializer(row).data)

    @settings_schema(CrowdfundSettingsSerializer, tags=["ops"], deprecated=True)
    def put(self, request):
        """Change the crowdfund settings (the same as PATCH; kept for existing clients).

        Only the fields sent change; an empty body is 400 `invalid`."""
        return self.patch(request)


class CrowdfundProductRuleSerializer(serializers.Serializer):
    """PATCH (or PUT): `enabled` (boolean) and/or `min_goal_fen` (JSON integer, fen); only those
    sent change. An empty body, anything else, or null, is 400 `invalid`."""

    product_id = serializers.IntegerField(read_only=True)
    enabled = StrictBooleanField()
    # an `integer` column: the service's bound (10^10) does not fit on PostgreSQL
    min_goal_fen = bounded(0, settings_services.MAX_FEN)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class OpsCrowdfundProductRuleView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = RULE_PERM

    @extend_schema(responses={200: CrowdfundProductRuleSerializer}, tags=["ops"])
    def get(self, request, pk: int):
        """A product's crowdfund rule (whether it may be crowdfunded, the smallest goal)."""
        rule = ops_selectors.crowdfund_product_rule_for_ops(product_id=pk)
        return Response(CrowdfundProductRuleSerializer(rule).data)

    @settings_schema(CrowdfundProductRuleSerializer, tags=["ops"])
    def patch(self, request, pk: int):
        """Change a product's crowdfund rule.

        `enabled` and/or `min_goal_fen`; only those sent change. An unknown product is 404; an
        empty body, another field, null or a bad value is 400 `invalid`."""
        ops_selectors.crowdfund_product_rule_for_ops(product_id=pk)  # 404 before judging the body
        changes = settings_changes(request, CrowdfundProductRuleSerializer)
        # The service validates the types strictly again (a string or float is refused).
        rule = settings_services.crowdfund_product_rule_set(product_id=pk, **changes)
        return Response(CrowdfundProductRuleSerializer(rule).data)

    @settings_schema(CrowdfundProductRuleSerializer, tags=["ops"], deprecated=True)
    def put(self, request, pk: int):
        """Change a product's crowdfund rule (the same as PATCH; kept for existing clients).

        Only the fields sent change; an empty body is 400 `invalid`."""
        return self.patch(request, pk)
