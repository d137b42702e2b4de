"""The operators' ledger audit."""
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.fields import StrictCharField
from ledger.selectors import ledger_audit


class OpsLedgerAuditView(APIView):
    """Recompute the books: every account's balance equals its entries, every transaction sums to zero."""

    permission_classes = [HasModelPerm]
    required_perm = "ledger.view_account"

    @extend_schema(
        responses={
            200: inline_serializer(
                "LedgerAudit",
                {
                    "ok": serializers.BooleanField(),
                    "accounts": serializers.IntegerField(),
                    "transactions": serializers.IntegerField(),
                    "total_balance_fen": serializers.IntegerField(),
                    "mismatched_accounts": serializers.ListField(child=serializers.DictField()),
                    "unbalanced_transactions": serializers.ListField(child=serializers.DictField()),
                    "negative_accounts": serializers.ListField(child=StrictCharField()),
                },
            )
        },
        tags=["ops"],
    )
    def get(self, request):
        return Response(ledger_audit())
