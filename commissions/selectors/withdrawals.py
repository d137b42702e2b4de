"""Reads of a user's own withdrawals (the operators' queue is in withdrawals_review.py)."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery

from core.errors import NotFound
from ledger.models import Account, AccountKind
from wechat.models import TransferApi, WechatTransfer
from wechat.transfer_bills import CONFIRMABLE_STATES

from ..models import Withdrawal, WithdrawalStatus


def _with_bill(qs: QuerySet[Withdrawal]) -> QuerySet[Withdrawal]:
    """Each withdrawal with its merchant transfer bill's state and package_info (one query
    for a page: two correlated subqueries on the bill's unique number)."""
    bills = WechatTransfer.objects.filter(partner_trade_no=OuterRef("transfer_no"), api=TransferApi.V3_BILL)
    return qs.annotate(bill_state=Subquery(bills.values("bill_state")[:1]),
                       bill_package=Subquery(bills.values("package_info")[:1]))


def withdrawal_list_for_user(*, user, status: str | None = None) -> QuerySet[Withdrawal]:
    qs = Withdrawal.objects.filter(user_id=user.pk)
    if status:
        qs = qs.filter(status=status)
    return _with_bill(qs).order_by("-requested_at", "-pk")


def withdrawal_get_for_user(*, user, withdrawal_id: int) -> Withdrawal:
    """The user's own withdrawal; another user's is 'not found' (API.md)."""
    w = _with_bill(Withdrawal.objects.filter(pk=withdrawal_id, user_id=user.pk)).first()
    if w is None:
        raise NotFound("Withdrawal not found.")
    return w


def withdrawal_confirm_params(w: Withdrawal) -> dict | None:
    """For a withdrawal from `withdrawal_list_for_user` / `withdrawal_get_for_user`: what the
    page passes to wx.requestMerchantTransfer ({mchId, appId, package}) while the user can
    still confirm receipt, with the deadline; None otherwise."""
    if w.status != WithdrawalStatus.CONFIRMING or getattr(w, "bill_state", None) not in CONFIRMABLE_STATES:
        return None
    package = getattr(w, "bill_package", "") or ""
    if not package:
        return None
    deadline = w.paying_at + timedelta(hours=settings.WECHAT_TRANSFER_CONFIRM_HOURS) if w.paying_at else None
    return {"mchId": settings.WECHAT_MCH_ID, "appId": settings.WECHAT_APPID, "package": package,
            "confirm_by": deadline}


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
