"""Helpers for the red-envelope tests: an owner with money, an opened envelope, the books."""
from __future__ import annotations

import random

from django.db.models import Sum

from campaigns.models import EnvelopeShare
from campaigns.services import envelopes as env_services
from campaigns.services.envelope_state import envelope_escrow_account
from ledger.models import Account, AccountKind
from tests.commissions.wallet_helpers import fund
from tests.factories import UserFactory


def owner_with(amount_fen: int):
    owner = UserFactory()
    fund(owner, amount_fen)
    return owner


def opened(*, total_fen: int = 10_000, count: int = 10, split: str = "random", seed: int = 7, owner=None):
    """An envelope filled from its owner's wallet and opened (shares split with a fixed seed)."""
    owner = owner or owner_with(total_fen)
    env, _ = env_services.envelope_create(owner=owner, total_fen=total_fen, count=count, split=split)
    return env_services.envelope_open(user=owner, envelope_id=env.pk, rng=random.Random(seed))


def wallet(user) -> int:
    account = Account.objects.filter(owner=user, kind=AccountKind.USER_WALLET).first()
    return account.balance_fen if account else 0


def escrow(env) -> int:
    return Account.objects.get(pk=envelope_escrow_account(envelope_id=env.pk).pk).balance_fen


def grabbed(env) -> dict[int, int]:
    """user id → amount grabbed, from the share rows (the truth)."""
    return dict(EnvelopeShare.objects.filter(envelope=env, user__isnull=False).values_list("user_id", "amount_fen"))


def assert_envelope_books(env) -> None:
    """The escrow holds exactly what is neither posted to a wallet nor returned to the owner."""
    env.refresh_from_db()
    shares = EnvelopeShare.objects.filter(envelope=env)
    assert (shares.aggregate(s=Sum("amount_fen"))["s"] or 0) == env.pool_fen
    unposted = shares.filter(posting__isnull=True, returned=False).aggregate(s=Sum("amount_fen"))["s"] or 0
    assert escrow(env) == unposted
