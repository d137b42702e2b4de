"""The commission rows of `make bench` (bench/commissions_bench.py) at a tiny scale, on PostgreSQL:
what the seeds write is consistent (the books balance, the accrual path accrues, every seeded
commission is settled exactly once, the audit passes), and the checks that guard the figures
can fail. No timing is asserted; `make bench` itself is what measures.
"""
from __future__ import annotations

import pytest
from django.db.models import Count, Sum

from bench import commissions_bench as cb
from commissions.models import Commission
from commissions.services.accrual import on_order_paid
from ledger.models import Account, Entry, LedgerTransaction
from ledger.selectors import ledger_audit
from mall import hooks
from mall.models import Order, OrderStatus
from tests.concurrency import run_at_once
from wechat.models import PaymentStatus, WechatPayment


def _balances() -> dict[int, int]:
    return dict(Account.objects.values_list("pk", "balance_fen"))


@pytest.mark.postgres
@pytest.mark.django_db
def test_accrual_pays_each_seeded_order_once_through_the_notification_and_times_the_hook():
    before = list(hooks.order_moment.subscribers(hooks.OrderMoment.PAID))
    seed = cb.accrual_seed(chain="t", orders=5)
    assert (seed["orders"], seed["lines"]) == (5, 2)
    orders = Order.objects.filter(user__username="bench-comm-buyer-t")
    assert orders.count() == 5 and not orders.exclude(status=OrderStatus.PENDING_PAYMENT).exists()
    for order in orders:  # the attributor's snapshot: both levels of the chain
        assert (order.attribution["level1_distributor_id"], order.attribution["level2_distributor_id"]) == (
            seed["level1_id"], seed["level2_id"])
    assert cb.accrual_check(chains=["t"])["check_failed"]  # nothing paid yet: the check says so

    parts = [cb.accrual_pay(chain="t", part=i, parts=2) for i in range(2)]  # the two processes' shares
    assert [p["orders"] for p in parts] == [3, 2]
    for p in parts:
        assert p["errors"] == {}
        assert p["commissions"] == 4 * p["orders"]  # 2 lines × 2 levels
        assert p["accrual_calls"] == p["orders"]
        assert 0 < p["accrual_seconds"] < p["seconds"]
    assert hooks.order_moment.subscribers(hooks.OrderMoment.PAID) == before  # the timer is gone, the order kept
    assert on_order_paid in before

    assert WechatPayment.objects.filter(ref__in=orders.values("no"), status=PaymentStatus.PAID).count() == 5
    assert LedgerTransaction.objects.filter(kind="commission.accrue").count() == 5
    assert dict(Commission.objects.values_list("level").annotate(n=Count("id"))) == {1: 10, 2: 10}
    result = cb.accrual_check(chains=["t", "t"])
    assert not result["check_failed"], result["check"]
    assert "5 of 5 seeded orders paid, 20 commissions" in result["check"]
    again = cb.accrual_pay(chain="t")  # nothing left to pay: nothing accrues twice
    assert (again["orders"], again["commissions"], again["accrual_calls"]) == (0, 0, 0)
    assert Commission.objects.count() == 20

    # The check notices commissions that disagree with the frozen balances.
    Commission.objects.filter(pk=Commission.objects.order_by("pk").first().pk).update(amount_fen=1)
    assert cb.accrual_check(chains=["t"])["check_failed"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_settlement_seed_writes_balanced_books_and_every_commission_settles_once():
    seed = cb.settlement_seed(commissions=2001, beneficiaries=20)
    assert (seed["commissions"], seed["beneficiaries"], seed["lines"], seed["orders"]) == (2001, 20, 1001, 11)
    assert (seed["debtors"], seed["debt_fen"]) == (1, cb.DEBT_FEN)
    mine = Commission.objects.filter(beneficiary__username__startswith="bench-settle-00-")
    assert mine.count() == 2001
    assert set(mine.values_list("status", flat=True)) == {"frozen"}
    assert mine.aggregate(t=Sum("amount_fen"))["t"] == seed["total_fen"]
    assert mine.values("order_item", "level").distinct().count() == 2001
    assert not mine.filter(distributor__user_id__isnull=True).exists()
    assert all(c.distributor.user_id == c.beneficiary_id for c in mine.select_related("distributor")[:50])
    # One accrual posting per order, one entry per beneficiary of the order, as accrual.on_order_paid posts.
    assert LedgerTransaction.objects.filter(kind="commission.accrue").count() == 11
    frozen = dict(Account.objects.filter(kind="user_frozen").values_list("owner_id", "balance_fen"))
    per_user = dict(mine.values_list("beneficiary_id").annotate(t=Sum("amount_fen")))
    assert frozen == per_user
    owed = dict(Account.objects.filter(kind="user_debt").values_list("owner_id", "balance_fen"))
    assert list(owed.values()) == [-cb.DEBT_FEN]  # one debtor, as a reversal after settlement leaves it
    assert ledger_audit()["ok"]
    assert cb.settlement_check(seed=seed)["check_failed"]  # not settled yet: the check says so

    # Small batches: several beneficiaries per batch, some cut by the row limit.
    result = cb.settlement_run(batch_users=3, batch_rows=150)
    assert result["settled"] == 2001 and result["batches"] >= 7 and result["seconds"] > 0
    check = cb.settlement_check(seed=seed)
    assert not check["check_failed"], check["check"]
    assert "2,001 of 2,001 commissions settled, each once" in check["check"]
    wallets = dict(Account.objects.filter(kind="user_wallet").values_list("owner_id", "balance_fen"))
    debts = dict(Account.objects.filter(kind="user_debt").values_list("owner_id", "balance_fen"))
    assert set(debts.values()) == {0}
    assert sum(wallets.values()) == seed["total_fen"] - seed["debt_fen"]
    assert wallets == {u: fen - (cb.DEBT_FEN if u in owed else 0) for u, fen in per_user.items()}  # debt first
    nothing = cb.settlement_run()  # a second run: nothing more
    assert (nothing["settled"], nothing["batches"]) == (0, 0)
    assert LedgerTransaction.objects.filter(kind="commission.settle").count() == result["batches"]
    assert ledger_audit()["ok"]

    with pytest.raises(RuntimeError):  # one seed per tag
        cb.settlement_seed(commissions=10)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_settlements_of_the_seed_settle_each_commission_once():
    seed = cb.settlement_seed(commissions=3001, beneficiaries=30, tag=7)
    results = run_at_once(lambda i: cb.settlement_run(batch_users=2, batch_rows=60)["settled"], 3,
                          domain_errors=False)
    assert sum(results) == 3001
    check = cb.settlement_check(seed=seed)
    assert not check["check_failed"], check["check"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_audit_row_tops_the_books_up_with_balanced_filler_and_audits_them():
    cb.settlement_seed(commissions=200, beneficiaries=4, tag=3)
    balances = _balances()
    have = Entry.objects.count()
    added = cb.entries_top_up(at_least=have + 1000)
    assert added >= 1000 and Entry.objects.count() == have + added
    filler = LedgerTransaction.objects.filter(kind="bench.filler")
    assert not filler.annotate(n=Count("entries"), s=Sum("entries__amount_fen")).exclude(n=2, s=0).exists()
    assert {pk: b for pk, b in _balances().items() if pk in balances} == balances  # nothing moved
    per_account = Entry.objects.filter(transaction__kind="bench.filler").values("account").annotate(
        s=Sum("amount_fen"))
    assert {row["s"] for row in per_account} == {0}
    assert cb.entries_top_up(at_least=have + added) == 0  # enough already

    result = cb.audit_run()
    assert result["ok"] and result["seconds"] > 0
    assert (result["entries"], result["accounts"]) == (Entry.objects.count(), Account.objects.count())

    account = Account.objects.filter(kind="user_frozen").first()
    Account.objects.filter(pk=account.pk).update(balance_fen=account.balance_fen + 1)
    broken = cb.audit_run()  # a balance that disagrees with its entries fails the row
    assert not broken["ok"] and "mismatched_accounts" in broken["report"]
    Account.objects.filter(pk=account.pk).update(balance_fen=account.balance_fen)


RESULTS = {
    "date": "2026-11-23 20:00 UTC", "load_start": "0.5 0.4 0.3", "load_settle": "1.0 0.5 0.3",
    "load_end": "1.2 0.9 0.5", "cores": 2,
    "accrual": [{"name": "single process", "processes": 1, "orders": 500, "commissions": 2000, "seconds": 10.0,
                 "orders_per_s": 50.0, "commissions_per_s": 200.0, "ms_per_order": 20.0,
                 "accrual_ms_per_order": 8.0, "accrual_share": 0.4, "errors": {}, "check": "all good",
                 "check_failed": False}],
    "settle_seed": {"commissions": 1000000, "beneficiaries": 10000, "lines": 500000, "orders": 5000,
                    "total_fen": 258750000, "debtors": 100, "debt_fen": 30000, "seconds": 50.0, "tag": 0},
    "settle": {"settled": 1000000, "batches": 10, "seconds": 25.0, "batch_users": 1000, "batch_rows": 100000,
               "check": "settled once", "check_failed": False},
    "audit": {"ok": True, "seconds": 2.0, "entries": 1025000, "transactions": 5011, "accounts": 30016,
              "process_seconds": 3.0, "filler_entries": 0},
}


def test_the_section_shows_the_figures_and_replaces_only_itself():
    text = cb.section(RESULTS)
    assert text.startswith(cb.SECTION_START) and text.rstrip().endswith(cb.SECTION_END)
    assert "| single process | 1 | 500 | 50 | 200 | 20.0 | 8.0 | 40 % | 0 |" in text
    assert "| 1,000,000 | 10,000 | 10 | 25.0 | 40,000 | met |" in text
    assert "| 1,025,000 | 5,011 | 30,016 | 2.0 | 512,500 | balanced |" in text
    assert cb.failed(RESULTS) == []
    slow = {**RESULTS, "settle": {**RESULTS["settle"], "seconds": 75.0}}
    assert "| **missed** |" in cb.section(slow)
    bad = {**RESULTS, "audit": {**RESULTS["audit"], "ok": False},
           "accrual": [{**RESULTS["accrual"][0], "errors": {"InvalidInput": 2}}]}
    assert cb.failed(bad) == ["accrual single process", "audit"]
    assert "InvalidInput 2" in cb.section(bad) and "**FAILED**" in cb.section(bad)

    document = "# Benchmarks\n\n## HTTP endpoints\n\n| a | b |\n\n## Share-link images\n\n| qr |\n"
    first = cb.splice(document, text)
    assert first.startswith(document.rstrip("\n")) and first.endswith(text)
    second = cb.splice(first + "\n## Later section\n\nkept\n", cb.section(slow))
    assert second.count(cb.SECTION_START) == 1 and "| **missed** |" in second and "| met |" not in second
    assert second.startswith(document.rstrip("\n")) and second.endswith("## Later section\n\nkept\n")
