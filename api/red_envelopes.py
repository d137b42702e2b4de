"""Red envelopes (红包) — owners, fans and grabbers (rules in campaigns/services/envelopes.py,
envelope_payments.py and envelope_grabs.py; the grab is served ahead of Django by api/grab_route.py)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from api.fields import StrictCharField, StrictIntegerField
from api.idempotency import idempotent
from api.mall_orders import PayOutput
from api.net import client_ip
from api.pagination import Pagination
from api.throttling import GrabRateThrottle
from campaigns.models import MAX_MESSAGE_CHARS, EnvelopeStatus, PayWith, SplitMode
from campaigns.selectors import envelopes as env_selectors
from campaigns.services import envelope_grabs as grab_services
from campaigns.services import envelopes as env_services


class EnvelopeCreateInput(serializers.Serializer):
    total_fen = StrictIntegerField(min_value=-(2**62), max_value=2**62)
    count = StrictIntegerField(min_value=-(2**31), max_value=2**31)
    split = serializers.ChoiceField(choices=SplitMode.choices, required=False, default=SplitMode.RANDOM)
    greeting = StrictCharField(max_length=MAX_MESSAGE_CHARS, required=False, allow_blank=True, default="")
    expires_hours = StrictIntegerField(min_value=1, max_value=24 * 30, required=False, allow_null=True, default=None)
    pay_with = serializers.ChoiceField(choices=PayWith.choices)
    open_now = serializers.BooleanField(required=False, default=False)

    def validate_open_now(self, value):
        if type(self.initial_data.get("open_now", False)) is not bool:
            raise serializers.ValidationError("true or false.")
        return value


class TopUpInput(serializers.Serializer):
    amount_fen = StrictIntegerField(min_value=-(2**62), max_value=2**62)
    pay_with = serializers.ChoiceField(choices=PayWith.choices)


class PersonOutput(serializers.Serializer):
    user_id = serializers.IntegerField(allow_null=True)
    nickname = serializers.CharField()
    avatar_url = serializers.CharField()
    amount_fen = serializers.IntegerField()


class GrabRowOutput(PersonOutput):
    rank = serializers.IntegerField()
    grabbed_at = serializers.DateTimeField()
    is_best = serializers.BooleanField(allow_null=True, help_text="Known once the envelope is empty or over")


class EnvelopeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=EnvelopeStatus.choices)
    owner = serializers.SerializerMethodField()
    split = serializers.CharField()
    count = serializers.IntegerField()
    total_fen = serializers.IntegerField(help_text="The owner's own money")
    pool_fen = serializers.IntegerField(help_text="Own money and paid top-ups")
    remaining_count = serializers.SerializerMethodField()
    greeting = serializers.CharField()
    share_code = serializers.CharField()
    share_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    opened_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    top_backers = serializers.SerializerMethodField()

    def get_owner(self, env) -> dict:
        return {"user_id": env.owner_id, "nickname": env.owner.nickname or "", "avatar_url": env.owner.avatar_url or ""}

    def get_remaining_count(self, env) -> int:
        if env.status in (EnvelopeStatus.PENDING_PAYMENT, EnvelopeStatus.FUNDING):
            return env.count
        return self.context.get("remaining", {}).get(env.pk, 0)

    def get_share_url(self, env) -> str:
        return env_selectors.envelope_share_url(env)

    def get_top_backers(self, env) -> list[dict]:
        return PersonOutput(self.context.get("top", {}).get(env.pk, []), many=True).data


class EnvelopeDetailOutput(EnvelopeOutput):
    grabs = serializers.SerializerMethodField()

    def get_grabs(self, env) -> list[dict]:
        return GrabRowOutput(env_selectors.envelope_grabs(env=env), many=True).data


class EnvelopeCreatedOutput(EnvelopeOutput):
    pay = PayOutput(allow_null=True)


class TopUpOutput(serializers.Serializer):
    no = serializers.CharField()
    amount_fen = serializers.IntegerField()
    pay_with = serializers.CharField()
    status = serializers.CharField()
    pay = PayOutput(allow_null=True)


class GrabOutput(serializers.Serializer):
    amount_fen = serializers.IntegerField()
    rank = serializers.IntegerField()
    is_best = serializers.BooleanField(allow_null=True)


def _context(envs) -> dict:
    ids = [e.pk for e in envs]
    return {"top": env_selectors.envelopes_top_backers(envelope_ids=ids),
            "remaining": env_selectors.envelopes_remaining(envelope_ids=ids)}


def _one(envelope_id: int, output=EnvelopeDetailOutput, **extra) -> dict:
    env = env_selectors.envelope_get(envelope_id=envelope_id)
    return {**output(env, context=_context([env])).data, **extra}


class EnvelopeCreateView(APIView):
    @extend_schema(request=EnvelopeCreateInput, responses={201: EnvelopeCreatedOutput}, tags=["campaigns"])
    @idempotent
    def post(self, request):
        data = EnvelopeCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        env, pay = env_services.envelope_create(owner=request.user, client_ip=client_ip(request),
                                                **data.validated_data)
        return Response(_one(env.pk, EnvelopeOutput, pay=pay), status=201)


class EnvelopeDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: EnvelopeDetailOutput}, tags=["campaigns"])
    def get(self, request, pk: int):
        return Response(_one(pk))


class EnvelopeTopUpView(APIView):
    @extend_schema(request=TopUpInput, responses={201: TopUpOutput}, tags=["campaigns"])
    @idempotent
    def post(self, request, pk: int):
        data = TopUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        backing, pay = env_services.envelope_top_up(user=request.user, envelope_id=pk, client_ip=client_ip(request),
                                                    **data.validated_data)
        return Response({"no": backing.no, "amount_fen": backing.amount_fen, "pay_with": backing.pay_with,
                         "status": backing.status, "pay": pay}, status=201)


class EnvelopeOpenView(APIView):
    @extend_schema(request=None, responses={200: EnvelopeDetailOutput}, tags=["campaigns"])
    def post(self, request, pk: int):
        env_services.envelope_open(user=request.user, envelope_id=pk)
        return Response(_one(pk))


class EnvelopeGrabView(APIView):
    throttle_classes = [GrabRateThrottle]

    @extend_schema(request=None, responses={200: GrabOutput}, tags=["campaigns"])
    def post(self, request, pk: int):
        # Under gunicorn this operation is answered by api/grab_route.py ahead of Django's stack,
        # with the same service, throttles and answer; the test client and the schema come here.
        grab = grab_services.envelope_grab(user_id=request.user.pk, envelope_id=pk)
        return Response(grab_answer(grab))


def grab_answer(grab: grab_services.Grab) -> dict:
    return {"amount_fen": grab.amount_fen, "rank": grab.rank, "is_best": grab.is_best}


class UserEnvelopesView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: EnvelopeOutput(many=True)}, tags=["campaigns"])
    def get(self, request, pk: int):
        paginator = Pagination()
        page = paginator.paginate_queryset(env_selectors.envelope_list_for_owner(owner_id=pk), request, view=self)
        return paginator.get_paginated_response(EnvelopeOutput(page, many=True, context=_context(page)).data)
