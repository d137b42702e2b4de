"""Ledger fixtures: a few accounts and a way to fund them from the outside world."""
from __future__ import annotations

import itertools

import pytest

from ledger.models import AccountKind
from ledger.services import account_get_or_create, ledger_post

_keys = itertools.count(1)


def next_key(prefix: str = "test") -> str:
    return f"{prefix}:{next(_keys)}"


def fund(account, amount_fen: int, *, key: str | None = None):
    """Money arrives from outside (WeChat users' own money) into `account`."""
    outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
    return ledger_post(
        kind="test.fund", idempotency_key=key or next_key("fund"), legs=[(outside, -amount_fen), (account, amount_fen)]
    )


@pytest.fixture
def wallet(user):
    return account_get_or_create(kind=AccountKind.USER_WALLET, owner=user)


@pytest.fixture
def other_wallet(db):
    from tests.factories import UserFactory

    return account_get_or_create(kind=AccountKind.USER_WALLET, owner=UserFactory())


@pytest.fixture
def cash(db):
    return account_get_or_create(kind=AccountKind.PLATFORM_CASH)


@pytest.fixture
def expense(db):
    return account_get_or_create(kind=AccountKind.COMMISSION_EXPENSE)
