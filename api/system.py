"""Health (the operators' ledger audit: api/ops_ledger.py)."""
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.health import health_report


class HealthView(APIView):
    """Database, Redis and Celery (broker) reachability; 200 when all are up, 503 otherwise.
    `?workers=1` also pings the Celery workers and reports how many answered."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer(
                "Health", {"ok": serializers.BooleanField(), "checks": serializers.DictField()}
            )
        },
        tags=["system"],
    )
    def get(self, request):
        report = health_report(ping_workers=request.query_params.get("workers") in ("1", "true"))
        return Response(report, status=200 if report["ok"] else 503)
