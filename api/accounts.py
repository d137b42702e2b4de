"""Auth, the current user and follows."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from api.distribution import distributor_brief
from api.fields import StrictCharField
from api.pagination import Pagination
from api.throttling import LoginRateThrottle, WechatLoginRateThrottle
from core.net import client_ip
from ledger.selectors import user_balances


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    nickname = StrictCharField()
    avatar_url = StrictCharField()
    is_staff = serializers.BooleanField()


class MeOutput(UserOutput):
    username = StrictCharField()
    distributor = serializers.JSONField(allow_null=True)
    balances = serializers.DictField(child=serializers.IntegerField())


def me_payload(user) -> dict:
    balances = user_balances(user=user)
    return {
        "id": user.pk,
        "username": user.username,
        "nickname": user.nickname,
        "avatar_url": user.avatar_url,
        "is_staff": user.is_staff,
        "distributor": distributor_brief(user),
        "balances": {
            "available_fen": balances["user_wallet"],
            "frozen_fen": balances["user_frozen"],
            "withdrawing_fen": balances["user_withdrawing"],
        },
    }


class TokenOutput(serializers.Serializer):
    token = StrictCharField()
    user = MeOutput()


class WechatLoginInput(serializers.Serializer):
    code = StrictCharField(max_length=128, trim_whitespace=True)


class WechatLoginView(APIView):
    """Log in with a WeChat OAuth code (H5). Creates the user on first login. Not limited per IP like
    the operators (a carrier NAT puts a town behind one address): per code and per openid
    (429 `too_many_login_attempts`), plus a per-IP ceiling far above what a NAT sends."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [WechatLoginRateThrottle]

    @extend_schema(request=WechatLoginInput, responses={200: TokenOutput}, tags=["auth"])
    def post(self, request):
        data = WechatLoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, user = services.auth_login_wechat(
            code=data.validated_data["code"], user_agent=request.headers.get("User-Agent", ""), ip=client_ip(request)
        )
        return Response({"token": token, "user": me_payload(user)})


class OperatorLoginInput(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)


class OperatorLoginView(APIView):
    """Operators log in with username and password. Failed logins are limited per username and per
    client IP, shared with the admin's login page: past the limit the answer is 429
    `too_many_login_failures` (with Retry-After) whatever the password."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    @extend_schema(request=OperatorLoginInput, responses={200: TokenOutput}, tags=["auth"])
    def post(self, request):
        data = OperatorLoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, user = services.auth_login_operator(
            username=data.validated_data["username"],
            password=data.validated_data["password"],
            user_agent=request.headers.get("User-Agent", ""),
            ip=client_ip(request),
        )
        return Response({"token": token, "user": me_payload(user)})


class LogoutInput(serializers.Serializer):
    all = serializers.BooleanField(default=False)


class LogoutView(APIView):
    """Revoke the token this request was made with (or all of the user's tokens with `{"all": true}`)."""

    @extend_schema(request=LogoutInput, responses={204: None}, tags=["auth"])
    def post(self, request):
        data = LogoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["all"]:
            services.token_revoke_all(user=request.user)
        else:
            services.token_revoke_by_id(token_id=request.auth.pk)
        return Response(status=204)


class MeView(APIView):
    @extend_schema(responses={200: MeOutput}, tags=["accounts"])
    def get(self, request):
        return Response(me_payload(request.user))


class FollowOutput(serializers.Serializer):
    user = UserOutput()
    source = StrictCharField()
    created_at = serializers.DateTimeField()


def _paginate_follows(view, request, queryset, side: str):
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    rows = [{"user": getattr(f, side), "source": f.source, "created_at": f.created_at} for f in page]
    return paginator.get_paginated_response(FollowOutput(rows, many=True).data)


class FollowingView(APIView):
    @extend_schema(responses={200: FollowOutput(many=True)}, tags=["accounts"])
    def get(self, request):
        return _paginate_follows(self, request, selectors.user_following(user=request.user), "followee")


class FollowersView(APIView):
    @extend_schema(responses={200: FollowOutput(many=True)}, tags=["accounts"])
    def get(self, request):
        return _paginate_follows(self, request, selectors.user_followers(user=request.user), "follower")

