"""The user's commissions and wallet (balances are the ledger's)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.pagination import Pagination
from commissions.models import CommissionStatus
from commissions.selectors.commissions import commission_list_for_user
from ledger.selectors import user_balances, user_entries


class CommissionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    order_no = serializers.CharField(source="order.no")
    level = serializers.IntegerField()
    base_fen = serializers.IntegerField()
    rate_bps = serializers.IntegerField(allow_null=True)
    fixed_fen = serializers.IntegerField(allow_null=True)
    amount_fen = serializers.IntegerField()
    reversed_fen = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CommissionStatus.choices)
    settles_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


def _paginated(view, request, queryset, serializer_class):
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class CommissionListView(APIView):
    @extend_schema(parameters=[OpenApiParameter("status", str, enum=CommissionStatus.values, required=False)],
                   responses={200: CommissionOutput(many=True)}, tags=["money"])
    def get(self, request):
        status = request.query_params.get("status") or None
        if status is not None and status not in CommissionStatus.values:
            raise serializers.ValidationError({"status": [f"Unknown status {status!r}."]})
        return _paginated(self, request, commission_list_for_user(user=request.user, status=status), CommissionOutput)


class WalletOutput(serializers.Serializer):
    available_fen = serializers.IntegerField()
    frozen_fen = serializers.IntegerField()
    withdrawing_fen = serializers.IntegerField()
    debt_fen = serializers.IntegerField(help_text="What the user owes (commission refunded after settlement)")


class WalletView(APIView):
    @extend_schema(responses={200: WalletOutput}, tags=["money"])
    def get(self, request):
        balances = user_balances(user=request.user)
        return Response({
            "available_fen": balances["user_wallet"],
            "frozen_fen": balances["user_frozen"],
            "withdrawing_fen": balances["user_withdrawing"],
            "debt_fen": -balances["user_debt"],
        })


class EntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.CharField(source="account.kind")
    amount_fen = serializers.IntegerField()
    kind = serializers.CharField(source="transaction.kind")
    memo = serializers.CharField(source="transaction.memo")
    created_at = serializers.DateTimeField()


class WalletEntriesView(APIView):
    @extend_schema(responses={200: EntryOutput(many=True)}, tags=["money"])
    def get(self, request):
        return _paginated(self, request, user_entries(user=request.user), EntryOutput)
