"""Distributors: applying, my distributor page, team, customers (the operators' side:
api/ops_distributors.py)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.fields import StrictCharField, StrictRegexField
from api.pagination import paginated
from distributors.errors import NotADistributor
from distributors.models import DistributorStatus
from distributors.selectors import distributors as distributor_selectors
from distributors.services import distributors as distributor_services

PHONE_RE = r"^\+?[0-9][0-9\- ]{4,19}$"


class TierRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = StrictCharField()
    rank = serializers.IntegerField()


class InviterOutput(serializers.Serializer):
    id = serializers.IntegerField()
    nickname = StrictCharField(source="user.nickname")
    invite_code = StrictCharField()


class DistributorOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DistributorStatus.choices)
    tier = TierRefOutput(allow_null=True)
    invite_code = StrictCharField()
    inviter = InviterOutput(allow_null=True)
    real_name = StrictCharField()
    phone = StrictCharField()
    reason = StrictCharField()
    applied_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(allow_null=True)


class DistributorMeOutput(DistributorOutput):
    summary = serializers.DictField(child=serializers.IntegerField())


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
    phone = StrictRegexField(PHONE_RE, max_length=20)
    invite_code = StrictCharField(max_length=12, required=False, allow_blank=True, allow_null=True)


class DistributorApplyView(APIView):
    @extend_schema(request=ApplyInput, responses={201: DistributorOutput}, tags=["distribution"])
    def post(self, request):
        data = ApplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        distributor_services.distributor_apply(user=request.user, **data.validated_data)
        return Response(DistributorOutput(_my_distributor(request)).data, status=201)


class InviterInput(serializers.Serializer):
    invite_code = StrictCharField(max_length=12)


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
    nickname = StrictCharField(source="user.nickname")
    avatar_url = StrictCharField(source="user.avatar_url")
    status = StrictCharField()
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
    nickname = StrictCharField(source="customer.nickname")
    avatar_url = StrictCharField(source="customer.avatar_url")
    source = StrictCharField()
    link_code = StrictCharField(source="link.code", allow_null=True, default=None)
    bound_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    protected_until = serializers.DateTimeField()


class DistributorCustomersView(APIView):
    @extend_schema(responses={200: CustomerOutput(many=True)}, tags=["distribution"])
    def get(self, request):
        distributor = _my_distributor(request)
        return paginated(self, request, distributor_selectors.distributor_customers(distributor=distributor),
                          CustomerOutput)
