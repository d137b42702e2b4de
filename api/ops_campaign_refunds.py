"""Operators and campaign refunds: the list (what waits for an operator first of all), "send it
again" for a refund WeChat refused on every attempt, and "settled" for one paid back outside the
API after WeChat could not deliver it (campaigns/services/refund_retries.py)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.fields import StrictCharField
from api.pagination import Pagination
from campaigns.models import CampaignRefundStatus
from campaigns.selectors.ops_refunds import campaign_refund_list_for_ops
from campaigns.services.refund_retries import MAX_NOTE_CHARS, campaign_refund_retry, campaign_refund_settle

VIEW_PERM = "campaigns.view_campaignrefund"
RETRY_PERM = "campaigns.change_campaignrefund"


class RefundQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=CampaignRefundStatus.choices, required=False)
    needs_operator = serializers.BooleanField(required=False, allow_null=True, default=None)
    campaign = serializers.ChoiceField(choices=["crowdfund", "red_envelope"], required=False)


class OpsCampaignRefundOutput(serializers.Serializer):
    id = serializers.IntegerField()
    no = serializers.CharField(help_text="out_refund_no at WeChat")
    campaign = serializers.SerializerMethodField()
    campaign_id = serializers.SerializerMethodField()
    paid_no = serializers.SerializerMethodField(help_text="The contribution's or backing's number (its payment)")
    user_id = serializers.SerializerMethodField()
    amount_fen = serializers.IntegerField()
    reason = serializers.CharField()
    attempt = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CampaignRefundStatus.choices)
    error_code = serializers.CharField()
    needs_operator = serializers.BooleanField(help_text="Failed, and no later attempt: only an operator sends it again")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def _paid(self, obj):
        return obj.contribution if obj.contribution_id is not None else obj.backing

    def get_campaign(self, obj) -> str:
        return "crowdfund" if obj.contribution_id is not None else "red_envelope"

    def get_campaign_id(self, obj) -> int:
        return obj.contribution.crowdfund_id if obj.contribution_id is not None else obj.backing.envelope_id

    def get_paid_no(self, obj) -> str:
        return self._paid(obj).no

    def get_user_id(self, obj) -> int | None:
        return self._paid(obj).user_id


class OpsCampaignRefundListView(APIView):
    """Refunds of crowdfund contributions and red-envelope backings, newest first;
    `needs_operator=true` lists those WeChat refused on every attempt."""

    permission_classes = [HasModelPerm]
    required_perm = VIEW_PERM
    pagination_class = Pagination  # for the schema

    @extend_schema(parameters=[
        OpenApiParameter("status", str, enum=[c for c, _ in CampaignRefundStatus.choices]),
        OpenApiParameter("needs_operator", bool),
        OpenApiParameter("campaign", str, enum=["crowdfund", "red_envelope"]),
    ], responses={200: OpsCampaignRefundOutput(many=True)}, tags=["ops"])
    def get(self, request):
        query = RefundQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        v = query.validated_data
        qs = campaign_refund_list_for_ops(status=v.get("status"), needs_operator=v.get("needs_operator"),
                                          campaign=v.get("campaign"))
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(OpsCampaignRefundOutput(page, many=True).data)


class OpsCampaignRefundRetryView(APIView):
    """Send a refund WeChat refused on its last attempt again, as a new attempt with a new
    number (409 `refund_not_failed` / `refund_retried_already` otherwise)."""

    permission_classes = [HasModelPerm]
    required_perm = RETRY_PERM

    @extend_schema(request=None, responses={201: OpsCampaignRefundOutput}, tags=["ops"])
    def post(self, request, pk: int):
        new = campaign_refund_retry(refund_id=pk, operator=request.user)
        row = campaign_refund_list_for_ops().get(pk=new.pk)
        return Response(OpsCampaignRefundOutput(row).data, status=201)


class SettleInput(serializers.Serializer):
    note = StrictCharField(max_length=MAX_NOTE_CHARS, help_text="How the money was paid back (e.g. the merchant "
                           "platform's abnormal-refund transfer to the payer's bank card)")


class OpsCampaignRefundSettleView(APIView):
    """Record that a refund WeChat refused on its last attempt was paid back outside the API:
    `settled`, and the campaign's escrow pays it out as for a WeChat success."""

    permission_classes = [HasModelPerm]
    required_perm = RETRY_PERM

    @extend_schema(request=SettleInput, responses={200: OpsCampaignRefundOutput}, tags=["ops"])
    def post(self, request, pk: int):
        body = SettleInput(data=request.data)
        body.is_valid(raise_exception=True)
        done = campaign_refund_settle(refund_id=pk, operator=request.user, note=body.validated_data["note"])
        return Response(OpsCampaignRefundOutput(campaign_refund_list_for_ops().get(pk=done.pk)).data)
