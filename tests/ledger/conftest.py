"""Ledger fixtures: a few accounts (fund them with tests/ledger/ledger_helpers.py `fund`)."""
from __future__ import annotations

import pytest

from ledger.models import AccountKind
from ledger.services import account_get_or_create
from tests.factories import UserFactory


@pytest.fixture
def wallet(user):
    return account_get_or_create(kind=AccountKind.USER_WALLET, owner=user)


@pytest.fixture
def other_wallet(db):
    return account_get_or_create(kind=AccountKind.USER_WALLET, owner=UserFactory())


@pytest.fixture
def cash(db):
    return account_get_or_create(kind=AccountKind.PLATFORM_CASH)


@pytest.fixture
def expense(db):
    return account_get_or_create(kind=AccountKind.COMMISSION_EXPENSE)
