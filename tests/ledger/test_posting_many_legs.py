"""ledger_post with many legs (a settlement batch: thousands of accounts). On PostgreSQL from
BULK_UPDATE_FROM legs on, the accounts are locked, the entries written and the balances moved
with one statement each (arrays of ids and amounts); the rules are the same as for two legs."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import InsufficientBalance, InvalidInput
from ledger.models import Account, AccountKind, Entry, LedgerTransaction
from ledger.services import BULK_UPDATE_FROM, account_get_or_create, ledger_post
from tests.factories import UserFactory

from .ledger_helpers import fund

pytestmark = pytest.mark.django_db

LEGS = BULK_UPDATE_FROM + 12


def snapshot() -> dict:
    return {
        "transactions": LedgerTransaction.objects.count(),
        "entries": Entry.objects.count(),
        "balances": dict(Account.objects.values_list("code", "balance_fen")),
    }


@pytest.fixture
def wallets():
    return [account_get_or_create(kind=AccountKind.USER_WALLET, owner=UserFactory()) for _ in range(LEGS)]


def test_a_many_leg_posting_moves_every_balance_once(wallets):
    outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
    legs = [(outside, -sum(range(1, LEGS + 1)))] + [(w, i) for i, w in enumerate(wallets, start=1)]
    posting = ledger_post(kind="test.many", idempotency_key="many-1", legs=legs, memo="many")
    assert posting.created
    entries = list(posting.transaction.entries.order_by("account_id").values_list("account_id", "amount_fen"))
    assert entries == sorted((a.pk, amount) for a, amount in legs)
    at = posting.transaction.created_at
    assert all(abs(e.created_at - at) < timedelta(seconds=5) for e in posting.transaction.entries.all())
    balances = dict(Account.objects.values_list("pk", "balance_fen"))
    assert [balances[w.pk] for w in wallets] == list(range(1, LEGS + 1))
    assert balances[outside.pk] == -sum(range(1, LEGS + 1))

    before = snapshot()
    again = ledger_post(kind="test.many", idempotency_key="many-1", legs=legs)  # the same key: nothing moves
    assert not again.created and again.transaction.pk == posting.transaction.pk
    assert snapshot() == before

    back = [(w, -1) for w in wallets] + [(outside, LEGS)]  # and back, relative to the stored balances
    ledger_post(kind="test.many", idempotency_key="many-2", legs=back)
    assert [Account.objects.get(pk=w.pk).balance_fen for w in wallets] == list(range(0, LEGS))


def test_a_many_leg_posting_that_would_overdraw_one_account_writes_nothing(wallets):
    for w in wallets:
        fund(w, 10)
    before = snapshot()
    cash = account_get_or_create(kind=AccountKind.PLATFORM_CASH)
    legs = [(w, -10) for w in wallets[:-1]] + [(wallets[-1], -11), (cash, 10 * LEGS + 1)]
    with pytest.raises(InsufficientBalance) as exc:
        ledger_post(kind="test.many", idempotency_key="overdraw", legs=legs)
    assert exc.value.extra == {"account": wallets[-1].code, "balance_fen": 10, "needed_fen": 11}
    after = snapshot()
    before["balances"].setdefault(cash.code, 0)
    assert after == before


def test_a_many_leg_posting_with_a_missing_account_writes_nothing(wallets):
    before = snapshot()
    ghost = Account(pk=10**12, code="ghost", kind=AccountKind.USER_WALLET)
    legs = [(w, 1) for w in wallets] + [(ghost, -LEGS)]
    with pytest.raises(InvalidInput, match="account that exists"):
        ledger_post(kind="test.many", idempotency_key="ghost", legs=legs)
    assert snapshot() == before
