"""Orders, payment, receipt and refunds — the buyer's side and the operators' side."""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.fields import MoneyField, StrictIntegerField
from api.idempotency import idempotent
from api.net import client_ip
from api.pagination import paginated, status_param
from distributors.services.attribution import ATTRIBUTION_COOKIE
from mall.models import OrderStatus, RefundStatus
from mall.selectors import orders as order_selectors
from mall.services import orders as order_services
from mall.services import payments as payment_services
from mall.services import refunds as refund_services
from mall.services import settings as mall_settings_services

PHONE_RE = r"^\+?[0-9][0-9\- ]{4,19}$"


class AddressSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=32)
    phone = serializers.RegexField(PHONE_RE, max_length=20)
    province = serializers.CharField(max_length=32)
    city = serializers.CharField(max_length=32)
    district = serializers.CharField(max_length=32)
    detail = serializers.CharField(max_length=200)


class OrderItemInput(serializers.Serializer):
    sku_id = StrictIntegerField(min_value=1, max_value=2**62)
    quantity = StrictIntegerField(min_value=1, max_value=settings.MALL_MAX_QUANTITY_PER_ITEM)


class OrderCreateInput(serializers.Serializer):
    items = OrderItemInput(many=True, allow_empty=False, max_length=settings.MALL_MAX_ITEMS_PER_ORDER)
    address = AddressSerializer()
    share_code = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    buyer_note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class OrderItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    sku_id = serializers.IntegerField()
    title = serializers.CharField()
    sku_name = serializers.CharField()
    image = serializers.CharField()
    price_fen = serializers.IntegerField()
    quantity = serializers.IntegerField()
    amount_fen = serializers.IntegerField()


class OrderOutput(serializers.Serializer):
    no = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    total_fen = serializers.IntegerField()
    paid_fen = serializers.IntegerField()
    refunded_fen = serializers.IntegerField()
    items = OrderItemOutput(many=True)
    address = AddressSerializer()
    share_code = serializers.CharField()
    distributor = serializers.SerializerMethodField()
    buyer_note = serializers.CharField()
    carrier = serializers.CharField()
    tracking_no = serializers.CharField()
    created_at = serializers.DateTimeField()
    pay_deadline = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    shipped_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)

    def get_distributor(self, order) -> dict | None:
        return order.attribution or None


class OpsOrderOutput(OrderOutput):
    user_id = serializers.IntegerField()


class PayOutput(serializers.Serializer):
    prepay_id = serializers.CharField()
    jsapi = serializers.DictField(child=serializers.CharField())


class RefundOutput(serializers.Serializer):
    id = serializers.IntegerField()
    no = serializers.CharField()
    order_no = serializers.CharField(source="order.no")
    amount_fen = serializers.IntegerField()
    reason = serializers.CharField()
    status = serializers.ChoiceField(choices=RefundStatus.choices)
    review_note = serializers.CharField()
    created_at = serializers.DateTimeField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)


class RefundCreateInput(serializers.Serializer):
    amount_fen = MoneyField()
    reason = serializers.CharField(max_length=200)


STATUS_PARAM = OpenApiParameter("status", str, enum=OrderStatus.values, required=False)



class OrderListCreateView(APIView):
    @extend_schema(parameters=[STATUS_PARAM], responses={200: OrderOutput(many=True)}, tags=["mall"])
    def get(self, request):
        status = status_param(request, OrderStatus.values)
        return paginated(self, request, order_selectors.order_list_for_user(user=request.user, status=status),
                          OrderOutput)

    @extend_schema(request=OrderCreateInput, responses={201: OrderOutput}, tags=["mall"])
    @idempotent
    def post(self, request):
        data = OrderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = order_services.order_create(
            user=request.user, attribution_hint=request.COOKIES.get(ATTRIBUTION_COOKIE, "")[:256],
            client_ip=client_ip(request), **data.validated_data,
        )
        order = order_selectors.order_get_for_user(user=request.user, no=order.no)
        return Response(OrderOutput(order).data, status=201)


class OrderDetailView(APIView):
    @extend_schema(responses={200: OrderOutput}, tags=["mall"])
    def get(self, request, no):
        return Response(OrderOutput(order_selectors.order_get_for_user(user=request.user, no=no)).data)


class OrderPayView(APIView):
    @extend_schema(request=None, responses={200: PayOutput}, tags=["mall"])
    def post(self, request, no):
        params = payment_services.order_pay(user=request.user, order_no=no, client_ip=client_ip(request))
        return Response(params)


class OrderCancelView(APIView):
    @extend_schema(request=None, responses={200: OrderOutput}, tags=["mall"])
    def post(self, request, no):
        order_services.order_cancel(user=request.user, order_no=no)
        return Response(OrderOutput(order_selectors.order_get_for_user(user=request.user, no=no)).data)


class OrderConfirmReceiptView(APIView):
    @extend_schema(request=None, responses={200: OrderOutput}, tags=["mall"])
    def post(self, request, no):
        order_services.order_confirm_receipt(user=request.user, order_no=no)
        return Response(OrderOutput(order_selectors.order_get_for_user(user=request.user, no=no)).data)


class OrderRefundsView(APIView):
    @extend_schema(responses={200: RefundOutput(many=True)}, tags=["mall"])
    def get(self, request, no):
        order = order_selectors.order_get_for_user(user=request.user, no=no)
        return paginated(self, request, order_selectors.refund_list_for_order(order=order), RefundOutput)

    @extend_schema(request=RefundCreateInput, responses={201: RefundOutput}, tags=["mall"])
    @idempotent
    def post(self, request, no):
        data = RefundCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        refund = refund_services.refund_request(user=request.user, order_no=no, **data.validated_data)
        return Response(RefundOutput(refund).data, status=201)


# --- operators ---------------------------------------------------------------------------


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
    carrier = serializers.CharField(max_length=32)
    tracking_no = serializers.RegexField(r"^[A-Za-z0-9\-]{4,64}$", max_length=64)


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
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


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
    reason = serializers.CharField(max_length=200)


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
    """PUT: only the fields sent change. `refund_window_days` null = the commission freeze
    period plus 7 days (shown in `refund_window_default_days`)."""

    refund_window_days = serializers.IntegerField(allow_null=True, min_value=0,
                                                  max_value=mall_settings_services.MAX_WINDOW_DAYS)
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
        return Response(MallSettingsSerializer(mall_settings_services.mall_settings_get()).data)

    @extend_schema(request=MallSettingsSerializer, responses={200: MallSettingsSerializer}, tags=["ops"])
    def put(self, request):
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"non_field_errors": ["A JSON object is expected."]})
        # The service validates strictly (types included), so the raw JSON values go through.
        row = mall_settings_services.mall_settings_update(actor=request.user, **request.data)
        return Response(MallSettingsSerializer(row).data)
