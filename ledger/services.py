"""The one way money moves: `ledger_post`. Locks and shards: ledger/locks.py."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import F

from core.errors import InsufficientBalance, InvalidInput

from .locks import account_code, account_get_or_create  # noqa: F401 - the ledger's public API
from .models import Account, Entry, LedgerTransaction

logger = logging.getLogger(__name__)

MAX_ABS_AMOUNT_FEN = 10**15  # a sanity bound far above any real payment


@dataclass(frozen=True)
class Posting:
    """The result of ledger_post: the transaction, and whether this call created it."""

    transaction: LedgerTransaction
    created: bool


def _validate(*, kind: str, idempotency_key: str, legs: Sequence[tuple[Account, int]]) -> None:
    if not kind or len(kind) > 48:
        raise InvalidInput("A posting needs a kind of at most 48 characters.")
    if not idempotency_key or len(idempotency_key) > 160:
        raise InvalidInput("A posting needs an idempotency key of 1 to 160 characters.")
    if len(legs) < 2:
        raise InvalidInput("A posting needs at least two entries.")
    seen: set[int] = set()
    for account, amount in legs:
        if not isinstance(account, Account) or account.pk is None:
            raise InvalidInput("Every entry needs a saved account.")
        if type(amount) is not int:  # no floats, no Decimals, no bools
            raise InvalidInput("Amounts are integer fen.", extra={"amount": repr(amount)})
        if amount == 0:
            raise InvalidInput("An entry may not be zero.")
        if abs(amount) > MAX_ABS_AMOUNT_FEN:
            raise InvalidInput("An entry amount is out of range.", code="amount_too_large")
        if account.pk in seen:
            raise InvalidInput("An account may appear only once in a posting.")
        seen.add(account.pk)
    if sum(amount for _, amount in legs) != 0:
        raise InvalidInput("The entries of a posting must sum to zero.", code="unbalanced")


BULK_UPDATE_FROM = 8  # legs; below this, one F() UPDATE per account is as cheap


def _bulk(ordered: Sequence[tuple[Account, int]]) -> bool:
    """Many legs on PostgreSQL: the statements below take two arrays (ids, amounts) instead
    of one row or parameter per leg (a settlement batch touches thousands of accounts)."""
    return connection.vendor == "postgresql" and len(ordered) >= BULK_UPDATE_FROM


def _lock_accounts(ordered: Sequence[tuple[Account, int]]) -> dict[int, tuple[bool, int, str]]:
    """Lock the legs' accounts in id order; {id: (allow_negative, balance_fen, code)}."""
    ids = [account.pk for account, _ in ordered]
    if _bulk(ordered):
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, allow_negative, balance_fen, code FROM {Account._meta.db_table} "  # noqa: S608 - fixed
                "WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
                [ids],
            )
            return {pk: (allow_negative, balance, code) for pk, allow_negative, balance, code in cursor.fetchall()}
    rows = Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {pk: rest for pk, *rest in rows.values_list("pk", "allow_negative", "balance_fen", "code")}


def _insert_entries(txn: LedgerTransaction, ordered: Sequence[tuple[Account, int]]) -> None:
    if _bulk(ordered):
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Entry._meta.db_table} (transaction_id, account_id, amount_fen, created_at) "  # noqa: S608
                "SELECT %s, v.id, v.amount, %s FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, amount)",
                [txn.pk, txn.created_at, [a.pk for a, _ in ordered], [amount for _, amount in ordered]],
            )
        return
    Entry.objects.bulk_create(
        [Entry(transaction=txn, account_id=account.pk, amount_fen=amount) for account, amount in ordered]
    )


def _apply_balances(ordered: Sequence[tuple[Account, int]]) -> None:
    """balance += amount for every leg, relative to the stored value (never read-modify-write).
    Many legs on PostgreSQL: ONE `UPDATE … FROM unnest(ids, amounts)` statement; otherwise an
    F() update per account."""
    if _bulk(ordered):
        table = Account._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS a SET balance_fen = a.balance_fen + v.delta "  # noqa: S608 - fixed table name
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, delta) WHERE a.id = v.id",
                [[account.pk for account, _ in ordered], [amount for _, amount in ordered]],
            )
        return
    for account, amount in ordered:
        Account.objects.filter(pk=account.pk).update(balance_fen=F("balance_fen") + amount)


def ledger_post(
    *,
    kind: str,
    idempotency_key: str,
    legs: Sequence[tuple[Account, int]],
    memo: str = "",
    cause_type: str = "",
    cause_id: str | int = "",
    created_by=None,
) -> Posting:
    """Post one balanced transaction.

    - The entries must sum to zero; each is a non-zero integer number of fen.
    - Accounts are locked in id order (no deadlocks between postings), checked, and
      moved with F() updates; the CHECK constraint is the last line for non-negative ones.
    - A repeated idempotency key returns the first transaction and moves nothing.
    - Any failure writes nothing.
    """
    _validate(kind=kind, idempotency_key=idempotency_key, legs=legs)
    existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return Posting(transaction=existing, created=False)

    ordered = sorted(legs, key=lambda leg: leg[0].pk)
    try:
        with transaction.atomic():
            locked = _lock_accounts(ordered)
            if len(locked) != len(ordered):
                raise InvalidInput("Every entry needs an account that exists.")
            # A concurrent posting with the same key may have committed while we waited for the locks.
            existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return Posting(transaction=existing, created=False)
            for account, amount in ordered:
                allow_negative, balance, code = locked[account.pk]
                if not allow_negative and balance + amount < 0:
                    raise InsufficientBalance(extra={"account": code, "balance_fen": balance, "needed_fen": -amount})
            txn = LedgerTransaction.objects.create(
                kind=kind,
                idempotency_key=idempotency_key,
                memo=memo[:255],
                cause_type=cause_type,
                cause_id=str(cause_id),
                created_by=created_by,
            )
            _insert_entries(txn, ordered)
            _apply_balances(ordered)
    except IntegrityError as exc:
        existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:  # lost a race on the unique key: the winner's transaction stands
            return Posting(transaction=existing, created=False)
        if "ledger_account_non_negative" in str(exc):
            raise InsufficientBalance() from exc
        raise
    logger.info("ledger.post kind=%s key=%s txn=%s", kind, idempotency_key, txn.pk)
    return Posting(transaction=txn, created=True)
