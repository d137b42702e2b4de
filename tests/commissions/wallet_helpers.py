"""Distributors with money in the wallet, and balance reads, for the withdrawal tests."""
from __future__ import annotations

import itertools

from django.db.models import Sum

from ledger.models import Account, AccountKind
from ledger.services import account_get_or_create, ledger_post
from tests.factories import DistributorFactory, UserFactory, distribution_settings_set

_keys = itertools.count()


def fund(user, amount_fen: int) -> None:
    """Money into the user's wallet as a settled commission would bring it (commission expense → wallet)."""
    ledger_post(kind="test.fund", idempotency_key=f"test.fund:{user.pk}:{next(_keys)}",
                legs=[(account_get_or_create(kind=AccountKind.COMMISSION_EXPENSE, ref="test"), -amount_fen),
                      (account_get_or_create(kind=AccountKind.USER_WALLET, owner=user), amount_fen)])


def funded_distributor(amount_fen: int = 10_000, **user_fields):
    distributor = DistributorFactory(user=UserFactory(**user_fields))
    if amount_fen:
        fund(distributor.user, amount_fen)
    return distributor


def balance(user, kind) -> int:
    return Account.objects.filter(owner=user, kind=kind).aggregate(t=Sum("balance_fen"))["t"] or 0


def platform_balance(kind) -> int:
    return Account.objects.filter(owner__isnull=True, kind=kind).aggregate(t=Sum("balance_fen"))["t"] or 0


def wallet(user) -> dict[str, int]:
    return {k: balance(user, k) for k in ("user_wallet", "user_withdrawing", "user_debt")}


def withdrawal_settings(**fields) -> None:
    defaults = {"withdrawal_min_fen": 100, "withdrawal_fee_bps": 0, "withdrawal_min_fee_fen": 0,
                "withdrawal_daily_count": 3, "withdrawal_daily_amount_fen": 5_000_000, "transfer_max_fen": 2_000_000}
    distribution_settings_set(**{**defaults, **fields})
