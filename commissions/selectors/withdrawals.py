"""Reads of a user's own withdrawals (the operators' queue is in withdrawals_review.py)."""
from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from core.errors import NotFound
from ledger.models import Account, AccountKind

from ..models import Withdrawal, WithdrawalStatus


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


def wallet_for_user(*, user_id: int) -> dict[str, int]:
    """The wallet as the user sees it, in ONE plain SQL statement (read with every wallet and
    stats page): the ledger's balances (available, frozen, withdrawing, debt) and the sum of
    paid withdrawals."""
    accounts = Account._meta.db_table
    withdrawals = Withdrawal._meta.db_table
    kinds = [AccountKind.USER_WALLET, AccountKind.USER_FROZEN, AccountKind.USER_WITHDRAWING, AccountKind.USER_DEBT]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT kind, balance_fen FROM {accounts} WHERE owner_id = %s AND kind IN (%s, %s, %s, %s) "  # noqa: S608
            f"UNION ALL SELECT 'withdrawn', COALESCE(SUM(amount_fen), 0) FROM {withdrawals} "
            "WHERE user_id = %s AND status = %s",
            [user_id, *kinds, user_id, WithdrawalStatus.PAID],
        )
        got = {kind: int(value or 0) for kind, value in cursor.fetchall()}
    return {
        "available_fen": got.get(AccountKind.USER_WALLET, 0),
        "frozen_fen": got.get(AccountKind.USER_FROZEN, 0),
        "withdrawing_fen": got.get(AccountKind.USER_WITHDRAWING, 0),
        "withdrawn_fen": got.get("withdrawn", 0),
        "debt_fen": -got.get(AccountKind.USER_DEBT, 0),
    }
