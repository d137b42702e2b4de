"""Ledger-account locks in one global order, and the shard rule for hot platform accounts.

The rule that keeps money paths free of deadlocks between each other: **a database
transaction that moves money locks every ledger account it will touch up front, in ONE
call, in account-id order — before its first posting** (`accounts_lock`,
`user_accounts_locked`). `ledger_post` locks its legs in id order too; once everything is
held up front, its locks are re-entrant no-ops. A transaction that locks a second batch
later (a lower id after a higher one) can deadlock against one that does the opposite —
that is what a payment (commission expense and the beneficiary's frozen account, then
platform cash/revenue) and a refund (platform cash/revenue, then the beneficiary's
accounts and commission expense) used to do.

Layers: the ledger knows no app. A higher app that adds postings to a lower app's money
transaction tells the lower app *which accounts* it will touch through a hook of that app
(`mall.hooks.register_order_accounts`), so the lower app can take all locks at once.

Sharding: a platform account that every payment touches (cash, sales revenue, commission
expense) would serialise all payments on one row, so it is split into `shards` accounts
chosen by a key (the order number): `account_shard`.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from core.errors import InvalidInput

from .models import NON_NEGATIVE_KINDS, Account, AccountKind


def account_code(*, kind: str, owner_id: int | None = None, ref: str = "") -> str:
    if owner_id is not None:
        return f"user:{owner_id}:{kind}"
    if ref:
        return f"{ref}:{kind}"
    return f"platform:{kind}"


def account_get_or_create(*, kind: str, owner=None, ref: str = "") -> Account:
    """The account of `kind` for a user (owner), for a thing (ref) or for the platform."""
    if kind not in AccountKind.values:
        raise InvalidInput(f"Unknown account kind {kind!r}.")
    owner_id = owner.pk if owner is not None else None
    code = account_code(kind=kind, owner_id=owner_id, ref=ref)
    account = Account.objects.filter(code=code).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return Account.objects.create(
                code=code, kind=kind, owner_id=owner_id, ref=ref, allow_negative=kind not in NON_NEGATIVE_KINDS
            )
    except IntegrityError:  # created concurrently
        return Account.objects.get(code=code)


def shard_ref(*, prefix: str, key: str, shards: int) -> str:
    """The ref of the shard `key` falls in: "<prefix><NN>", NN = key mod shards (a key that
    is not a number: shard 0). One order's payment, refunds and commissions all use it."""
    shard = int(key) % max(int(shards), 1) if key.isdigit() else 0
    return f"{prefix}{shard:02d}"


def account_shard(*, kind: str, prefix: str, key: str, shards: int) -> Account:
    """The sharded platform account of `kind` for `key` (e.g. the mall's cash for an order)."""
    return account_get_or_create(kind=kind, ref=shard_ref(prefix=prefix, key=key, shards=shards))


def accounts_lock(*, accounts_or_ids: Iterable[Account | int]) -> dict[int, Account]:
    """Lock the accounts (Account rows or ids) with ONE `SELECT … ORDER BY id FOR UPDATE`;
    {id: the locked account, as stored now}. Duplicates are fine; missing ids are absent."""
    ids = sorted({a.pk if isinstance(a, Account) else int(a) for a in accounts_or_ids})
    if not ids:
        return {}
    return {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def user_accounts(*, user_ids: Iterable[int], kinds: Iterable[str]) -> None:
    """Create the users' accounts of `kinds` that are missing (one query to find them, one
    bulk insert; a concurrent creation is ignored — the unique code keeps one). No locks."""
    user_ids, kinds = set(user_ids), tuple(kinds)
    if not user_ids:
        return
    have = set(Account.objects.filter(owner_id__in=user_ids, kind__in=kinds).values_list("owner_id", "kind"))
    missing = [(u, k) for u in sorted(user_ids) for k in kinds if (u, k) not in have]
    if missing:
        Account.objects.bulk_create(
            [Account(code=account_code(kind=k, owner_id=u), kind=k, owner_id=u,
                     allow_negative=k not in NON_NEGATIVE_KINDS) for u, k in missing],
            ignore_conflicts=True,
        )


def user_account_ids(*, user_ids: Iterable[int], kinds: Iterable[str]) -> list[int]:
    """The ids of the users' accounts of `kinds`, created if missing (no locks): what a hook
    returns so that the caller can lock them with everything else in one `accounts_lock`."""
    user_ids, kinds = set(user_ids), tuple(kinds)
    user_accounts(user_ids=user_ids, kinds=kinds)
    return list(Account.objects.filter(owner_id__in=user_ids, kind__in=kinds).values_list("pk", flat=True))


def user_accounts_locked(*, user_ids: Iterable[int], kinds: Iterable[str]) -> dict[tuple[int, str], Account]:
    """The users' accounts of `kinds`, created if missing, then locked in id order with one
    statement; {(user id, kind): account}. Cheap for thousands of users (a settlement batch)."""
    user_ids, kinds = set(user_ids), tuple(kinds)
    user_accounts(user_ids=user_ids, kinds=kinds)
    locked = (Account.objects.select_for_update().filter(owner_id__in=list(user_ids), kind__in=kinds)
              .only("pk", "owner_id", "kind", "balance_fen"))  # what postings need
    return {(a.owner_id, a.kind): a for a in locked.order_by("pk")}
