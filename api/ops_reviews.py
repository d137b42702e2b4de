"""Reviews, the operators' side: every review (hidden ones too), hide and unhide."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.mall_catalog import ReviewOutput
from api.pagination import Pagination, paginated
from mall.selectors import reviews as review_selectors
from mall.services import reviews as review_services


class OpsReviewOutput(ReviewOutput):
    product_id = serializers.IntegerField()
    order_item_id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    is_hidden = serializers.BooleanField()




class OpsReviewQuery(serializers.Serializer):
    product = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    is_hidden = serializers.BooleanField(required=False, allow_null=True, default=None)


class OpsReviewListView(APIView):
    """Every review (also hidden ones), newest first; `?product=` and `?is_hidden=true|false`."""

    pagination_class = Pagination  # (the schema shows the paginated shape)

    permission_classes = [HasModelPerm]
    required_perm = "mall.view_review"

    @extend_schema(
        parameters=[
            OpenApiParameter("product", int, required=False),
            OpenApiParameter("is_hidden", bool, required=False),
        ],
        responses={200: OpsReviewOutput(many=True)},
        tags=["ops"],
    )
    def get(self, request):
        query = OpsReviewQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        qs = review_selectors.review_list_ops(
            product_id=query.validated_data.get("product"), is_hidden=query.validated_data.get("is_hidden")
        )
        return paginated(self, request, qs, OpsReviewOutput)


class _OpsReviewFlagView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = "mall.change_review"
    hidden: bool

    @extend_schema(request=None, responses={200: OpsReviewOutput}, tags=["ops"])
    def post(self, request, pk: int):
        if self.hidden:
            review_services.review_hide(review_id=pk)
        else:
            review_services.review_unhide(review_id=pk)
        return Response(OpsReviewOutput(review_selectors.review_get(review_id=pk)).data)


class OpsReviewHideView(_OpsReviewFlagView):
    """Hide a review from the product page; the product's count and average move back. Idempotent."""

    hidden = True


class OpsReviewUnhideView(_OpsReviewFlagView):
    """Show a hidden review again. Idempotent."""

    hidden = False
