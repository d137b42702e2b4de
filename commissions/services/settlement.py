"""Settlement: matured frozen commissions become withdrawable, and the wallet debt.

`commissions_settle` (beat job `commissions.settle`) takes frozen commissions whose
`settles_at` has passed, in batches of whole beneficiaries: a batch is the matured
commissions of up to BATCH_USERS beneficiaries (those of the oldest matured rows), at most
BATCH_ROWS rows, picked with FOR UPDATE SKIP LOCKED (two runs at once take disjoint rows; a
commission is settled once because only `frozen` rows are picked and they leave that state
in the same transaction), summed per beneficiary, and moved in ONE ledger transaction per
batch: frozen → the wallet, paying off any debt first. Batching by beneficiary keeps the
posting small — one or two legs per person, however many commissions matured — so a
backlog of a million commissions costs a few postings, and a person's wallet shows one
settlement line per run rather than one per few thousand rows.

On PostgreSQL one statement picks, locks and marks a batch's rows and returns only the sums
per beneficiary (nothing per row travels to Python); elsewhere the ORM does the same.

Debt: reversing a commission whose money was already settled takes it back from the wallet
as far as the wallet has it; the rest becomes debt (`user_debt`, a balance ≤ 0) that future
settlements pay off first and that blocks withdrawals. Nothing is silently forgiven.

Lock order: every account a posting touches is locked up front in one id-ordered statement
(ledger/locks.py, the order `ledger_post` uses), so no money path can deadlock on another.
"""
from __future__ import annotations

import uuid
from collections import defaultdict

from django.db import connection, transaction
from django.utils import timezone

from core.transitions import transition_set, transition_sources
from ledger.locks import user_accounts_locked
from ledger.models import AccountKind
from ledger.services import ledger_post

from ..models import COMMISSION_TRANSITIONS, Commission, CommissionStatus
from ..notifications import notify_commissions_settled

BATCH_USERS = 1000  # beneficiaries per batch
BATCH_ROWS = 100_000  # commissions per batch at most (a beneficiary with more is finished by the next batches)
USER_SCAN = 10  # the oldest BATCH_USERS × USER_SCAN matured rows are read to find a batch's beneficiaries
# The accounts a settlement or a reversal of settled money posts to (locked up front, together).
USER_ACCOUNT_KINDS = (AccountKind.USER_FROZEN, AccountKind.USER_WALLET, AccountKind.USER_DEBT)


def _batch_users(*, now, users: int) -> list[int]:
    """Up to `users` beneficiaries of the oldest matured frozen commissions (through the
    (status, settles_at) index; rows locked by a concurrent run may be among them)."""
    oldest = (Commission.objects.filter(status=CommissionStatus.FROZEN, settles_at__lte=now)
              .order_by("settles_at").values_list("beneficiary_id", flat=True)[:users * USER_SCAN])
    return list(dict.fromkeys(oldest))[:users]


def _pick_and_mark_postgresql(*, now, user_ids: list[int], limit: int) -> tuple[int, dict[int, int], str]:
    """PostgreSQL: ONE statement picks the users' matured frozen commissions (at most `limit`,
    FOR UPDATE SKIP LOCKED), marks them settled and returns their money summed per
    beneficiary. Returns (how many, {user_id: fen}, "first id-last id")."""
    table = connection.ops.quote_name(Commission._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH picked AS (
                    SELECT id FROM {table}
                    WHERE beneficiary_id = ANY(%s::bigint[]) AND status = %s AND settles_at <= %s
                    ORDER BY beneficiary_id LIMIT %s FOR UPDATE SKIP LOCKED
                ), settled AS (
                    UPDATE {table} AS c SET status = %s, settled_at = %s
                    WHERE c.id = ANY(ARRAY(SELECT id FROM picked)) AND c.status = ANY(%s)
                    RETURNING c.id, c.beneficiary_id, c.amount_fen - c.reversed_fen AS net
                )
                SELECT beneficiary_id, sum(net)::bigint, count(*), min(id), max(id)
                FROM settled GROUP BY beneficiary_id""",  # noqa: S608 - our own table name
            [user_ids, CommissionStatus.FROZEN, now, limit, CommissionStatus.SETTLED, now,
             sorted(transition_sources(COMMISSION_TRANSITIONS, CommissionStatus.SETTLED))],
        )
        rows = cursor.fetchall()
    if not rows:
        return 0, {}, ""
    return (sum(r[2] for r in rows), {user_id: fen for user_id, fen, *_ in rows},
            f"{min(r[3] for r in rows)}-{max(r[4] for r in rows)}")


def _pick_and_mark(*, now, user_ids: list[int], limit: int) -> tuple[int, dict[int, int], str]:
    """Other databases: the same with the ORM (rows to Python, then one UPDATE)."""
    rows = list(
        Commission.objects.select_for_update(skip_locked=True)
        .filter(beneficiary_id__in=user_ids, status=CommissionStatus.FROZEN, settles_at__lte=now)
        .order_by("beneficiary_id", "pk")
        .values_list("pk", "beneficiary_id", "amount_fen", "reversed_fen")[:limit]
    )
    if not rows:
        return 0, {}, ""
    per_user: dict[int, int] = defaultdict(int)
    for _, user_id, amount, reversed_fen in rows:
        per_user[user_id] += amount - reversed_fen
    pks = [pk for pk, *_ in rows]
    transition_set(Commission.objects.filter(pk__in=pks), CommissionStatus.SETTLED, table=COMMISSION_TRANSITIONS,
                   fields={"settled_at": now})
    return len(rows), dict(per_user), f"{min(pks)}-{max(pks)}"


def _settle_batch(*, now, users: int = BATCH_USERS, rows: int = BATCH_ROWS) -> int:
    user_ids = _batch_users(now=now, users=users)
    if not user_ids:
        return 0
    pick = _pick_and_mark_postgresql if connection.vendor == "postgresql" else _pick_and_mark
    with transaction.atomic():
        count, per_user, id_range = pick(now=now, user_ids=user_ids, limit=rows)
        if not count:  # all of them locked by a concurrent run, which settles them
            return 0
        per_user = {u: v for u, v in per_user.items() if v > 0}
        if per_user:
            accounts = user_accounts_locked(user_ids=per_user, kinds=USER_ACCOUNT_KINDS)
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
                        memo=f"{count} commissions settled", cause_type="commissions.settle", cause_id=id_range)
            notify_commissions_settled(user_amounts=per_user)  # template messages, after commit
        return count


def commissions_settle(*, now=None, batch_users: int = BATCH_USERS, batch_rows: int = BATCH_ROWS) -> dict:
    """Settle every matured frozen commission, batch after batch."""
    now = now or timezone.now()
    settled = batches = 0
    while True:
        count = _settle_batch(now=now, users=batch_users, rows=batch_rows)
        if not count:
            break
        settled += count
        batches += 1
    return {"settled": settled, "batches": batches}


def settled_reversal_legs(*, per_user: dict[int, int]) -> list:
    """Legs taking reversed settled money back: from the wallet as far as it goes, the rest
    as debt. (The caller adds the commission-expense leg.)"""
    accounts = user_accounts_locked(user_ids=per_user, kinds=USER_ACCOUNT_KINDS)
    legs = []
    for user_id, amount in sorted(per_user.items()):
        wallet = accounts[(user_id, AccountKind.USER_WALLET)]
        take = min(amount, wallet.balance_fen)
        if take:
            legs.append((wallet, -take))
        if amount - take:
            legs.append((accounts[(user_id, AccountKind.USER_DEBT)], -(amount - take)))
    return legs
