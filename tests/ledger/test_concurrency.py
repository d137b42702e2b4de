"""Concurrent postings on PostgreSQL: real row locks, real races."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from core.errors import InsufficientBalance
from ledger.models import Account, AccountKind, Entry, LedgerTransaction
from ledger.selectors import ledger_audit
from ledger.services import account_get_or_create, ledger_post
from tests.concurrency import run_at_once
from tests.factories import UserFactory

from .ledger_helpers import fund

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 50
POSTINGS_PER_THREAD = 4


def _in_threads(count: int, work) -> list:
    """Run work(i) in `count` threads started together; return [(i, result)]. Any exception in
    a thread (a DomainError too) fails the test (tests/concurrency.py run_at_once)."""
    return list(enumerate(run_at_once(work, count, domain_errors=False)))


def test_fifty_threads_of_transfers_keep_the_books():
    users = [UserFactory() for _ in range(4)]
    wallets = [account_get_or_create(kind=AccountKind.USER_WALLET, owner=u) for u in users]
    escrow = account_get_or_create(kind=AccountKind.CAMPAIGN_ESCROW, ref="crowdfund:1")
    cash = account_get_or_create(kind=AccountKind.PLATFORM_CASH)  # may go negative
    accounts = [*wallets, escrow, cash]
    for wallet, amount in zip(wallets, [30, 50, 80, 0], strict=True):
        if amount:
            fund(wallet, amount)
    start = {a.pk: Account.objects.get(pk=a.pk).balance_fen for a in accounts}
    protected = [a for a in accounts if not a.allow_negative]

    def work(i: int):
        rng = random.Random(i)
        done = []
        for n in range(POSTINGS_PER_THREAD):
            if n == 0 and i % 5 == 0:
                # some money comes in from the platform while others spend
                src, dst = cash, rng.choice(protected)
            else:
                src, dst = rng.sample(protected, 2)
            amount = rng.randint(1, 40)
            key = f"t{i}:{n}"
            try:
                posting = ledger_post(kind="test.transfer", idempotency_key=key, legs=[(src, -amount), (dst, amount)])
            except InsufficientBalance:
                done.append((key, None))
                continue
            assert posting.created
            done.append((key, (src.pk, dst.pk, amount)))
        return done

    results = _in_threads(THREADS, work)
    errors = [r for _, r in results if isinstance(r, BaseException)]
    assert not errors, errors

    succeeded = [move for _, done in results for key, move in done if move is not None]
    refused = [key for _, done in results for key, move in done if move is None]
    expected = dict(start)
    for src, dst, amount in succeeded:
        expected[src] -= amount
        expected[dst] += amount

    report = ledger_audit()
    assert report["ok"], report
    balances = dict(Account.objects.filter(pk__in=expected).values_list("pk", "balance_fen"))
    assert balances == expected
    for account in protected:
        assert balances[account.pk] >= 0
    # the small balances make many postings fail, and some succeed: both paths ran
    assert refused and succeeded
    assert LedgerTransaction.objects.filter(kind="test.transfer").count() == len(succeeded)
    assert not LedgerTransaction.objects.filter(idempotency_key__in=refused).exists()
    assert Entry.objects.filter(transaction__kind="test.transfer").count() == 2 * len(succeeded)


def test_same_key_twenty_times_at_once_posts_once():
    wallet = account_get_or_create(kind=AccountKind.USER_WALLET, owner=UserFactory())
    other = account_get_or_create(kind=AccountKind.USER_WALLET, owner=UserFactory())
    fund(wallet, 100)

    def work(i: int):
        return ledger_post(kind="test.once", idempotency_key="pay-once", legs=[(wallet, -60), (other, 60)])

    results = _in_threads(20, work)
    errors = [r for _, r in results if isinstance(r, BaseException)]
    assert not errors, errors
    created = Counter(r.created for _, r in results)
    assert created == {True: 1, False: 19}
    assert len({r.transaction.pk for _, r in results}) == 1
    assert LedgerTransaction.objects.filter(idempotency_key="pay-once").count() == 1
    assert Account.objects.get(pk=wallet.pk).balance_fen == 40  # a second move would have been refused or gone to -20
    assert Account.objects.get(pk=other.pk).balance_fen == 60
    assert ledger_audit()["ok"]


def test_same_key_with_different_accounts_at_once_posts_once():
    """No shared row lock to queue on: the unique key decides, and the losers get the winner's transaction."""
    outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
    wallets = [account_get_or_create(kind=AccountKind.USER_WALLET, owner=UserFactory()) for _ in range(10)]
    sources = [account_get_or_create(kind=AccountKind.CAMPAIGN_ESCROW, ref=f"crowdfund:{i}") for i in range(10)]
    for source in sources:
        ledger_post(kind="test.seed", idempotency_key=f"seed:{source.pk}", legs=[(outside, -10), (source, 10)])

    def work(i: int):
        return ledger_post(kind="test.race", idempotency_key="one-key", legs=[(sources[i], -10), (wallets[i], 10)])

    results = _in_threads(10, work)
    errors = [r for _, r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert Counter(r.created for _, r in results) == {True: 1, False: 9}
    winner = LedgerTransaction.objects.get(idempotency_key="one-key")
    assert {r.transaction.pk for _, r in results} == {winner.pk}
    moved = [w for w in wallets if Account.objects.get(pk=w.pk).balance_fen == 10]
    assert len(moved) == 1
    assert sum(Account.objects.get(pk=s.pk).balance_fen for s in sources) == 90
    assert ledger_audit()["ok"]
