"""Reads of a user's own withdrawals (the operators' queue is in withdrawals_review.py)."""
from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from core.errors import NotFound

from ..models import WITHDRAWAL_OPEN, Withdrawal, WithdrawalStatus


def withdrawal_list_for_user(*, user, status: str | None = None) -> QuerySet[Withdrawal]:
    qs = Withdrawal.objects.filter(user_id=user.pk)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-requested_at", "-pk")


def withdrawal_get_for_user(*, user, withdrawal_id: int) -> Withdrawal:
    """The user's own withdrawal; another user's is 'not found' (API.md)."""
    w = Withdrawal.objects.filter(pk=withdrawal_id, user_id=user.pk).first()
    if w is None:
        raise NotFound("Withdrawal not found.")
    return w


def withdrawal_totals_for_user(*, user_id: int) -> dict[str, int]:
    """Fen in open withdrawals (requested, approved, paying) and withdrawn (paid: amount and net).
    Plain SQL: it is read with every wallet and stats page."""
    table = Withdrawal._meta.db_table
    opened = sorted(WITHDRAWAL_OPEN)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT SUM(CASE WHEN status IN (%s, %s, %s) THEN amount_fen ELSE 0 END), "  # noqa: S608 - fixed
            "SUM(CASE WHEN status = %s THEN amount_fen ELSE 0 END), "
            f"SUM(CASE WHEN status = %s THEN net_fen ELSE 0 END) FROM {table} WHERE user_id = %s",
            [*opened, WithdrawalStatus.PAID, WithdrawalStatus.PAID, user_id],
        )
        row = cursor.fetchone()
    keys = ("open_fen", "withdrawn_fen", "withdrawn_net_fen")
    return {key: int(value or 0) for key, value in zip(keys, row, strict=True)}
