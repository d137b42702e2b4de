"""Distributors: applying, my distributor page, team, customers; operators' review, settings, tiers."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.fields import StrictCharField, StrictIntegerField
from api.pagination import paginated, status_param
from distributors.errors import NotADistributor
from distributors.models import DistributorStatus
from distributors.selectors import distributors as distributor_selectors
from distributors.services import distributors as distributor_services
from distributors.services import settings as settings_services
from distributors.services import tiers as tier_services

PHONE_RE = r"^\+?[0-9][0-9\- ]{4,19}$"


class TierRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    rank = serializers.IntegerField()


class InviterOutput(serializers.Serializer):
    id = serializers.IntegerField()
    nickname = serializers.CharField(source="user.nickname")
    invite_code = serializers.CharField()


class DistributorOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DistributorStatus.choices)
    tier = TierRefOutput(allow_null=True)
    invite_code = serializers.CharField()
    inviter = InviterOutput(allow_null=True)
    real_name = serializers.CharField()
    phone = serializers.CharField()
    reason = serializers.CharField()
    applied_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(allow_null=True)


class DistributorMeOutput(DistributorOutput):
    summary = serializers.DictField(child=serializers.IntegerField())


class OpsDistributorOutput(DistributorOutput):
    user_id = serializers.IntegerField()
    nickname = serializers.CharField(source="user.nickname")


def distributor_brief(user) -> dict | None:
    """The `distributor` field of /api/v1/me/: null, or status, tier and invite code."""
    distributor = distributor_selectors.distributor_brief_for_user(user=user)
    if distributor is None:
        return None
    return {
        "id": distributor.pk,
        "status": distributor.status,
        "tier": TierRefOutput(distributor.tier).data if distributor.tier else None,
        "invite_code": distributor.invite_code,
    }



def _my_distributor(request):
    distributor = distributor_selectors.distributor_for_user(user=request.user)
    if distributor is None:
        raise NotADistributor()
    return distributor


class ApplyInput(serializers.Serializer):
    real_name = StrictCharField(max_length=32)
    phone = serializers.RegexField(PHONE_RE, max_length=20)
    invite_code = serializers.CharField(max_length=12, required=False, allow_blank=True, allow_null=True)


class DistributorApplyView(APIView):
    @extend_schema(request=ApplyInput, responses={201: DistributorOutput}, tags=["distribution"])
    def post(self, request):
        data = ApplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        distributor_services.distributor_apply(user=request.user, **data.validated_data)
        return Response(DistributorOutput(_my_distributor(request)).data, status=201)


class InviterInput(serializers.Serializer):
    invite_code = serializers.CharField(max_length=12)


class DistributorInviterView(APIView):
    """Name your inviter once, if you joined without one."""

    @extend_schema(request=InviterInput, responses={200: DistributorOutput}, tags=["distribution"])
    def post(self, request):
        data = InviterInput(data=request.data)
        data.is_valid(raise_exception=True)
        distributor_services.distributor_set_inviter(user=request.user, **data.validated_data)
        return Response(DistributorOutput(_my_distributor(request)).data)


class DistributorMeView(APIView):
    @extend_schema(responses={200: DistributorMeOutput}, tags=["distribution"])
    def get(self, request):
        distributor = _my_distributor(request)
        body = DistributorOutput(distributor).data
        body["summary"] = distributor_selectors.distributor_summary(distributor=distributor)
        return Response(body)


class TeamMemberOutput(serializers.Serializer):
    id = serializers.IntegerField()
    level = serializers.IntegerField()
    nickname = serializers.CharField(source="user.nickname")
    avatar_url = serializers.CharField(source="user.avatar_url")
    status = serializers.CharField()
    tier = TierRefOutput(allow_null=True)
    applied_at = serializers.DateTimeField()


class DistributorTeamView(APIView):
    @extend_schema(parameters=[OpenApiParameter("level", int, enum=[1, 2], required=False)],
                   responses={200: TeamMemberOutput(many=True)}, tags=["distribution"])
    def get(self, request):
        distributor = _my_distributor(request)
        level = request.query_params.get("level")
        if level not in (None, "", "1", "2"):
            raise serializers.ValidationError({"level": ["1 or 2."]})
        team = distributor_selectors.distributor_team(distributor=distributor, level=int(level) if level else None)
        return paginated(self, request, team, TeamMemberOutput)


class CustomerOutput(serializers.Serializer):
    user_id = serializers.IntegerField(source="customer_id")
    nickname = serializers.CharField(source="customer.nickname")
    avatar_url = serializers.CharField(source="customer.avatar_url")
    source = serializers.CharField()
    link_code = serializers.CharField(source="link.code", allow_null=True, default=None)
    bound_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    protected_until = serializers.DateTimeField()


class DistributorCustomersView(APIView):
    @extend_schema(responses={200: CustomerOutput(many=True)}, tags=["distribution"])
    def get(self, request):
        distributor = _my_distributor(request)
        return paginated(self, request, distributor_selectors.distributor_customers(distributor=distributor),
                          CustomerOutput)


# --- operators ---------------------------------------------------------------------------------


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
