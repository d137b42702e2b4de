"""Operators' reports (staff with `commissions.view_commission`).

* `GET /api/v1/ops/reports/overview/?from=&to=` — the period's figures as JSON (the campaign
  figures, under `campaigns`, from campaigns/selectors/ops.py).
* `GET /api/v1/ops/reports/commission-statement.csv?distributor=&from=&to=` — one distributor's
  commission statement, or (no `distributor`) one row per distributor with totals; streamed CSV.

Days are calendar days in the shop's time zone (Asia/Shanghai), both ends included; default the
last 30 days; at most 366. What counts where: commissions/selectors/reports.py and
docs/commissions.md (Reports).
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.fields import StrictCharField
from campaigns.selectors.ops import crowdfund_report
from campaigns.selectors.ops_envelopes import envelope_report
from commissions.models import CommissionStatus, WithdrawalStatus
from commissions.selectors import reports as report_selectors
from core.errors import InvalidInput
from mall.models import OrderStatus, RefundStatus

PERM = "commissions.view_commission"
MAX_ID = 2**63 - 1
RANGE_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, required=False,
                     description="First day, YYYY-MM-DD, Asia/Shanghai (default: 29 days before `to`)"),
    OpenApiParameter("to", OpenApiTypes.DATE, required=False,
                     description="Last day, included (default: today); `from` ≤ `to`, at most 366 days"),
]


def _single(request, name: str) -> str | None:
    """A query parameter given at most once (a repeated one is ambiguous: 400)."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"{name} is given more than once.", extra={"fields": {name: ["Give it once."]}})
    return values[0] if values else None


def _period(request):
    return report_selectors.report_range_parse(date_from=_single(request, "from") or None,
                                               date_to=_single(request, "to") or None)


# --- overview ---------------------------------------------------------------------------

def _serializer(name: str, fields: dict) -> type[serializers.Serializer]:
    return type(name, (serializers.Serializer,), fields)


def _ints(name: str, keys: Iterable[str]) -> type[serializers.Serializer]:
    return _serializer(name, {k: serializers.IntegerField() for k in keys})


_CountAmount = _ints("ReportCountAmount", ["count", "amount_fen"])
_CommissionFigures = _ints("ReportCommissionFigures", ["count", "amount_fen", "reversed_fen", "net_fen"])


class ReportGmvOutput(serializers.Serializer):
    orders = serializers.IntegerField(help_text="Orders paid in the period")
    gmv_fen = serializers.IntegerField(help_text="What they paid (paid_fen)")
    refunded_fen = serializers.IntegerField(help_text="What has been refunded of those orders so far")
    net_gmv_fen = serializers.IntegerField()


class ReportOrdersOutput(serializers.Serializer):
    placed = serializers.IntegerField(help_text="Orders placed in the period")
    paid = serializers.IntegerField(help_text="Orders paid in the period")
    by_status = _ints("ReportOrdersByStatus", OrderStatus.values)(
        help_text="Orders placed in the period, by status now")


class ReportRefundsOutput(serializers.Serializer):
    count = serializers.IntegerField(help_text="Refunds that succeeded in the period")
    refunded_fen = serializers.IntegerField(help_text="Their amount")
    requested = serializers.IntegerField(help_text="Refunds requested in the period")
    requested_by_status = _ints("ReportRefundsByStatus", RefundStatus.values)()


class ReportCommissionsOutput(_CommissionFigures):
    by_status = _serializer("ReportCommissionsByStatus",
                            {s: _CommissionFigures() for s in CommissionStatus.values})(
        help_text="Commissions accrued in the period, by status now")


class ReportPaidOutput(serializers.Serializer):
    count = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    net_fen = serializers.IntegerField(help_text="Transferred to WeChat balances")
    fee_fen = serializers.IntegerField()


class ReportWithdrawalsOutput(serializers.Serializer):
    requested = _CountAmount(help_text="Withdrawals requested in the period")
    by_status = _serializer("ReportWithdrawalsByStatus", {s: _CountAmount() for s in WithdrawalStatus.values})(
        help_text="Withdrawals requested in the period, by status now")
    paid = ReportPaidOutput(help_text="Withdrawals paid in the period")
    fees_collected_fen = serializers.IntegerField(help_text="fee_fen of the withdrawals paid in the period")


class ReportDistributorsOutput(serializers.Serializer):
    applied = serializers.IntegerField(help_text="Applications in the period")
    approved = serializers.IntegerField(help_text="Distributors approved in the period")


class ReportCrowdfundsOutput(serializers.Serializer):
    started = serializers.IntegerField(help_text="Crowdfunds started in the period")
    open = serializers.IntegerField(help_text="Of those: still open")
    funded = serializers.IntegerField(help_text="Of those: funded (the order placed and paid)")
    expired = serializers.IntegerField(help_text="Of those: expired (refunds done or not)")
    cancelled = serializers.IntegerField(help_text="Of those: cancelled by the initiator (refunds done or not)")
    refunded = serializers.IntegerField(help_text="Of those: every paid contribution given back")
    conversion_bps = serializers.IntegerField(help_text="funded × 10000 ÷ started, rounded down")
    contributions = serializers.IntegerField(help_text="Contributions paid in the period")
    contributed_fen = serializers.IntegerField(help_text="Their amount (counted or refunded later)")
    contributors = serializers.IntegerField(help_text="Distinct people who paid them")
    refunds = serializers.IntegerField(help_text="Contribution refunds that succeeded in the period")
    refunded_fen = serializers.IntegerField(help_text="Their amount")


class ReportRedEnvelopesOutput(serializers.Serializer):
    created = serializers.IntegerField(help_text="Envelopes created in the period (unpaid ones included)")
    opened = serializers.IntegerField(help_text="Envelopes opened in the period")
    empty = serializers.IntegerField(help_text="Envelopes whose last share was grabbed in the period")
    expired = serializers.IntegerField(help_text="Envelopes whose lifetime ended in the period")
    cancelled = serializers.IntegerField(help_text="Envelopes cancelled in the period (never opened or paid)")
    funded_fen = serializers.IntegerField(help_text="Owners' own money paid in the period")
    topped_up_fen = serializers.IntegerField(help_text="Fans' top-ups paid in the period")
    grabbed_fen = serializers.IntegerField(help_text="Shares grabbed in the period: their amount")
    grabs = serializers.IntegerField(help_text="Shares grabbed in the period")
    grabbers = serializers.IntegerField(help_text="Distinct people who grabbed them")
    returned_fen = serializers.IntegerField(help_text="Given back to owners by the envelopes that expired")


class ReportCampaignsOutput(serializers.Serializer):
    crowdfunds = ReportCrowdfundsOutput()
    red_envelopes = ReportRedEnvelopesOutput()


class ReportOverviewOutput(serializers.Serializer):
    def get_fields(self):  # `from` is a Python keyword
        return {"from": serializers.DateField(), "to": serializers.DateField(), **super().get_fields()}

    time_zone = StrictCharField()
    gmv = ReportGmvOutput()
    orders = ReportOrdersOutput()
    refunds = ReportRefundsOutput()
    commissions = ReportCommissionsOutput()
    withdrawals = ReportWithdrawalsOutput()
    distributors = ReportDistributorsOutput()
    campaigns = ReportCampaignsOutput()


class OpsReportOverviewView(APIView):
    """The period's figures: GMV, orders, refunds, commissions and withdrawals by status,
    payouts and fees, new distributors, campaigns (a fixed handful of aggregate queries)."""

    permission_classes = [HasModelPerm]
    required_perm = PERM

    @extend_schema(parameters=RANGE_PARAMETERS, responses={200: ReportOverviewOutput}, tags=["ops"],
                   operation_id="ops_reports_overview")
    def get(self, request):
        day_from, day_to = _period(request)
        figures = report_selectors.report_overview(day_from=day_from, day_to=day_to)
        figures["campaigns"] = {"crowdfunds": crowdfund_report(day_from=day_from, day_to=day_to),
                                "red_envelopes": envelope_report(day_from=day_from, day_to=day_to)}
        return Response(ReportOverviewOutput(figures).data)


# --- the statement as CSV ---------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str | int:
    """Integers stay numbers; text a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return int(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield "\ufeff"  # a BOM, so spreadsheet programs read the UTF-8 (Chinese names) right
    for row in rows:
        yield writer.writerow([csv_cell(v) for v in row])


class _IgnoreAccept(BaseContentNegotiation):
    """The CSV is the answer whatever the Accept header says; errors are always JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _distributor_id(request) -> int | None:
    raw = _single(request, "distributor")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise InvalidInput("distributor must be a distributor id.", extra={"fields": {"distributor": ["Not an id."]}})
    return int(raw)


class OpsCommissionStatementView(APIView):
    """A commission statement as CSV, streamed. With `distributor`: that distributor's commission
    lines, totals by status, withdrawals and their totals (sections split by an empty row).
    Without: one row per distributor with commissions or withdrawals in the period, and a total."""

    permission_classes = [HasModelPerm]
    required_perm = PERM
    content_negotiation_class = _IgnoreAccept

    @extend_schema(
        parameters=[OpenApiParameter("distributor", int, required=False,
                                     description="A distributor's id; without it, all distributors"),
                    *RANGE_PARAMETERS],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The statement (UTF-8 CSV)")},
        tags=["ops"], operation_id="ops_reports_commission_statement",
    )
    def get(self, request):
        distributor_id = _distributor_id(request)
        day_from, day_to = _period(request)
        period = f"{day_from:%Y%m%d}-{day_to:%Y%m%d}"
        if distributor_id is None:
            rows = report_selectors.commission_statement_summary_rows(day_from=day_from, day_to=day_to)
            filename = f"commission-statement-all-{period}.csv"
        else:
            distributor = report_selectors.report_distributor_get(distributor_id=distributor_id)
            rows = report_selectors.commission_statement_rows(distributor=distributor, day_from=day_from,
                                                              day_to=day_to)
            filename = f"commission-statement-{distributor.pk}-{period}.csv"
        response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
