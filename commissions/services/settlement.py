"""Settlement: matured frozen commissions become withdrawable, and the wallet debt.

`commissions_settle` (beat job `commissions.settle`) takes frozen commissions whose
`settles_at` has passed, in batches: rows picked with FOR UPDATE SKIP LOCKED (two runs at
once take disjoint batches; a commission is settled once because only `frozen` rows are
picked and they leave that state in the same transaction), summed per beneficiary, and moved
in ONE ledger transaction per batch: frozen → the wallet, paying off any debt first.

Debt: reversing a commission whose money was already settled takes it back from the wallet
as far as the wallet has it; the rest becomes debt (`user_debt`, a balance ≤ 0) that future
settlements pay off first and that blocks withdrawals. Nothing is silently forgiven.

Lock order: every account a posting touches is locked up front in id order (the same order
`ledger_post` uses), so settlements and reversals cannot deadlock on each other.
"""
from __future__ import annotations

import uuid
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from ledger.models import NON_NEGATIVE_KINDS, Account, AccountKind
from ledger.services import account_code, ledger_post

from ..models import Commission, CommissionStatus
from ..notifications import notify_commissions_settled

BATCH = 2000
USER_ACCOUNT_KINDS = (AccountKind.USER_FROZEN, AccountKind.USER_WALLET, AccountKind.USER_DEBT)


def user_accounts_locked(*, user_ids) -> dict[tuple[int, str], Account]:
    """The users' frozen, wallet and debt accounts, created if missing (one query to find them,
    one bulk insert for the missing), then locked in id order."""
    user_ids = set(user_ids)
    have = set(Account.objects.filter(owner_id__in=user_ids, kind__in=USER_ACCOUNT_KINDS)
               .values_list("owner_id", "kind"))
    missing = [(u, k) for u in sorted(user_ids) for k in USER_ACCOUNT_KINDS if (u, k) not in have]
    if missing:
        Account.objects.bulk_create(
            [Account(code=account_code(kind=k, owner_id=u), kind=k, owner_id=u,
                     allow_negative=k not in NON_NEGATIVE_KINDS) for u, k in missing],
            ignore_conflicts=True,  # created concurrently: the unique code keeps one
        )
    locked = Account.objects.select_for_update().filter(owner_id__in=list(user_ids), kind__in=USER_ACCOUNT_KINDS)
    return {(a.owner_id, a.kind): a for a in locked.order_by("pk")}


def _settle_batch(*, now) -> int:
    with transaction.atomic():
        rows = list(
            Commission.objects.select_for_update(skip_locked=True)
            .filter(status=CommissionStatus.FROZEN, settles_at__lte=now)
            .order_by("pk")
            .values_list("pk", "beneficiary_id", "amount_fen", "reversed_fen")[:BATCH]
        )
        if not rows:
            return 0
        per_user: dict[int, int] = defaultdict(int)
        for _, user_id, amount, reversed_fen in rows:
            per_user[user_id] += amount - reversed_fen
        per_user = {u: v for u, v in per_user.items() if v > 0}
        if per_user:
            accounts = user_accounts_locked(user_ids=per_user)
            legs = []
            for user_id, amount in sorted(per_user.items()):
                debt = accounts[(user_id, AccountKind.USER_DEBT)]
                payoff = min(amount, -debt.balance_fen)
                legs.append((accounts[(user_id, AccountKind.USER_FROZEN)], -amount))
                if payoff:
                    legs.append((debt, payoff))
                if amount - payoff:
                    legs.append((accounts[(user_id, AccountKind.USER_WALLET)], amount - payoff))
            ledger_post(kind="commission.settle", idempotency_key=f"commission.settle:{uuid.uuid4().hex}", legs=legs,
                        memo=f"{len(rows)} commissions settled", cause_type="commissions.settle",
                        cause_id=f"{rows[0][0]}-{rows[-1][0]}")
            notify_commissions_settled(user_amounts=per_user)  # template messages, after commit
        Commission.objects.filter(pk__in=[pk for pk, *_ in rows]).update(
            status=CommissionStatus.SETTLED, settled_at=now
        )
        return len(rows)


def commissions_settle(*, now=None) -> dict:
    """Settle every matured frozen commission, batch after batch."""
    now = now or timezone.now()
    settled = batches = 0
    while True:
        count = _settle_batch(now=now)
        if not count:
            break
        settled += count
        batches += 1
    return {"settled": settled, "batches": batches}


def settled_reversal_legs(*, per_user: dict[int, int]) -> list:
    """Legs taking reversed settled money back: from the wallet as far as it goes, the rest
    as debt. (The caller adds the commission-expense leg.)"""
    accounts = user_accounts_locked(user_ids=per_user)
    legs = []
    for user_id, amount in sorted(per_user.items()):
        wallet = accounts[(user_id, AccountKind.USER_WALLET)]
        take = min(amount, wallet.balance_fen)
        if take:
            legs.append((wallet, -take))
        if amount - take:
            legs.append((accounts[(user_id, AccountKind.USER_DEBT)], -(amount - take)))
    return legs
