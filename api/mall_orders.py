"""Orders, payment, receipt and refunds — the buyer's side (the operators': api/ops_orders.py)."""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.fields import IdField, MoneyField, StrictCharField, StrictIntegerField, StrictRegexField
from api.idempotency import idempotent
from api.net import client_ip
from api.pagination import paginated, status_param
from distributors.services.attribution import ATTRIBUTION_COOKIE
from mall.models import OrderStatus, RefundStatus
from mall.selectors import orders as order_selectors
from mall.services import orders as order_services
from mall.services import payments as payment_services
from mall.services import refunds as refund_services

PHONE_RE = r"^\+?[0-9][0-9\- ]{4,19}$"


class AddressSerializer(serializers.Serializer):
    name = StrictCharField(max_length=32)
    phone = StrictRegexField(PHONE_RE, max_length=20)
    province = StrictCharField(max_length=32)
    city = StrictCharField(max_length=32)
    district = StrictCharField(max_length=32)
    detail = StrictCharField(max_length=200)


class OrderItemInput(serializers.Serializer):
    sku_id = IdField()
    quantity = StrictIntegerField(min_value=1, max_value=settings.MALL_MAX_QUANTITY_PER_ITEM)


class OrderCreateInput(serializers.Serializer):
    items = OrderItemInput(many=True, allow_empty=False, max_length=settings.MALL_MAX_ITEMS_PER_ORDER)
    address = AddressSerializer()
    share_code = StrictCharField(max_length=32, required=False, allow_blank=True, default="")
    buyer_note = StrictCharField(max_length=200, required=False, allow_blank=True, default="")


class OrderItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    sku_id = serializers.IntegerField()
    title = StrictCharField()
    sku_name = StrictCharField()
    image = StrictCharField()
    price_fen = serializers.IntegerField()
    quantity = serializers.IntegerField()
    amount_fen = serializers.IntegerField()


class OrderOutput(serializers.Serializer):
    no = StrictCharField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    total_fen = serializers.IntegerField()
    paid_fen = serializers.IntegerField()
    refunded_fen = serializers.IntegerField()
    paid_via = StrictCharField(help_text='Who paid when not the buyer\'s own WeChat payment, e.g. '
                                               '"campaigns.crowdfund" (friends crowdfunded it); "" otherwise')
    items = OrderItemOutput(many=True)
    address = AddressSerializer()
    share_code = StrictCharField()
    distributor = serializers.SerializerMethodField()
    buyer_note = StrictCharField()
    carrier = StrictCharField()
    tracking_no = StrictCharField()
    created_at = serializers.DateTimeField()
    pay_deadline = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    shipped_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)

    def get_distributor(self, order) -> dict | None:
        return order.attribution or None


class PayOutput(serializers.Serializer):
    prepay_id = StrictCharField()
    jsapi = serializers.DictField(child=StrictCharField())


class RefundOutput(serializers.Serializer):
    id = serializers.IntegerField()
    no = StrictCharField()
    order_no = StrictCharField(source="order.no")
    amount_fen = serializers.IntegerField()
    reason = StrictCharField()
    status = serializers.ChoiceField(choices=RefundStatus.choices)
    review_note = StrictCharField()
    created_at = serializers.DateTimeField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)


class RefundCreateInput(serializers.Serializer):
    amount_fen = MoneyField()
    reason = StrictCharField(max_length=200)


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
