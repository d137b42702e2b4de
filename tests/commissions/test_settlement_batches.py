"""Settlement batches by beneficiary: every matured commission of a batch's people is settled in
one posting (one wallet line per person and run), a person with more rows than a batch takes
is finished by the next batches, and debt is paid first across batches. Both databases
(PostgreSQL: one statement per batch; elsewhere the ORM)."""
from __future__ import annotations

import pytest
from django.db.models import Count, Sum

from commissions.models import Commission
from commissions.services.settlement import commissions_settle
from ledger.models import Account, AccountKind, Entry, LedgerTransaction
from ledger.services import account_get_or_create, ledger_post
from tests.factories import DistributorFactory, UserFactory, distribution_settings_set
from tests.mall.orders_helpers import make_sku

from .accrual_helpers import attributed_order, matured, pay
from .wallet_helpers import balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    """Four level-1 distributors under one level-2 distributor, three paid orders each (10 % and 5 %
    of 1000 fen): every level-1 distributor earns 3 × 100, the level-2 distributor 12 × 50."""
    distribution_settings_set(default_level1_bps=1000, default_level2_bps=500, levels=2, freeze_days=7)
    top = DistributorFactory()
    mids = [DistributorFactory(inviter=top) for _ in range(4)]
    n = 0
    for mid in mids:
        for _ in range(3):
            n += 1
            order = attributed_order(UserFactory(), [(make_sku(price_fen=1000), 1)], level1=mid, level2=top)
            pay(order, txn=f"42000000000000000000{n:08d}")
            matured(order)
    return mids, top


def settle_lines(user) -> list[int]:
    """The user's wallet and debt amounts moved by settlements, oldest first."""
    return list(Entry.objects.filter(transaction__kind="commission.settle", account__owner=user,
                                     account__kind__in=[AccountKind.USER_WALLET, AccountKind.USER_DEBT])
                .order_by("transaction_id", "account__kind").values_list("amount_fen", flat=True))


def test_each_person_gets_one_settlement_line_per_run(team):
    mids, top = team
    assert commissions_settle(batch_users=2) == {"settled": 24, "batches": 3}
    for person, earned in [(m.user, 300) for m in mids] + [(top.user, 600)]:
        assert settle_lines(person) == [earned]
        assert (balance(person, "user_wallet"), balance(person, "user_frozen")) == (earned, 0)
    postings = LedgerTransaction.objects.filter(kind="commission.settle").annotate(n=Count("entries"))
    assert sorted(p.n for p in postings) == [2, 4, 4]  # frozen and wallet legs of 2, 2 and 1 people
    assert set(Commission.objects.values_list("status", flat=True)) == {"settled"}


def test_more_rows_than_a_batch_takes_are_finished_by_the_next_batches_debt_first(team):
    mids, top = team
    debt = account_get_or_create(kind=AccountKind.USER_DEBT, owner=top.user)
    expense = account_get_or_create(kind=AccountKind.COMMISSION_EXPENSE, ref="comm00")
    ledger_post(kind="test.debt", idempotency_key="debt:top", legs=[(debt, -400), (expense, 400)])
    assert commissions_settle(batch_users=1, batch_rows=5) == {"settled": 24, "batches": 7}  # top: 5 + 5 + 2
    debt_lines = list(Entry.objects.filter(transaction__kind="commission.settle", account=debt)
                      .order_by("transaction_id").values_list("amount_fen", flat=True))
    wallet_lines = list(Entry.objects.filter(transaction__kind="commission.settle", account__owner=top.user,
                                             account__kind=AccountKind.USER_WALLET)
                        .order_by("transaction_id").values_list("amount_fen", flat=True))
    assert (debt_lines, wallet_lines) == ([250, 150], [100, 100])  # 250 to the debt; 150 + 100; 100
    assert (balance(top.user, "user_debt"), balance(top.user, "user_wallet")) == (0, 200)
    assert [balance(m.user, "user_wallet") for m in mids] == [300] * 4
    assert Commission.objects.filter(status="settled").aggregate(n=Count("id"), t=Sum("amount_fen")) == {
        "n": 24, "t": 4 * 300 + 600}
    assert commissions_settle() == {"settled": 0, "batches": 0}
    assert Account.objects.filter(kind=AccountKind.USER_FROZEN, balance_fen__gt=0).count() == 0
