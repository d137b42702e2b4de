"""Orders, refunds and the mall's settings — the operators' side (the buyer's: api/mall_orders.py)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.fields import StrictCharField, StrictRegexField
from api.idempotency import idempotent
from api.mall_orders import STATUS_PARAM, OrderOutput, RefundCreateInput, RefundOutput
from api.pagination import paginated, status_param
from api.settings_change import bounded, settings_changes, settings_schema
from mall.models import OrderStatus, RefundStatus
from mall.selectors import orders as order_selectors
from mall.services import orders as order_services
from mall.services import refunds as refund_services
from mall.services import settings as mall_settings_services


class OpsOrderOutput(OrderOutput):
    user_id = serializers.IntegerField()



class OpsOrderListView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "mall.view_order"

    @extend_schema(parameters=[STATUS_PARAM], responses={200: OpsOrderOutput(many=True)}, tags=["ops"])
    def get(self, request):
        status = status_param(request, OrderStatus.values)
        return paginated(self, request, order_selectors.order_list(status=status), OpsOrderOutput)


class OpsOrderDetailView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "mall.view_order"

    @extend_schema(responses={200: OpsOrderOutput}, tags=["ops"])
    def get(self, request, no):
        return Response(OpsOrderOutput(order_selectors.order_get(no=no)).data)


class ShipInput(serializers.Serializer):
    carrier = StrictCharField(max_length=32)
    tracking_no = StrictRegexField(r"^[A-Za-z0-9\-]{4,64}$", max_length=64)


class OpsOrderShipView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "mall.change_order"

    @extend_schema(request=ShipInput, responses={200: OpsOrderOutput}, tags=["ops"])
    def post(self, request, no):
        data = ShipInput(data=request.data)
        data.is_valid(raise_exception=True)
        order_services.order_ship(operator=request.user, order_no=no, **data.validated_data)
        return Response(OpsOrderOutput(order_selectors.order_get(no=no)).data)


class OpsRefundListView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "mall.view_refund"

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=RefundStatus.values, required=False)],
        responses={200: RefundOutput(many=True)},
        tags=["ops"],
    )
    def get(self, request):
        status = status_param(request, RefundStatus.values)
        return paginated(self, request, order_selectors.refund_list(status=status), RefundOutput)


class ReviewNoteInput(serializers.Serializer):
    reason = StrictCharField(max_length=200, required=False, allow_blank=True, default="")


class OpsRefundApproveView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "mall.change_refund"

    @extend_schema(request=ReviewNoteInput, responses={200: RefundOutput}, tags=["ops"])
    def post(self, request, pk):
        data = ReviewNoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        refund = refund_services.refund_approve(operator=request.user, refund_id=pk,
                                                note=data.validated_data["reason"])
        refund.refresh_from_db()
        return Response(RefundOutput(refund).data)


class RejectInput(serializers.Serializer):
    reason = StrictCharField(max_length=200)


class OpsRefundRejectView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "mall.change_refund"

    @extend_schema(request=RejectInput, responses={200: RefundOutput}, tags=["ops"])
    def post(self, request, pk):
        data = RejectInput(data=request.data)
        data.is_valid(raise_exception=True)
        refund = refund_services.refund_reject(operator=request.user, refund_id=pk, note=data.validated_data["reason"])
        return Response(RefundOutput(refund).data)


class OpsOrderRefundView(APIView):
    """An operator refunds by hand (any time, also past the buyer's refund window); another
    operator approves it (maker-checker)."""

    permission_classes = [HasModelPerm]
    required_perm = "mall.change_refund"

    @extend_schema(request=RefundCreateInput, responses={201: RefundOutput}, tags=["ops"])
    @idempotent
    def post(self, request, no):
        data = RefundCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        refund = refund_services.refund_request_by_operator(operator=request.user, order_no=no,
                                                            **data.validated_data)
        return Response(RefundOutput(refund).data, status=201)


class MallSettingsSerializer(serializers.Serializer):
    """PATCH (or PUT): only the fields sent change. `refund_window_days` null = the commission
    freeze period plus 7 days (shown in `refund_window_default_days`)."""

    refund_window_days = bounded(0, mall_settings_services.MAX_WINDOW_DAYS, allow_null=True)
    refund_window_default_days = serializers.SerializerMethodField()
    refund_window_effective_days = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def get_refund_window_default_days(self, row) -> int:
        return mall_settings_services.refund_window_default_days()

    def get_refund_window_effective_days(self, row) -> int:
        return mall_settings_services.refund_window_days(row)


class OpsMallSettingsView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "mall.change_mallsettings"

    @extend_schema(responses={200: MallSettingsSerializer}, tags=["ops"])
    def get(self, request):
        """The shop settings (the refund window)."""
        return Response(MallSettingsSerializer(mall_settings_services.mall_settings_get()).data)

    @settings_schema(MallSettingsSerializer, tags=["ops"])
    def patch(self, request):
        """Change the shop settings.

        `refund_window_days`: days after completion a buyer may ask for a refund (null: the
        freeze period plus 7 days). An empty body, an unknown field or a bad value is 400
        `invalid` and nothing changes."""
        changes = settings_changes(request, MallSettingsSerializer)
        row = mall_settings_services.mall_settings_update(actor=request.user, **changes)
        return Response(MallSettingsSerializer(row).data)

    @settings_schema(MallSettingsSerializer, tags=["ops"], deprecated=True)
    def put(self, request):
        """Change the shop settings (the same as PATCH; kept for existing clients).

        Only the fields sent change; an empty body is 400 `invalid`."""
        return self.patch(request)
