"""Test-only views, mounted with @pytest.mark.urls("tests.api.idem_urls").

`POST /idem/` is an @idempotent view whose side effect is a ledger posting that
puts `amount_fen` into the caller's wallet under a fresh key: without the
decorator every call would move money again.
"""
from __future__ import annotations

import uuid

from django.db import transaction
from django.urls import include, path
from django.utils import timezone
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from api.idempotency import idempotent
from core.errors import Conflict, InsufficientBalance, NotFound
from ledger.models import Account, AccountKind
from ledger.services import account_get_or_create, ledger_post


class IdemInput(serializers.Serializer):
    amount_fen = serializers.IntegerField(min_value=1)
    fail = serializers.ChoiceField(choices=["", "conflict", "crash", "500"], default="")


class IdemView(APIView):
    @idempotent
    def post(self, request):
        data = IdemInput(data=request.data)
        data.is_valid(raise_exception=True)
        amount, fail = data.validated_data["amount_fen"], data.validated_data["fail"]
        with transaction.atomic():
            outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
            wallet = account_get_or_create(kind=AccountKind.USER_WALLET, owner=request.user)
            posting = ledger_post(
                kind="test.idem", idempotency_key=f"idem:{uuid.uuid4()}", legs=[(outside, -amount), (wallet, amount)]
            )
            if fail == "conflict":
                raise Conflict("the view refused after doing its work", code="test_conflict")
            if fail == "crash":
                raise RuntimeError("the view crashed after doing its work")
        if fail == "500":
            return Response({"detail": "upstream broke"}, status=500)
        return Response(
            {
                "transaction_id": posting.transaction.pk,
                "balance_fen": Account.objects.get(pk=wallet.pk).balance_fen,
                "ref": uuid.uuid4(),  # not JSON by itself: the stored replay must still work
                "at": timezone.now(),
            },
            status=201,
        )


class PublicView(APIView):
    """A public endpoint with the default throttles (like the catalog will be)."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"hello": "world"})


class DomainErrorView(APIView):
    """GET /errors/<kind>/ raises the domain error of that kind."""

    def get(self, request, kind):
        errors = {
            "not_found": NotFound(),
            "conflict": Conflict("It clashes.", code="test_clash", extra={"why": "testing"}),
            "insufficient": InsufficientBalance(extra={"balance_fen": 1}),
        }
        raise errors[kind]


urlpatterns = [
    path("idem/", IdemView.as_view()),
    path("public/", PublicView.as_view()),
    path("errors/<str:kind>/", DomainErrorView.as_view()),
    path("api/v1/", include("api.urls")),
]
