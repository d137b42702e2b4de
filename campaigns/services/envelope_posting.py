"""Moving grabbed red-envelope money from the escrow to the wallets, in set-based batches
(see envelope_grabs.py for why a grab itself does not post), and marking an envelope empty.

This module imports no task: campaigns/tasks.py runs `envelope_grabs_post` from here, and the
grab service (which queues that task) imports tasks.py. No import cycle.
"""
from __future__ import annotations

import logging

from django.db import connection, transaction
from django.utils import timezone

from ledger.locks import accounts_lock, user_account_ids
from ledger.models import AccountKind
from ledger.services import ledger_post

from ..models import EnvelopeShare, EnvelopeStatus
from ..notifications import notify_envelope_result
from . import envelope_gate as gates
from .envelope_state import envelope_escrow_account, envelope_lock, envelope_move

logger = logging.getLogger(__name__)

E = EnvelopeStatus
POST_BATCH = 5000


def envelope_gate_drop_after_commit(*, envelope_id: int) -> None:
    def drop():
        g = gates.gate()
        if g is not None:
            try:
                gates.gate_drop(g, envelope_id=envelope_id)
            except Exception:  # noqa: BLE001 - the gate's keys expire on their own
                logger.warning("envelope %s: could not drop the Redis gate", envelope_id)

    transaction.on_commit(drop)



def envelope_post_marker_clear(*, envelope_id: int) -> None:
    """The queued poster starts: later grabs queue another (see envelope_grabs_post_schedule);
    the marker's 10 s expiry covers a task that was lost."""
    g = gates.gate()
    if g is not None:
        try:
            g.client.delete(gates.post_marker_key(envelope_id))
        except Exception:  # noqa: BLE001 - it expires on its own; the beat job posts what is left
            logger.warning("envelope %s: could not clear the poster marker", envelope_id)


def envelope_grabs_post(*, envelope_id: int) -> int:
    """Move the money of every grabbed, unposted share of the envelope (up to POST_BATCH) from
    its escrow to the grabbers' wallets in ONE posting, and mark those shares with it; the
    number of shares posted. Shares whose grab has not committed yet are skipped (next run)."""
    with transaction.atomic():
        qs = EnvelopeShare.objects.filter(envelope_id=envelope_id, user__isnull=False, posting__isnull=True)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        rows = list(qs.order_by("pk").values_list("pk", "user_id", "amount_fen")[:POST_BATCH])
        if not rows:
            return 0
        escrow = envelope_escrow_account(envelope_id=envelope_id)
        wallet_ids = user_account_ids(user_ids={u for _, u, _ in rows}, kinds=[AccountKind.USER_WALLET])
        locked = accounts_lock(accounts_or_ids=[escrow.pk, *wallet_ids])
        wallets = {a.owner_id: a for a in locked.values() if a.kind == AccountKind.USER_WALLET}
        total = sum(amount for _, _, amount in rows)
        legs = [(escrow, -total)] + [(wallets[u], amount) for _, u, amount in rows]
        posting = ledger_post(
            kind="campaigns.envelope_grabs",
            idempotency_key=f"campaigns.envelope_grabs:{envelope_id}:{rows[0][0]}:{rows[-1][0]}:{len(rows)}",
            legs=legs, memo=f"envelope {envelope_id}: {len(rows)} grabbed shares to the wallets",
            cause_type="campaigns.red_envelope", cause_id=envelope_id)
        EnvelopeShare.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(posting=posting.transaction)
    # In a transaction of its own, after the posting's locks are gone: the envelope row is locked
    # before the escrow everywhere else (a late top-up's payment, the expiry), so locking it
    # here while holding the escrow could deadlock with them.
    with transaction.atomic():
        _empty_maybe(envelope_id)
    return len(rows)


def _empty_maybe(envelope_id: int) -> None:
    """Every share grabbed and posted: the envelope is `empty` (who had the best luck is known)."""
    if EnvelopeShare.objects.filter(envelope_id=envelope_id).filter(
            user__isnull=True, returned=False).exists() or EnvelopeShare.objects.filter(
            envelope_id=envelope_id, user__isnull=False, posting__isnull=True).exists():
        return
    env = envelope_lock(envelope_id=envelope_id)
    if env.status == E.ACTIVE:
        best = (EnvelopeShare.objects.filter(envelope_id=envelope_id, position=env.best_position)
                .values("user_id", "amount_fen").first() if env.best_position is not None else None)
        envelope_move(env, E.EMPTY, kind="empty", fields={"closed_at": timezone.now()},
                      data={"best_user_id": best["user_id"], "best_fen": best["amount_fen"]} if best else {})
        notify_envelope_result(envelope_id=envelope_id)
        # The gate stays until the envelope's lifetime ends: the flood after the last share is
        # answered "empty" / "already grabbed" from Redis without the database.


def envelopes_grabs_post_due() -> dict:
    """Beat job: post the grabbed money of every envelope that has unposted grabs."""
    ids = list(EnvelopeShare.objects.filter(user__isnull=False, posting__isnull=True)
               .values_list("envelope_id", flat=True).distinct()[:500])
    posted = sum(envelope_grabs_post(envelope_id=pk) for pk in ids)
    return {"envelopes": len(ids), "shares": posted}
