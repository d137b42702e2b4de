"""The operators' evangelists report: distributors whose links sold while they bought nothing.

Reads the daily aggregates (distributors/selectors/stats.py)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.distribution_stats import RANGE_PARAMETERS
from api.fields import StrictCharField
from api.pagination import Pagination
from distributors.selectors import stats as stats_selectors


class EvangelistOutput(serializers.Serializer):
    distributor_id = serializers.IntegerField(source="pk")
    user_id = serializers.IntegerField()
    nickname = StrictCharField(source="user.nickname")
    avatar_url = StrictCharField(source="user.avatar_url")
    status = StrictCharField()
    orders = serializers.IntegerField(source="orders_sum")
    gmv_fen = serializers.IntegerField(source="gmv_sum")
    clicks = serializers.IntegerField(source="clicks_sum")
    unique_visitors = serializers.IntegerField(source="visitors_sum")
    conversion_bps = serializers.SerializerMethodField()
    evangelist = serializers.SerializerMethodField()

    def get_conversion_bps(self, obj) -> int | None:
        return stats_selectors.conversion_bps(orders=obj.orders_sum, unique_visitors=obj.visitors_sum)

    def get_evangelist(self, obj) -> bool:
        return True


class OpsEvangelistsView(APIView):
    """Distributors whose links brought paid orders in the range while they bought nothing
    themselves, most orders first (paginated)."""

    permission_classes = [HasModelPerm]
    required_perm = "distributors.view_distributor"

    @extend_schema(parameters=RANGE_PARAMETERS, responses={200: EvangelistOutput(many=True)}, tags=["ops"])
    def get(self, request):
        day_from, day_to = stats_selectors.stats_range_parse(
            date_from=request.query_params.get("from"), date_to=request.query_params.get("to")
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(
            stats_selectors.evangelist_list(day_from=day_from, day_to=day_to), request, view=self
        )
        return paginator.get_paginated_response(EvangelistOutput(page, many=True).data)
