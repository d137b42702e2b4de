"""Reads of a user's own withdrawals (the operators' queue is in withdrawals_review.py)."""
from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Sum, When

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
    """Fen in open withdrawals (requested, approved, paying) and withdrawn (paid: amount and net)."""
    totals = Withdrawal.objects.filter(user_id=user_id).aggregate(
        open_fen=Sum(Case(When(status__in=list(WITHDRAWAL_OPEN), then="amount_fen"), default=0,
                          output_field=IntegerField())),
        withdrawn_fen=Sum(Case(When(status=WithdrawalStatus.PAID, then="amount_fen"), default=0,
                               output_field=IntegerField())),
        withdrawn_net_fen=Sum(Case(When(status=WithdrawalStatus.PAID, then="net_fen"), default=0,
                                   output_field=IntegerField())),
    )
    return {k: int(v or 0) for k, v in totals.items()}
