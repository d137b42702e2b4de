"""The user's commissions and wallet (balances are the ledger's)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.fields import MoneyField, StrictCharField
from api.idempotency import idempotent
from api.net import client_ip
from api.pagination import paginated, status_param
from commissions.models import CommissionStatus, WithdrawalStatus
from commissions.selectors.commissions import commission_list_for_user
from commissions.selectors.withdrawals import (
    wallet_for_user,
    withdrawal_confirm_params,
    withdrawal_get_for_user,
    withdrawal_list_for_user,
)
from commissions.services.payouts import withdrawal_confirm_check
from commissions.services.withdrawals import withdrawal_request
from ledger.selectors import user_entries


class CommissionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    order_no = StrictCharField(source="order.no")
    level = serializers.IntegerField()
    base_fen = serializers.IntegerField()
    rate_bps = serializers.IntegerField(allow_null=True)
    fixed_fen = serializers.IntegerField(allow_null=True)
    amount_fen = serializers.IntegerField()
    reversed_fen = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CommissionStatus.choices)
    settles_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()



class CommissionListView(APIView):
    @extend_schema(parameters=[OpenApiParameter("status", str, enum=CommissionStatus.values, required=False)],
                   responses={200: CommissionOutput(many=True)}, tags=["money"])
    def get(self, request):
        status = status_param(request, CommissionStatus.values)
        return paginated(self, request, commission_list_for_user(user=request.user, status=status), CommissionOutput)


class WalletOutput(serializers.Serializer):
    available_fen = serializers.IntegerField()
    frozen_fen = serializers.IntegerField()
    withdrawing_fen = serializers.IntegerField(help_text="In withdrawals not paid yet (requested, approved, paying)")
    withdrawn_fen = serializers.IntegerField(help_text="Paid withdrawals (fees included)")
    debt_fen = serializers.IntegerField(help_text="What the user owes (commission refunded after settlement)")


def wallet_figures(*, user) -> dict[str, int]:
    """The wallet as the user sees it (also part of the distributor stats)."""
    return wallet_for_user(user_id=user.pk)


class WalletView(APIView):
    @extend_schema(responses={200: WalletOutput}, tags=["money"])
    def get(self, request):
        return Response(wallet_figures(user=request.user))


class EntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = StrictCharField(source="account.kind")
    amount_fen = serializers.IntegerField()
    kind = StrictCharField(source="transaction.kind")
    memo = StrictCharField(source="transaction.memo")
    created_at = serializers.DateTimeField()


class WalletEntriesView(APIView):
    @extend_schema(responses={200: EntryOutput(many=True)}, tags=["money"])
    def get(self, request):
        return paginated(self, request, user_entries(user=request.user), EntryOutput)


class WithdrawalInput(serializers.Serializer):
    amount_fen = MoneyField(help_text="Taken from the available balance, fee included")


class WithdrawalConfirmOutput(serializers.Serializer):
    mchId = serializers.CharField(help_text="wx.requestMerchantTransfer's mchId")  # noqa: N815 - WeChat's names
    appId = serializers.CharField()  # noqa: N815
    package = serializers.CharField(help_text="The transfer bill's package_info")
    confirm_by = serializers.DateTimeField(allow_null=True, help_text="WeChat closes the bill after this")


class WithdrawalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    fee_fen = serializers.IntegerField()
    net_fen = serializers.IntegerField(help_text="What reaches the WeChat balance")
    status = serializers.ChoiceField(choices=WithdrawalStatus.choices)
    reason = StrictCharField(help_text="Why it was rejected or failed")
    requested_at = serializers.DateTimeField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    confirm = serializers.SerializerMethodField(
        help_text="status confirming: what the page passes to wx.requestMerchantTransfer so the user confirms "
                  "receipt in WeChat; null otherwise")

    @extend_schema_field(WithdrawalConfirmOutput(allow_null=True))
    def get_confirm(self, w):
        params = withdrawal_confirm_params(w)
        return WithdrawalConfirmOutput(params).data if params else None


class WithdrawalListCreateView(APIView):
    @extend_schema(parameters=[OpenApiParameter("status", str, enum=WithdrawalStatus.values, required=False)],
                   responses={200: WithdrawalOutput(many=True)}, tags=["money"])
    def get(self, request):
        status = status_param(request, WithdrawalStatus.values)
        return paginated(self, request, withdrawal_list_for_user(user=request.user, status=status),
                          WithdrawalOutput)

    @extend_schema(request=WithdrawalInput, responses={201: WithdrawalOutput}, tags=["money"])
    @idempotent
    def post(self, request):
        data = WithdrawalInput(data=request.data)
        data.is_valid(raise_exception=True)
        withdrawal = withdrawal_request(user=request.user, amount_fen=data.validated_data["amount_fen"],
                                        ip=client_ip(request))
        return Response(WithdrawalOutput(withdrawal).data, status=201)


class WithdrawalDetailView(APIView):
    @extend_schema(responses={200: WithdrawalOutput}, tags=["money"])
    def get(self, request, pk):
        return Response(WithdrawalOutput(withdrawal_get_for_user(user=request.user, withdrawal_id=pk)).data)


class WithdrawalConfirmedView(APIView):
    """The page tells us the user confirmed receipt in WeChat (wx.requestMerchantTransfer said
    ok, or the sandbox's confirm page returned): we ask WeChat — the page is never believed —
    and answer the withdrawal as it is now (paid once WeChat says so)."""

    @extend_schema(request=None, responses={200: WithdrawalOutput}, tags=["money"])
    def post(self, request, pk):
        withdrawal_confirm_check(withdrawal_id=pk, user_id=request.user.pk)
        return Response(WithdrawalOutput(withdrawal_get_for_user(user=request.user, withdrawal_id=pk)).data)
