"""Reads of commissions and the figures the distributors' stats show."""
from __future__ import annotations

from datetime import date, datetime, time

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from ..models import Commission, CommissionStatus


def commission_list_for_user(*, user, status: str | None = None) -> QuerySet[Commission]:
    qs = Commission.objects.filter(beneficiary=user).select_related("order")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def commission_totals(*, distributor_id: int, day_from: date, day_to: date) -> dict[str, int]:
    """Fen by status for commissions accrued on those days (inclusive): the live part of each
    commission under its status, and every reversed fen under reversed_fen.

    Plain SQL: read on every stats request, and building the ORM's CASE/WHEN expressions cost
    more than running the query."""
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day_from, time.min), tz)
    end = timezone.make_aware(datetime.combine(day_to, time.max), tz)
    table = Commission._meta.db_table
    live = "amount_fen - reversed_fen"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT SUM(CASE WHEN status = %s THEN {live} ELSE 0 END), "  # noqa: S608 - fixed names
            f"SUM(CASE WHEN status = %s THEN {live} ELSE 0 END), "
            f"SUM(CASE WHEN status = %s THEN {live} ELSE 0 END), SUM(reversed_fen) "
            f"FROM {table} WHERE distributor_id = %s AND created_at BETWEEN %s AND %s",
            [CommissionStatus.PENDING, CommissionStatus.FROZEN, CommissionStatus.SETTLED, distributor_id, start, end],
        )
        row = cursor.fetchone()
    keys = ("pending_fen", "frozen_fen", "settled_fen", "reversed_fen")
    return {key: int(value or 0) for key, value in zip(keys, row, strict=True)}
