"""Distributors, the operators' side: review (approve, reject, freeze, unfreeze), the
distribution settings, tiers."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.distribution import DistributorOutput
from api.fields import StrictIntegerField
from api.pagination import paginated, status_param
from distributors.models import DistributorStatus
from distributors.selectors import distributors as distributor_selectors
from distributors.services import distributors as distributor_services
from distributors.services import settings as settings_services
from distributors.services import tiers as tier_services


class OpsDistributorOutput(DistributorOutput):
    user_id = serializers.IntegerField()
    nickname = serializers.CharField(source="user.nickname")



class OpsDistributorListView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "distributors.view_distributor"

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=DistributorStatus.values, required=False)],
                   responses={200: OpsDistributorOutput(many=True)}, tags=["ops"])
    def get(self, request):
        status = status_param(request, DistributorStatus.values)
        return paginated(self, request, distributor_selectors.distributor_list(status=status), OpsDistributorOutput)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class _OpsDistributorAction(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "distributors.change_distributor"
    needs_reason = False

    def act(self, *, actor, distributor_id: int, reason: str):  # pragma: no cover - overridden
        raise NotImplementedError

    @extend_schema(request=ReasonInput, responses={200: OpsDistributorOutput}, tags=["ops"])
    def post(self, request, pk: int):
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        distributor = self.act(actor=request.user, distributor_id=pk, reason=data.validated_data["reason"])
        distributor = distributor_selectors.distributor_list().get(pk=distributor.pk)
        return Response(OpsDistributorOutput(distributor).data)


class OpsDistributorApproveView(_OpsDistributorAction):
    def act(self, *, actor, distributor_id, reason):
        return distributor_services.distributor_approve(actor=actor, distributor_id=distributor_id)


class OpsDistributorRejectView(_OpsDistributorAction):
    def act(self, *, actor, distributor_id, reason):
        return distributor_services.distributor_reject(actor=actor, distributor_id=distributor_id, reason=reason)


class OpsDistributorFreezeView(_OpsDistributorAction):
    def act(self, *, actor, distributor_id, reason):
        return distributor_services.distributor_freeze(actor=actor, distributor_id=distributor_id, reason=reason)


class OpsDistributorUnfreezeView(_OpsDistributorAction):
    def act(self, *, actor, distributor_id, reason):
        return distributor_services.distributor_unfreeze(actor=actor, distributor_id=distributor_id)


class DistributionSettingsSerializer(serializers.Serializer):
    """All fields optional on PUT: only those sent change (validated together)."""

    recruitment_mode = serializers.CharField()
    recruitment_threshold_fen = serializers.IntegerField()
    binding_mode = serializers.CharField()
    binding_days = serializers.IntegerField()
    protection_days = serializers.IntegerField()
    levels = serializers.IntegerField()
    self_purchase_commission = serializers.BooleanField()
    default_level1_bps = serializers.IntegerField()
    default_level2_bps = serializers.IntegerField()
    freeze_days = serializers.IntegerField()
    withdrawal_min_fen = serializers.IntegerField()
    withdrawal_fee_bps = serializers.IntegerField()
    withdrawal_min_fee_fen = serializers.IntegerField()
    withdrawal_daily_count = serializers.IntegerField()
    withdrawal_daily_amount_fen = serializers.IntegerField()
    transfer_max_fen = serializers.IntegerField()
    updated_at = serializers.DateTimeField(read_only=True)


class OpsDistributionSettingsView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "distributors.change_distributionsettings"

    @extend_schema(responses={200: DistributionSettingsSerializer}, tags=["ops"])
    def get(self, request):
        return Response(DistributionSettingsSerializer(settings_services.distribution_settings_get()).data)

    @extend_schema(request=DistributionSettingsSerializer, responses={200: DistributionSettingsSerializer},
                   tags=["ops"])
    def put(self, request):
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"non_field_errors": ["A JSON object is expected."]})
        # The service validates strictly (types included), so the raw JSON values go through.
        row = settings_services.distribution_settings_update(actor=request.user, **request.data)
        return Response(DistributionSettingsSerializer(row).data)


class TierSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=32)
    rank = StrictIntegerField(min_value=0, max_value=1000)
    level1_bps = StrictIntegerField(min_value=0, max_value=10000, allow_null=True, required=False)
    level2_bps = StrictIntegerField(min_value=0, max_value=10000, allow_null=True, required=False)
    min_own_gmv_fen = StrictIntegerField(min_value=0, required=False)
    min_team_gmv_fen = StrictIntegerField(min_value=0, required=False)
    min_order_count = StrictIntegerField(min_value=0, required=False)
    min_invited_count = StrictIntegerField(min_value=0, required=False)
    match = serializers.ChoiceField(choices=["all", "any"], required=False)


class OpsTierListView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "distributors.change_tier"

    @extend_schema(responses={200: TierSerializer(many=True)}, tags=["ops"])
    def get(self, request):
        return paginated(self, request, distributor_selectors.tier_list(), TierSerializer)

    @extend_schema(request=TierSerializer, responses={201: TierSerializer}, tags=["ops"])
    def post(self, request):
        data = TierSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(TierSerializer(tier_services.tier_create(**data.validated_data)).data, status=201)


class OpsTierDetailView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "distributors.change_tier"

    @extend_schema(responses={200: TierSerializer}, tags=["ops"])
    def get(self, request, pk: int):
        return Response(TierSerializer(distributor_selectors.tier_get(tier_id=pk)).data)

    @extend_schema(request=TierSerializer, responses={200: TierSerializer}, tags=["ops"])
    def patch(self, request, pk: int):
        data = TierSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(TierSerializer(tier_services.tier_update(tier_id=pk, **data.validated_data)).data)

    @extend_schema(responses={204: None}, tags=["ops"])
    def delete(self, request, pk: int):
        tier_services.tier_delete(tier_id=pk)
        return Response(status=204)
