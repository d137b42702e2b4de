"""Distribution figures: my stats, the distributor leaderboard (the operators' evangelists report:
api/ops_distribution_stats.py).

All of it reads daily aggregates (see distributors/selectors/stats.py), so it stays fast on
large data. Money is integer fen; ratios are basis points (`*_bps`) or decimal strings.
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.commissions import WalletOutput, wallet_figures
from api.fields import StrictCharField
from distributors.errors import NotADistributor
from distributors.selectors import stats as stats_selectors

RANGE_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, required=False,
                     description="First day YYYY-MM-DD (default: 29 days before `to`)"),
    OpenApiParameter("to", OpenApiTypes.DATE, required=False,
                     description="Last day YYYY-MM-DD (default: today); `from` ≤ `to`, at most 366 days"),
]


class DayFiguresOutput(serializers.Serializer):
    day = serializers.DateField()
    clicks = serializers.IntegerField()
    unique_visitors = serializers.IntegerField()
    orders = serializers.IntegerField()
    gmv_fen = serializers.IntegerField()
    new_customers = serializers.IntegerField()


class CommissionsOutput(serializers.Serializer):
    pending_fen = serializers.IntegerField()
    frozen_fen = serializers.IntegerField()
    settled_fen = serializers.IntegerField()
    reversed_fen = serializers.IntegerField()


class TeamSizeOutput(serializers.Serializer):
    level1 = serializers.IntegerField()
    level2 = serializers.IntegerField()


class _WithRange(serializers.Serializer):
    # Starts with `from` and `to` (days); `from` is a Python keyword, hence get_fields.
    def get_fields(self):
        return {"from": serializers.DateField(), "to": serializers.DateField(), **super().get_fields()}


class DistributorStatsOutput(_WithRange):
    clicks = serializers.IntegerField(help_text="Page views of my links")
    unique_visitors = serializers.IntegerField(help_text="Sum of each link's daily unique visitors")
    orders = serializers.IntegerField(help_text="Paid orders I brought (fully refunded ones taken back)")
    gmv_fen = serializers.IntegerField(help_text="What those orders paid, less refunds")
    new_customers = serializers.IntegerField(help_text="Customers whose first paid order I brought")
    conversion_bps = serializers.IntegerField(allow_null=True, help_text="orders × 10000 ÷ unique_visitors, floored")
    conversion_rate = StrictCharField(allow_null=True, help_text='orders ÷ unique_visitors, e.g. "0.0123"')
    gmv_per_click_fen = serializers.IntegerField(allow_null=True, help_text="gmv_fen ÷ clicks, floored")
    epc_fen = serializers.IntegerField(
        allow_null=True, help_text="Earnings per click: commissions (pending+frozen+settled) ÷ clicks, floored; "
        "null until the commissions app reports figures, or without clicks"
    )
    commissions = CommissionsOutput(allow_null=True, help_text="By status; null until the commissions app exists")
    wallet = WalletOutput(help_text="My wallet now (not limited to the period)")
    team = TeamSizeOutput(help_text="Approved distributors I recruited (level 1) and they recruited (level 2)")
    bound_customers = serializers.IntegerField(help_text="Customers bound to me now")
    customers = serializers.IntegerField(help_text="All-time customers with a paid order I brought")
    repeat_customers = serializers.IntegerField(help_text="All-time customers with two or more such orders")
    series = DayFiguresOutput(many=True)


class DistributorStatsView(APIView):
    @extend_schema(parameters=RANGE_PARAMETERS, responses={200: DistributorStatsOutput}, tags=["distribution"],
                   operation_id="distributors_me_stats")
    def get(self, request):
        day_from, day_to = stats_selectors.stats_range_parse(
            date_from=request.query_params.get("from"), date_to=request.query_params.get("to")
        )
        stats = stats_selectors.distributor_stats_for_user(user=request.user, day_from=day_from, day_to=day_to)
        if stats is None:
            raise NotADistributor()
        # Plain values already (ints, None, dicts of ints): only the days need writing out. Up to
        # 366 series points through DRF fields would cost more than all the queries together.
        stats["from"], stats["to"] = day_from.isoformat(), day_to.isoformat()
        stats["wallet"] = wallet_figures(user=request.user)
        stats["series"] = [{**point, "day": point["day"].isoformat()} for point in stats["series"]]
        return Response(stats)


class LeaderboardEntryOutput(serializers.Serializer):
    rank = serializers.IntegerField()
    nickname = StrictCharField()
    avatar_url = StrictCharField()
    orders = serializers.IntegerField()
    gmv_fen = serializers.IntegerField()
    conversion_bps = serializers.IntegerField(allow_null=True)
    evangelist = serializers.BooleanField(help_text="Their links bring orders; they have no paid order of their own")
    is_me = serializers.BooleanField()


class LeaderboardOutput(_WithRange):
    period = StrictCharField()
    by = StrictCharField()
    results = LeaderboardEntryOutput(many=True)


class LeaderboardView(APIView):
    """Top 20 approved distributors (logged-in users only); cached for 60 s."""

    @extend_schema(
        parameters=[
            OpenApiParameter("period", str, enum=list(stats_selectors.LEADERBOARD_PERIODS), required=False,
                             description="Rolling: today, the last 7 days, the last 30 days (default week)"),
            OpenApiParameter("by", str, enum=list(stats_selectors.LEADERBOARD_MEASURES), required=False,
                             description="gmv (default), orders, or conversion (at least "
                             f"{stats_selectors.LEADERBOARD_MIN_VISITORS} unique visitors)"),
        ],
        responses={200: LeaderboardOutput},
        tags=["distribution"],
    )
    def get(self, request):
        board = stats_selectors.leaderboard(
            period=request.query_params.get("period") or "week", by=request.query_params.get("by") or "gmv"
        )
        me = request.user.pk
        board["results"] = [{**entry, "is_me": entry["user_id"] == me} for entry in board["results"]]
        return Response(LeaderboardOutput(board).data)
