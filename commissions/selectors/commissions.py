"""Reads of commissions and the figures the distributors' stats show."""
from __future__ import annotations

from datetime import date, datetime, time

from django.db.models import Case, F, IntegerField, QuerySet, Sum, When
from django.utils import timezone

from ..models import Commission, CommissionStatus


def commission_list_for_user(*, user, status: str | None = None) -> QuerySet[Commission]:
    qs = Commission.objects.filter(beneficiary=user).select_related("order")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def commission_totals(*, distributor_id: int, day_from: date, day_to: date) -> dict[str, int]:
    """Fen by status for commissions accrued on those days (inclusive): the live part of each
    commission under its status, and every reversed fen under reversed_fen."""
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day_from, time.min), tz)
    end = timezone.make_aware(datetime.combine(day_to, time.max), tz)
    live = F("amount_fen") - F("reversed_fen")
    totals = Commission.objects.filter(distributor_id=distributor_id, created_at__range=(start, end)).aggregate(
        pending_fen=Sum(Case(When(status=CommissionStatus.PENDING, then=live), default=0,
                             output_field=IntegerField())),
        frozen_fen=Sum(Case(When(status=CommissionStatus.FROZEN, then=live), default=0,
                            output_field=IntegerField())),
        settled_fen=Sum(Case(When(status=CommissionStatus.SETTLED, then=live), default=0,
                             output_field=IntegerField())),
        reversed_fen=Sum("reversed_fen"),
    )
    return {key: int(value or 0) for key, value in totals.items()}
