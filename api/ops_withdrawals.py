"""Operators review withdrawals: /api/v1/ops/withdrawals/ (staff with commissions permissions).

Reading (list, detail, CSV export) needs `commissions.view_withdrawal`; approving and
rejecting (one or in bulk) need `commissions.review_withdrawal`. Nobody reviews their own
withdrawal (403 `self_approval`); only a requested withdrawal can be reviewed (409
`invalid_transition`). An approved payout goes out asynchronously (Celery), so the answer to
an approval says `approved`; the detail shows `paying` / `paid` / `failed` later.
"""
from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.fields import IdField, MomentField, StrictCharField
from api.pagination import Pagination
from commissions.models import WithdrawalStatus
from commissions.selectors import withdrawals_review as review
from commissions.services.payouts import withdrawal_cancel
from commissions.services.withdrawals import MAX_BULK, withdrawal_approve, withdrawal_reject, withdrawals_review_bulk
from core.admin import csv_response

VIEW_PERM = "commissions.view_withdrawal"
REVIEW_PERM = "commissions.review_withdrawal"
MAX_FEN = 10**12


# --- filters ------------------------------------------------------------------------------

class ReviewQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=WithdrawalStatus.choices, required=False)
    user = serializers.IntegerField(min_value=1, max_value=2**62, required=False)
    distributor = serializers.IntegerField(min_value=1, max_value=2**62, required=False)
    min_fen = serializers.IntegerField(min_value=0, max_value=MAX_FEN, required=False)
    max_fen = serializers.IntegerField(min_value=0, max_value=MAX_FEN, required=False)
    reviewed_by = serializers.IntegerField(min_value=1, max_value=2**62, required=False)
    q = StrictCharField(max_length=64, required=False)
    risk = serializers.ChoiceField(choices=list(review.LEVELS), required=False)
    ordering = serializers.ChoiceField(choices=list(review.ORDERINGS), required=False,
                                       default=review.DEFAULT_ORDERING)

    def get_fields(self):
        fields = super().get_fields()  # `from` is a Python keyword: added here
        fields["from"] = MomentField(end_of_day=False, required=False)
        fields["to"] = MomentField(end_of_day=True, required=False)
        return fields

    def validate(self, attrs):
        errors = {}
        low, high = attrs.get("min_fen"), attrs.get("max_fen")
        if low is not None and high is not None and low > high:
            errors["max_fen"] = ["max_fen is below min_fen."]
        if attrs.get("from") and attrs.get("to") and attrs["from"] > attrs["to"]:
            errors["to"] = ["to is before from."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


FILTER_PARAMS = [
    OpenApiParameter("status", str, enum=WithdrawalStatus.values, required=False),
    OpenApiParameter("user", int, required=False, description="The requester's user id"),
    OpenApiParameter("distributor", int, required=False, description="The distributor id"),
    OpenApiParameter("min_fen", int, required=False, description="Amount at least (fen, fee included)"),
    OpenApiParameter("max_fen", int, required=False, description="Amount at most (fen)"),
    OpenApiParameter("from", str, required=False, description="Requested from: YYYY-MM-DD or ISO date-time"),
    OpenApiParameter("to", str, required=False, description="Requested until (a day: its end), inclusive"),
    OpenApiParameter("reviewed_by", int, required=False, description="The reviewer's user id"),
    OpenApiParameter("q", str, required=False,
                     description="Real name, phone, nickname (contains) or the start of the transfer number"),
    OpenApiParameter("risk", str, enum=list(review.LEVELS), required=False,
                     description=f"Rows whose risk level is at least this (judged over the newest "
                                 f"{review.RISK_SCAN_MAX} matching rows)"),
    OpenApiParameter("ordering", str, enum=list(review.ORDERINGS), required=False,
                     description=f"Default {review.DEFAULT_ORDERING}"),
]


def _filtered(request):
    query = ReviewQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    v = query.validated_data
    return review.withdrawal_list_for_review(
        status=v.get("status"), user_id=v.get("user"), distributor_id=v.get("distributor"),
        min_fen=v.get("min_fen"), max_fen=v.get("max_fen"), requested_from=v.get("from"),
        requested_to=v.get("to"), reviewed_by=v.get("reviewed_by"), q=v.get("q"), risk=v.get("risk"),
        ordering=v["ordering"],
    )


# --- output -------------------------------------------------------------------------------

class WithdrawalUserRef(serializers.Serializer):
    id = serializers.IntegerField()
    username = StrictCharField()
    nickname = StrictCharField()


class WithdrawalDistributorRef(serializers.Serializer):
    id = serializers.IntegerField()
    real_name = StrictCharField()
    phone = StrictCharField()
    status = StrictCharField()
    approved_at = serializers.DateTimeField(allow_null=True)


class WithdrawalRiskSignalOutput(serializers.Serializer):
    code = StrictCharField()
    level = serializers.ChoiceField(choices=list(review.LEVELS))
    message = StrictCharField()
    value = serializers.JSONField()


class WithdrawalReviewRowOutput(serializers.Serializer):
    id = serializers.IntegerField()
    user = WithdrawalUserRef()
    distributor = WithdrawalDistributorRef()
    amount_fen = serializers.IntegerField()
    fee_fen = serializers.IntegerField()
    net_fen = serializers.IntegerField()
    status = serializers.ChoiceField(choices=WithdrawalStatus.choices)
    reason = StrictCharField()
    transfer_no = StrictCharField()
    request_ip = StrictCharField(allow_null=True)
    requested_at = serializers.DateTimeField()
    reviewed_by = WithdrawalUserRef(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    paying_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    failed_at = serializers.DateTimeField(allow_null=True)
    error_code = StrictCharField()
    risk_level = serializers.ChoiceField(choices=list(review.LEVELS), allow_null=True)
    risk_codes = serializers.ListField(child=StrictCharField())
    debt_fen = serializers.IntegerField(help_text="what the requester owes now (commission refunded after it "
                                                  "settled), fen ≥ 0; approval is refused while it is > 0")


class WithdrawalEventOutput(serializers.Serializer):
    from_status = StrictCharField()
    to_status = StrictCharField()
    actor = WithdrawalUserRef(allow_null=True)
    reason = StrictCharField()
    data = serializers.JSONField()
    created_at = serializers.DateTimeField()


class WithdrawalCountFen(serializers.Serializer):
    count = serializers.IntegerField()
    amount_fen = serializers.IntegerField()


class WithdrawalPreviousHistory(serializers.Serializer):
    count = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()),
                                      help_text="status → {count, amount_fen, net_fen}")


class WithdrawalCommissionHistory(serializers.Serializer):
    accrued_fen = serializers.IntegerField()
    reversed_fen = serializers.IntegerField()
    by_status = serializers.DictField(child=WithdrawalCountFen(),
                                      help_text="live fen by status; under reversed: the fen taken back")


class WithdrawalWalletHistory(serializers.Serializer):
    available_fen = serializers.IntegerField()
    frozen_fen = serializers.IntegerField()
    withdrawing_fen = serializers.IntegerField()
    debt_fen = serializers.IntegerField()


class WithdrawalHistory(serializers.Serializer):
    previous_withdrawals = WithdrawalPreviousHistory()
    commissions = WithdrawalCommissionHistory()
    wallet = WithdrawalWalletHistory()


class WithdrawalReviewDetailOutput(WithdrawalReviewRowOutput):
    events = WithdrawalEventOutput(many=True)
    history = WithdrawalHistory()
    risk_signals = WithdrawalRiskSignalOutput(many=True)


def _detail(withdrawal_id: int) -> dict:
    detail = review.withdrawal_detail_for_review(withdrawal_id=withdrawal_id)
    w = detail["withdrawal"]
    w.risk_level = detail["risk_level"]
    w.risk_signals = detail["risk_signals"]
    w.risk_codes = [s["code"] for s in detail["risk_signals"]]
    w.debt_fen = detail["debt_fen"]
    data = dict(WithdrawalReviewRowOutput(w).data)
    data["events"] = WithdrawalEventOutput(detail["events"], many=True).data
    data["history"] = detail["history"]
    data["risk_signals"] = WithdrawalRiskSignalOutput(detail["risk_signals"], many=True).data
    return data


# --- views --------------------------------------------------------------------------------

class _Perm:
    permission_classes = [HasModelPerm]
    required_perm = VIEW_PERM


class OpsWithdrawalListView(_Perm, APIView):
    """The review queue with each row's risk level and signal codes (newest first by default)."""

    pagination_class = Pagination  # for the schema

    @extend_schema(parameters=FILTER_PARAMS, responses={200: WithdrawalReviewRowOutput(many=True)}, tags=["ops"])
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(_filtered(request), request, view=self)
        review.withdrawals_risk_attach(withdrawals=page)
        return paginator.get_paginated_response(WithdrawalReviewRowOutput(page, many=True).data)


class OpsWithdrawalExportView(_Perm, APIView):
    """The payout report as CSV (the list's filters; oldest first): who reviewed what and when."""

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)  # `Accept: text/csv` is fine

    @extend_schema(parameters=[p for p in FILTER_PARAMS if p.name != "ordering"],
                   responses={(200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR,
                                                                 description="CSV, amounts in fen")},
                   tags=["ops"])
    def get(self, request):
        rows = review.withdrawal_export_rows(queryset=_filtered(request).order_by("requested_at", "pk"))
        name = f"withdrawals-{timezone.localtime():%Y%m%d-%H%M%S}.csv"
        return csv_response(name, review.EXPORT_HEADER, rows)


class OpsWithdrawalDetailView(_Perm, APIView):
    @extend_schema(responses={200: WithdrawalReviewDetailOutput}, tags=["ops"])
    def get(self, request, pk: int):
        return Response(_detail(pk))


class WithdrawalApproveInput(serializers.Serializer):
    reason = StrictCharField(max_length=200, required=False, allow_blank=True, default="",
                             help_text="An optional note kept in the review trail")


class WithdrawalRejectInput(serializers.Serializer):
    reason = StrictCharField(max_length=200, help_text="Shown to the distributor")


class OpsWithdrawalApproveView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = REVIEW_PERM

    @extend_schema(request=WithdrawalApproveInput, responses={200: WithdrawalReviewDetailOutput}, tags=["ops"])
    def post(self, request, pk: int):
        review.withdrawal_get_for_review(withdrawal_id=pk)  # 404 before judging the body
        data = WithdrawalApproveInput(data=request.data)
        data.is_valid(raise_exception=True)
        withdrawal_approve(operator=request.user, withdrawal_id=pk, note=data.validated_data["reason"])
        return Response(_detail(pk))


class OpsWithdrawalRejectView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = REVIEW_PERM

    @extend_schema(request=WithdrawalRejectInput, responses={200: WithdrawalReviewDetailOutput}, tags=["ops"])
    def post(self, request, pk: int):
        review.withdrawal_get_for_review(withdrawal_id=pk)
        data = WithdrawalRejectInput(data=request.data)
        data.is_valid(raise_exception=True)
        withdrawal_reject(operator=request.user, withdrawal_id=pk, reason=data.validated_data["reason"])
        return Response(_detail(pk))


class WithdrawalCancelInput(serializers.Serializer):
    reason = StrictCharField(max_length=200, help_text="Why the transfer is cancelled (kept in the review trail)")


class OpsWithdrawalCancelView(APIView):
    """Cancel a withdrawal whose merchant transfer bill the user has not confirmed yet: WeChat
    cancels the bill, and the money is back in the wallet once WeChat says it is cancelled."""

    permission_classes = [HasModelPerm]
    required_perm = REVIEW_PERM

    @extend_schema(request=WithdrawalCancelInput, responses={200: WithdrawalReviewDetailOutput}, tags=["ops"])
    def post(self, request, pk: int):
        review.withdrawal_get_for_review(withdrawal_id=pk)
        data = WithdrawalCancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        withdrawal_cancel(withdrawal_id=pk, actor=request.user, reason=data.validated_data["reason"])
        return Response(_detail(pk))


class WithdrawalBulkInput(serializers.Serializer):
    ids = serializers.ListField(child=IdField(), min_length=1,
                                max_length=MAX_BULK)
    action = serializers.ChoiceField(choices=["approve", "reject"])
    reason = StrictCharField(max_length=200, required=False, allow_blank=True, default="",
                             help_text="Required to reject")

    def validate(self, attrs):
        if attrs["action"] == "reject" and not attrs["reason"].strip():
            raise serializers.ValidationError({"reason": ["A reason is required to reject."]})
        return attrs


class WithdrawalBulkError(serializers.Serializer):
    code = StrictCharField()
    message = StrictCharField()


class WithdrawalBulkOutput(serializers.Serializer):
    done = serializers.ListField(child=serializers.IntegerField())
    errors = serializers.DictField(child=WithdrawalBulkError(), help_text="withdrawal id → why it was not done")


class OpsWithdrawalBulkView(APIView):
    """Approve or reject many at once: each on its own; what could not be done says why."""

    permission_classes = [HasModelPerm]
    required_perm = REVIEW_PERM

    @extend_schema(request=WithdrawalBulkInput, responses={200: WithdrawalBulkOutput}, tags=["ops"])
    def post(self, request):
        data = WithdrawalBulkInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = withdrawals_review_bulk(operator=request.user, ids=v["ids"], action=v["action"], reason=v["reason"])
        return Response({"done": result["done"], "errors": {str(k): e for k, e in result["errors"].items()}})
