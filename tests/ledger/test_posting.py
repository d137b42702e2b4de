"""ledger_post: balanced postings move balances; every bad posting writes nothing."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from core.errors import InsufficientBalance, InvalidInput
from ledger.models import Account, AccountKind, Entry, LedgerTransaction
from ledger.services import MAX_ABS_AMOUNT_FEN, account_get_or_create, ledger_post

from .ledger_helpers import fund, next_key


def snapshot() -> dict:
    return {
        "transactions": LedgerTransaction.objects.count(),
        "entries": Entry.objects.count(),
        "balances": dict(Account.objects.values_list("code", "balance_fen")),
    }


def balance(account) -> int:
    return Account.objects.get(pk=account.pk).balance_fen


def test_account_get_or_create_is_stable_and_sets_negativity(user):
    wallet = account_get_or_create(kind=AccountKind.USER_WALLET, owner=user)
    assert account_get_or_create(kind=AccountKind.USER_WALLET, owner=user).pk == wallet.pk
    assert wallet.code == f"user:{user.pk}:user_wallet"
    assert wallet.allow_negative is False
    cash = account_get_or_create(kind=AccountKind.PLATFORM_CASH)
    assert cash.code == "platform:platform_cash" and cash.allow_negative is True
    escrow = account_get_or_create(kind=AccountKind.CAMPAIGN_ESCROW, ref="crowdfund:7")
    assert escrow.code == "crowdfund:7:campaign_escrow" and escrow.allow_negative is False


def test_account_get_or_create_refuses_unknown_kind(db):
    with pytest.raises(InvalidInput):
        account_get_or_create(kind="piggy_bank")
    assert Account.objects.count() == 0


def test_post_moves_balances_and_writes_balanced_entries(wallet, cash, user):
    posting = ledger_post(
        kind="test.pay",
        idempotency_key="pay-1",
        legs=[(cash, -300), (wallet, 300)],
        memo="hello",
        cause_type="test.thing",
        cause_id=42,
        created_by=user,
    )
    assert posting.created is True
    txn = posting.transaction
    assert (txn.kind, txn.idempotency_key, txn.memo, txn.cause_type, txn.cause_id) == (
        "test.pay", "pay-1", "hello", "test.thing", "42"
    )
    assert txn.created_by_id == user.pk
    assert balance(wallet) == 300
    assert balance(cash) == -300
    entries = list(txn.entries.values_list("account_id", "amount_fen").order_by("account_id"))
    assert sorted(entries) == sorted([(cash.pk, -300), (wallet.pk, 300)])
    assert txn.entries.aggregate(s=Sum("amount_fen"))["s"] == 0

    # a second posting can spend the wallet down to exactly zero
    ledger_post(kind="test.spend", idempotency_key="spend-1", legs=[(wallet, -300), (cash, 300)])
    assert balance(wallet) == 0 and balance(cash) == 0
    assert Entry.objects.count() == 4


def test_post_with_three_legs(wallet, other_wallet, cash):
    ledger_post(kind="test.split", idempotency_key="split", legs=[(cash, -100), (wallet, 70), (other_wallet, 30)])
    assert (balance(cash), balance(wallet), balance(other_wallet)) == (-100, 70, 30)


def test_memo_is_truncated_not_refused(wallet, cash):
    txn = ledger_post(kind="k", idempotency_key="memo", legs=[(cash, -1), (wallet, 1)], memo="x" * 400).transaction
    assert len(txn.memo) == 255


def _bad_cases(wallet, cash, other_wallet):
    unsaved = Account(code="nowhere", kind=AccountKind.PLATFORM_CASH, allow_negative=True)
    ghost = Account(pk=10**9, code="ghost", kind=AccountKind.PLATFORM_CASH, allow_negative=True)
    return {
        "unbalanced": dict(legs=[(cash, -100), (wallet, 99)]),
        "single leg": dict(legs=[(wallet, 100)]),
        "no legs": dict(legs=[]),
        "zero amount": dict(legs=[(cash, 0), (wallet, 0)]),
        "zero leg among others": dict(legs=[(cash, -5), (wallet, 5), (other_wallet, 0)]),
        "float": dict(legs=[(cash, -1.0), (wallet, 1.0)]),
        "decimal": dict(legs=[(cash, Decimal("-1")), (wallet, Decimal("1"))]),
        "bool": dict(legs=[(cash, -1), (wallet, True)]),
        "string": dict(legs=[(cash, "-1"), (wallet, "1")]),
        "duplicate account": dict(legs=[(wallet, -1), (wallet, 1)]),
        "duplicate account balanced with a third": dict(legs=[(cash, -2), (wallet, 1), (wallet, 1)]),
        "unsaved account": dict(legs=[(cash, -1), (unsaved, 1)]),
        "account that does not exist": dict(legs=[(cash, -1), (ghost, 1)]),
        "not an account": dict(legs=[(cash, -1), (wallet.pk, 1)]),
        "empty key": dict(key=""),
        "huge key": dict(key="k" * 161),
        "empty kind": dict(kind=""),
        "huge kind": dict(kind="k" * 49),
        "huge amount": dict(legs=[(cash, -(MAX_ABS_AMOUNT_FEN + 1)), (wallet, MAX_ABS_AMOUNT_FEN + 1)]),
    }


BAD = [
    "unbalanced", "single leg", "no legs", "zero amount", "zero leg among others", "float", "decimal", "bool",
    "string", "duplicate account", "duplicate account balanced with a third", "unsaved account",
    "account that does not exist", "not an account", "empty key", "huge key", "empty kind", "huge kind",
    "huge amount",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_posting_writes_nothing(case, wallet, cash, other_wallet):
    fund(wallet, 50)
    before = snapshot()
    spec = _bad_cases(wallet, cash, other_wallet)[case]
    with pytest.raises(InvalidInput) as info:
        ledger_post(
            kind=spec.get("kind", "test.bad"),
            idempotency_key=spec.get("key", "bad-key"),
            legs=spec.get("legs", [(cash, -10), (wallet, 10)]),
        )
    assert info.value.code in {"invalid", "unbalanced", "amount_too_large"}
    assert snapshot() == before
    assert not LedgerTransaction.objects.filter(idempotency_key="bad-key").exists()


def test_error_codes_are_specific(wallet, cash):
    with pytest.raises(InvalidInput) as info:
        ledger_post(kind="k", idempotency_key="a", legs=[(cash, -2), (wallet, 1)])
    assert info.value.code == "unbalanced"
    with pytest.raises(InvalidInput) as info:
        ledger_post(kind="k", idempotency_key="a", legs=[(cash, -(10**16)), (wallet, 10**16)])
    assert info.value.code == "amount_too_large"


def test_largest_allowed_amount_posts(wallet, cash):
    ledger_post(kind="k", idempotency_key="big", legs=[(cash, -MAX_ABS_AMOUNT_FEN), (wallet, MAX_ABS_AMOUNT_FEN)])
    assert balance(wallet) == MAX_ABS_AMOUNT_FEN


def test_would_go_negative_is_refused_and_writes_nothing(wallet, other_wallet, cash):
    fund(wallet, 100)
    before = snapshot()
    with pytest.raises(InsufficientBalance) as info:
        ledger_post(kind="test.overdraw", idempotency_key="overdraw", legs=[(wallet, -101), (other_wallet, 101)])
    assert info.value.code == "insufficient_balance"
    assert info.value.extra["account"] == wallet.code
    assert info.value.extra["balance_fen"] == 100
    assert snapshot() == before
    assert not LedgerTransaction.objects.filter(idempotency_key="overdraw").exists()
    # the key was not burnt: once there is money, the same key posts
    fund(wallet, 1)
    assert ledger_post(kind="k", idempotency_key="overdraw", legs=[(wallet, -101), (other_wallet, 101)]).created
    assert balance(wallet) == 0 and balance(other_wallet) == 101


def test_empty_wallet_cannot_pay(wallet, cash):
    with pytest.raises(InsufficientBalance):
        ledger_post(kind="k", idempotency_key="x", legs=[(wallet, -1), (cash, 1)])
    assert LedgerTransaction.objects.count() == 0
    assert balance(wallet) == 0


def test_negative_allowed_accounts_go_negative(cash, expense):
    ledger_post(kind="k", idempotency_key="neg", legs=[(cash, -5), (expense, 5)])
    ledger_post(kind="k", idempotency_key="neg2", legs=[(cash, 10), (expense, -10)])
    assert balance(expense) == -5 and balance(cash) == 5


def test_repeated_key_returns_first_and_moves_nothing(wallet, other_wallet, cash):
    first = ledger_post(kind="test.pay", idempotency_key="same", legs=[(cash, -40), (wallet, 40)])
    before = snapshot()
    again = ledger_post(kind="test.pay", idempotency_key="same", legs=[(cash, -40), (wallet, 40)])
    assert again.created is False and again.transaction.pk == first.transaction.pk
    # even with different legs and a different kind, the first transaction stands
    different = ledger_post(kind="test.other", idempotency_key="same", legs=[(cash, -999), (other_wallet, 999)])
    assert different.created is False and different.transaction.pk == first.transaction.pk
    assert snapshot() == before


def test_repeated_key_with_legs_that_would_overdraw_returns_first(wallet, other_wallet, cash):
    first = fund(wallet, 10, key="fund-once")
    # the repeat would overdraw nothing since it moves nothing; it must not raise
    again = ledger_post(kind="k", idempotency_key="fund-once", legs=[(wallet, -10_000), (other_wallet, 10_000)])
    assert again.transaction.pk == first.transaction.pk and not again.created
    assert balance(wallet) == 10 and balance(other_wallet) == 0


def test_invalid_repeat_is_still_refused(wallet, cash):
    """Validation comes first: a malformed request is an error even if its key was used."""
    fund(wallet, 10, key="used")
    with pytest.raises(InvalidInput):
        ledger_post(kind="k", idempotency_key="used", legs=[(cash, -1), (wallet, 2)])


def test_post_inside_caller_transaction_rolls_back_with_it(wallet, cash):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            ledger_post(kind="k", idempotency_key="rolled", legs=[(cash, -7), (wallet, 7)])
            raise RuntimeError("caller fails after posting")
    assert balance(wallet) == 0
    assert not LedgerTransaction.objects.filter(idempotency_key="rolled").exists()


def test_database_check_stops_negative_balance_when_service_is_bypassed(wallet, cash):
    fund(wallet, 5)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            Account.objects.filter(pk=wallet.pk).update(balance_fen=F("balance_fen") - 6)
    assert balance(wallet) == 5
    # a negative-allowed account accepts the same update
    with transaction.atomic():
        Account.objects.filter(pk=cash.pk).update(balance_fen=F("balance_fen") - 6)
    Account.objects.filter(pk=cash.pk).update(balance_fen=F("balance_fen") + 6)  # repair for the audit


def test_database_check_stops_zero_entries(wallet, cash):
    txn = fund(wallet, 5).transaction
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            Entry.objects.create(transaction=txn, account=cash, amount_fen=0)


def test_one_entry_per_account_per_transaction_in_the_database(wallet, cash):
    txn = fund(wallet, 5).transaction
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            Entry.objects.create(transaction=txn, account=wallet, amount_fen=1)


def test_idempotency_key_is_unique_in_the_database(wallet):
    fund(wallet, 5, key="uniq")
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            LedgerTransaction.objects.create(kind="k", idempotency_key="uniq")


def test_next_key_helper_is_unique():
    assert next_key() != next_key()


def test_a_posting_with_many_legs_moves_every_balance(db):
    """Many legs take the one-statement balance update on PostgreSQL; the result is the same."""
    from accounts.models import User
    from ledger.models import AccountKind
    from ledger.services import account_get_or_create, ledger_post

    source = account_get_or_create(kind=AccountKind.COMMISSION_EXPENSE, ref="many")
    wallets = [account_get_or_create(kind=AccountKind.USER_WALLET, owner=User.objects.create(username=f"m{i}"))
               for i in range(20)]
    legs = [(source, -sum(range(1, 21)))] + [(w, i + 1) for i, w in enumerate(wallets)]
    ledger_post(kind="test.many", idempotency_key="test.many", legs=legs)
    for i, wallet in enumerate(wallets):
        wallet.refresh_from_db()
        assert wallet.balance_fen == i + 1
    source.refresh_from_db()
    assert source.balance_fen == -210
