"""Property: whatever sequence of postings is tried, the books balance and no protected account dips below zero."""
from __future__ import annotations

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InsufficientBalance
from ledger.models import Account, AccountKind, Entry
from ledger.selectors import ledger_audit
from ledger.services import account_get_or_create, ledger_post

# (from index, to index, amount, key index): keys repeat on purpose to exercise idempotency
moves = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 300), st.integers(0, 25)),
    min_size=1,
    max_size=25,
)


class _Rollback(Exception):
    pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=moves)
def test_random_postings_keep_the_books(db, moves):
    try:
        with transaction.atomic():  # each example starts from empty books
            _run(moves)
            raise _Rollback
    except _Rollback:
        pass


def _run(moves):
    from tests.factories import UserFactory

    accounts = [
        account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL),  # may go negative: the source of money
        account_get_or_create(kind=AccountKind.PLATFORM_CASH),  # may go negative
        account_get_or_create(kind=AccountKind.USER_WALLET, owner=UserFactory()),
        account_get_or_create(kind=AccountKind.USER_FROZEN, owner=UserFactory()),
        account_get_or_create(kind=AccountKind.CAMPAIGN_ESCROW, ref="crowdfund:1"),
    ]
    expected = {a.pk: 0 for a in accounts}
    used_keys: dict[str, tuple[int, int, int]] = {}
    for src, dst, amount, key_no in moves:
        if src == dst:
            continue
        key = f"prop:{key_no}"
        source, target = accounts[src], accounts[dst]
        try:
            posting = ledger_post(kind="test.prop", idempotency_key=key, legs=[(source, -amount), (target, amount)])
        except InsufficientBalance:
            assert not source.allow_negative
            assert expected[source.pk] - amount < 0  # refused only when it really would go negative
            assert key not in used_keys
            continue
        if key in used_keys:
            assert posting.created is False  # a repeat moves nothing
        else:
            assert posting.created is True
            assert source.allow_negative or expected[source.pk] - amount >= 0
            used_keys[key] = (source.pk, target.pk, amount)
            expected[source.pk] -= amount
            expected[target.pk] += amount
    report = ledger_audit()
    assert report["ok"], report
    balances = dict(Account.objects.filter(pk__in=expected).values_list("pk", "balance_fen"))
    assert balances == expected
    for account in accounts:
        if not account.allow_negative:
            assert balances[account.pk] >= 0
    assert Entry.objects.count() == 2 * len(used_keys)
