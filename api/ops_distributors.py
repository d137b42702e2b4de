"""Distributors, the operators' side: review (approve, reject, freeze, unfreeze), the
distribution settings, tiers."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.distribution import DistributorOutput
from api.fields import BpsField, StrictCharField, StrictChoiceField, StrictIntegerField
from api.pagination import paginated, status_param
from api.settings_change import StrictBooleanField, bounded, settings_changes, settings_schema
from distributors.models import DistributorStatus
from distributors.selectors import distributors as distributor_selectors
from distributors.services import distributors as distributor_services
from distributors.services import settings as settings_services
from distributors.services import tiers as tier_services


class OpsDistributorOutput(DistributorOutput):
    user_id = serializers.IntegerField()
    nickname = StrictCharField(source="user.nickname")



class OpsDistributorListView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "distributors.view_distributor"

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=DistributorStatus.values, required=False)],
                   responses={200: OpsDistributorOutput(many=True)}, tags=["ops"])
    def get(self, request):
        status = status_param(request, DistributorStatus.values)
        return paginated(self, request, distributor_selectors.distributor_list(status=status), OpsDistributorOutput)


class ReasonInput(serializers.Serializer):
    reason = StrictCharField(max_length=200, required=False, allow_blank=True, default="")


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


def _setting_field(name: str) -> serializers.Field:
    """The field of one distribution setting, with the service's own bounds or choices."""
    kind, spec = settings_services._FIELDS[name]
    if kind == "bool":
        return StrictBooleanField()
    if kind == "choice":
        return StrictChoiceField(choices=spec)
    low, high = spec
    if name.endswith("_bps"):
        return BpsField(min_value=low, max_value=high)
    return bounded(low, high)


class DistributionSettingsSerializer(serializers.Serializer):
    """PATCH (or PUT): only the fields sent change, validated together (level 1 + level 2 at
    most 10000 bps); an empty body, an unknown field or a bad value is 400 and nothing changes."""

    recruitment_mode = _setting_field("recruitment_mode")
    recruitment_threshold_fen = _setting_field("recruitment_threshold_fen")
    binding_mode = _setting_field("binding_mode")
    binding_days = _setting_field("binding_days")
    protection_days = _setting_field("protection_days")
    levels = _setting_field("levels")
    self_purchase_commission = _setting_field("self_purchase_commission")
    default_level1_bps = _setting_field("default_level1_bps")
    default_level2_bps = _setting_field("default_level2_bps")
    freeze_days = _setting_field("freeze_days")
    withdrawal_min_fen = _setting_field("withdrawal_min_fen")
    withdrawal_fee_bps = _setting_field("withdrawal_fee_bps")
    withdrawal_min_fee_fen = _setting_field("withdrawal_min_fee_fen")
    withdrawal_daily_count = _setting_field("withdrawal_daily_count")
    withdrawal_daily_amount_fen = _setting_field("withdrawal_daily_amount_fen")
    transfer_max_fen = _setting_field("transfer_max_fen")
    updated_at = serializers.DateTimeField(read_only=True)


class OpsDistributionSettingsView(APIView):
    """The distribution settings: recruitment, binding, levels and default rates, freeze period,
    withdrawal limits and fees."""

    permission_classes = [HasModelPerm]
    required_perm = "distributors.change_distributionsettings"

    @extend_schema(responses={200: DistributionSettingsSerializer}, tags=["ops"])
    def get(self, request):
        """The distribution settings."""
        return Response(DistributionSettingsSerializer(settings_services.distribution_settings_get()).data)

    @settings_schema(DistributionSettingsSerializer, tags=["ops"])
    def patch(self, request):
        """Change some distribution settings.

        Only the fields sent change; they are validated together (level 1 + level 2 at most
        10000 bps). An empty body, an unknown field or a bad value is 400 `invalid` and nothing
        changes."""
        changes = settings_changes(request, DistributionSettingsSerializer)
        row = settings_services.distribution_settings_update(actor=request.user, **changes)
        return Response(DistributionSettingsSerializer(row).data)

    @settings_schema(DistributionSettingsSerializer, tags=["ops"], deprecated=True)
    def put(self, request):
        """Change some distribution settings (the same as PATCH; kept for existing clients).

        Only the fields sent change; an empty body is 400 `invalid`."""
        return self.patch(request)


class TierSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = StrictCharField(max_length=32)
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
