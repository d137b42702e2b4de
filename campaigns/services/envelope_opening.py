"""Opening a red envelope: the whole pool split fairly into its shares, stored in grab order.

Below envelopes.py and envelope_payments.py (both open envelopes: the owner's request, or the
payment that funds one asked to open when paid), so neither imports the other.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from ..envelope_split import shares_split
from ..models import BackingStatus, EnvelopeBacking, EnvelopeShare, EnvelopeStatus, RedEnvelope, SplitMode
from .envelope_grabs import envelope_gate_warm
from .envelope_state import envelope_move

E = EnvelopeStatus


def envelope_open_locked(env: RedEnvelope, *, actor, rng=None) -> None:
    """The envelope (locked, `funding`) is opened: shares split and stored, `active`."""
    pool = EnvelopeBacking.objects.filter(envelope=env, status=BackingStatus.PAID).aggregate(
        s=Sum("amount_fen"))["s"] or 0
    if pool != env.pool_fen:  # pragma: no cover - the pool moves only with paid backings
        raise RuntimeError(f"envelope {env.pk}: pool {env.pool_fen} != paid backings {pool}")
    rng = rng or secrets.SystemRandom()
    shares = shares_split(pool_fen=pool, count=env.count, mode=env.split, max_share_fen=env.max_share_fen, rng=rng)
    # Best luck: the largest share; several at the largest (a binding maximum) are a draw made
    # now, so that no grab position wins ties more often. Equal envelopes have no best luck.
    best = None
    if env.split == SplitMode.RANDOM:
        top = max(shares)
        best = rng.choice([i for i, amount in enumerate(shares) if amount == top])
    EnvelopeShare.objects.bulk_create(
        [EnvelopeShare(envelope=env, position=i, amount_fen=amount) for i, amount in enumerate(shares)],
        batch_size=2000)
    now = timezone.now()
    envelope_move(env, E.ACTIVE, kind="opened", actor=actor, data={"pool_fen": pool, "count": env.count},
                  fields={"opened_at": now, "expires_at": now + timedelta(hours=env.expires_hours),
                          "best_position": best})
    envelope_id = env.pk
    transaction.on_commit(lambda: envelope_gate_warm(envelope_id=envelope_id))
