"""Crowdfunds (好友众筹) — the shoppers' and friends' side (the operators': api/ops_crowdfunds.py).

Every rule is in campaigns/services/crowdfunds.py; these views turn HTTP into those calls."""
from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from api.fields import IdField, StrictCharField, StrictIntegerField
from api.idempotency import idempotent
from api.mall_orders import AddressSerializer, PayOutput
from api.net import client_ip
from api.pagination import paginated, status_param
from campaigns.models import MAX_MESSAGE_CHARS, ContributionStatus, CrowdfundStatus
from campaigns.selectors import crowdfunds as cf_selectors
from campaigns.services import crowdfunds as cf_services
from distributors.services.attribution import ATTRIBUTION_COOKIE

MAX_DURATION_HOURS = 7 * 24


class CrowdfundCreateInput(serializers.Serializer):
    sku_id = IdField()
    quantity = StrictIntegerField(min_value=1, max_value=settings.MALL_MAX_QUANTITY_PER_ITEM)
    address = AddressSerializer()
    message = StrictCharField(max_length=MAX_MESSAGE_CHARS, required=False, allow_blank=True, default="")
    duration_hours = StrictIntegerField(min_value=1, max_value=MAX_DURATION_HOURS, required=False, allow_null=True,
                                        default=None)
    share_code = StrictCharField(max_length=32, required=False, allow_blank=True, default="")


class ContributionCreateInput(serializers.Serializer):
    amount_fen = StrictIntegerField(min_value=-(2**62), max_value=2**62,
                                    help_text="Fen; from the operator's minimum to what is still missing")
    message = StrictCharField(max_length=MAX_MESSAGE_CHARS, required=False, allow_blank=True, default="")
    anonymous = serializers.BooleanField(required=False, default=False)

    def validate_anonymous(self, value):
        if type(self.initial_data.get("anonymous", False)) is not bool:
            raise serializers.ValidationError("true or false.")
        return value


class FinishInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=["pay_rest", "cancel"])


class BackerOutput(serializers.Serializer):
    user_id = serializers.IntegerField(allow_null=True)
    nickname = StrictCharField()
    avatar_url = StrictCharField()
    amount_fen = serializers.IntegerField()
    message = StrictCharField()
    anonymous = serializers.BooleanField()
    paid_at = serializers.DateTimeField(allow_null=True)


class InitiatorFiguresOutput(serializers.Serializer):
    pending_count = serializers.IntegerField()
    pending_fen = serializers.IntegerField()
    refunding_fen = serializers.IntegerField()
    refunded_fen = serializers.IntegerField()
    own_fen = serializers.IntegerField()
    address = AddressSerializer()
    order_no = StrictCharField(allow_null=True)
    can_cancel = serializers.BooleanField()
    can_pay_rest = serializers.BooleanField()


class CrowdfundOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CrowdfundStatus.choices)
    title = StrictCharField()
    sku_name = StrictCharField()
    image = StrictCharField()
    product_id = serializers.IntegerField()
    sku_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    price_fen = serializers.IntegerField()
    goal_fen = serializers.IntegerField()
    raised_fen = serializers.IntegerField()
    reserved_fen = serializers.IntegerField()
    missing_fen = serializers.IntegerField()
    progress_bps = serializers.SerializerMethodField()
    contributors = serializers.IntegerField(help_text="Paid, counted contributions")
    message = StrictCharField()
    initiator = serializers.SerializerMethodField()
    share_code = StrictCharField()
    share_url = serializers.SerializerMethodField()
    deadline = serializers.DateTimeField()
    seconds_left = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    funded_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)

    def get_progress_bps(self, cf) -> int:
        return cf_selectors.progress_bps(cf)

    def get_initiator(self, cf) -> dict:
        return {"nickname": cf.initiator.nickname or "", "avatar_url": cf.initiator.avatar_url or ""}

    def get_share_url(self, cf) -> str:
        return cf_selectors.crowdfund_share_url(cf)

    def get_seconds_left(self, cf) -> int:
        if cf.status != CrowdfundStatus.OPEN:
            return 0
        return max(int((cf.deadline - timezone.now()).total_seconds()), 0)


class CrowdfundDetailOutput(CrowdfundOutput):
    recent = BackerOutput(many=True, help_text="Counted contributions, newest first (at most 50)")
    top = BackerOutput(many=True, help_text="The top three contributors by their total")
    mine = InitiatorFiguresOutput(allow_null=True, help_text="Only for the initiator")


class ContributionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    no = StrictCharField()
    crowdfund_id = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    message = StrictCharField()
    anonymous = serializers.BooleanField()
    status = serializers.ChoiceField(choices=ContributionStatus.choices)
    reserved_until = serializers.DateTimeField()
    pay = PayOutput()


class FinishOutput(serializers.Serializer):
    action = StrictCharField()
    crowdfund = CrowdfundOutput()
    contribution = ContributionOutput(allow_null=True)


def _detail(cf, *, user) -> dict:
    backers = cf_selectors.crowdfund_backers(cf=cf)
    mine = cf_selectors.crowdfund_initiator_figures(cf=cf) if user and user.pk == cf.initiator_id else None
    return {
        **CrowdfundOutput(cf).data,
        "recent": BackerOutput(backers["recent"], many=True).data,
        "top": BackerOutput(backers["top"], many=True).data,
        "mine": InitiatorFiguresOutput(mine).data if mine is not None else None,
    }


def _contribution(c, pay: dict) -> dict:
    return ContributionOutput({"id": c.pk, "no": c.no, "crowdfund_id": c.crowdfund_id, "amount_fen": c.amount_fen,
                               "message": c.message, "anonymous": c.anonymous, "status": c.status,
                               "reserved_until": c.reserved_until, "pay": pay}).data


STATUS_PARAM = OpenApiParameter("status", str, enum=CrowdfundStatus.values, required=False)


class CrowdfundListCreateView(APIView):
    @extend_schema(parameters=[STATUS_PARAM], responses={200: CrowdfundOutput(many=True)}, tags=["campaigns"])
    def get(self, request):
        status = status_param(request, CrowdfundStatus.values)
        return paginated(self, request, cf_selectors.crowdfund_list_for_user(user=request.user, status=status)
                         .select_related("initiator"), CrowdfundOutput)

    @extend_schema(request=CrowdfundCreateInput, responses={201: CrowdfundDetailOutput}, tags=["campaigns"])
    @idempotent
    def post(self, request):
        data = CrowdfundCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        cf = cf_services.crowdfund_create(
            user=request.user, attribution_hint=request.COOKIES.get(ATTRIBUTION_COOKIE, "")[:256],
            client_ip=client_ip(request), **data.validated_data,
        )
        return Response(_detail(cf_selectors.crowdfund_get(crowdfund_id=cf.pk), user=request.user), status=201)


class CrowdfundDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: CrowdfundDetailOutput}, tags=["campaigns"])
    def get(self, request, pk: int):
        cf = cf_selectors.crowdfund_get(crowdfund_id=pk)
        return Response(_detail(cf, user=request.user if request.user.is_authenticated else None))


class ContributionCreateView(APIView):
    @extend_schema(request=ContributionCreateInput, responses={201: ContributionOutput}, tags=["campaigns"])
    @idempotent
    def post(self, request, pk: int):
        data = ContributionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        c, pay = cf_services.contribution_create(user=request.user, crowdfund_id=pk, client_ip=client_ip(request),
                                                 **data.validated_data)
        return Response(_contribution(c, pay), status=201)


class CrowdfundFinishView(APIView):
    @extend_schema(request=FinishInput, responses={200: FinishOutput}, tags=["campaigns"])
    @idempotent
    def post(self, request, pk: int):
        data = FinishInput(data=request.data)
        data.is_valid(raise_exception=True)
        contribution = None
        if data.validated_data["action"] == "cancel":
            cf_services.crowdfund_cancel(user=request.user, crowdfund_id=pk)
        else:
            c, pay = cf_services.crowdfund_pay_rest(user=request.user, crowdfund_id=pk, client_ip=client_ip(request))
            contribution = _contribution(c, pay)
        cf = cf_selectors.crowdfund_get(crowdfund_id=pk)
        return Response({"action": data.validated_data["action"], "crowdfund": CrowdfundOutput(cf).data,
                         "contribution": contribution})
