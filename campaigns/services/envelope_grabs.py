"""Grabbing red-envelope shares under a flood, and moving the grabbed money to the wallets.

* The database is the truth: a share row has at most one grabber, a user at most one share
  of an envelope (unique constraint), and a grab is answered only once it has committed.
* With Redis (the default cache), the gate (envelope_gate.py) answers first: one atomic Lua
  script checks the user, takes the next free position and records the pair. "Already
  grabbed" and "empty" — most of a flood — are answered from Redis without the database. A
  position it hands out is claimed with ONE conditional UPDATE of that share row; if the row
  was taken meanwhile (the database path ran while Redis was down, or Redis was rebuilt) the
  claim is forgotten and the next position taken.
* Without Redis: in one transaction, the user's share is looked for, the next free share is
  locked with `SELECT … FOR UPDATE SKIP LOCKED` (concurrent grabbers take different rows
  instead of queueing on one) and claimed. SQLite serialises writers, so it is correct there
  too.
* The grabber follows the envelope's owner (accounts follows, source `red_envelope`) in the
  grab's transaction.
* Money: the escrow is one hot row, so a grab does not post. `envelope_grabs_post` moves the
  money of every grabbed, unposted share of an envelope in ONE many-leg posting (escrow → each
  grabber's wallet) and marks those shares with it, in one transaction: a poster killed mid-way
  posts nothing and marks nothing, and the next run takes the same shares. It runs after a
  grab commits (at most one queued per envelope per second when Redis is there) and from the
  beat job `campaigns.post_envelope_grabs`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.services import follow_ensure
from core.errors import Conflict, NotFound

from ..models import EnvelopeShare, EnvelopeStatus, RedEnvelope
from ..tasks import envelope_grabs_post_task
from . import envelope_gate as gates

logger = logging.getLogger(__name__)

E = EnvelopeStatus
CLAIM_ATTEMPTS = 8
POST_BATCH = 5000
FOLLOW_SOURCE = "red_envelope"


class AlreadyGrabbed(Conflict):
    code = "already_grabbed"
    default_message = "You already have a share of this red envelope."


class EnvelopeEmpty(Conflict):
    code = "envelope_empty"
    default_message = "Every share of this red envelope has been grabbed."


class EnvelopeExpired(Conflict):
    code = "envelope_expired"
    default_message = "This red envelope is no longer open."


@dataclass(frozen=True)
class Grab:
    share_id: int
    amount_fen: int
    rank: int
    is_best: bool | None  # known once the envelope is empty


def _envelope_read(envelope_id) -> RedEnvelope:
    env = None
    if type(envelope_id) is int:
        env = RedEnvelope.objects.filter(pk=envelope_id).only(
            "pk", "owner_id", "status", "expires_at", "count", "best_position").first()
    if env is None:
        raise NotFound("Red envelope not found.")
    return env


def _envelope_open(envelope_id, *, user_id: int) -> RedEnvelope:
    """The envelope if it can be grabbed now; else why not (a user who has a share of it is
    told so rather than that it is empty or over)."""
    env = _envelope_read(envelope_id)
    if env.status == E.ACTIVE and env.expires_at is not None and env.expires_at > timezone.now():
        return env
    if EnvelopeShare.objects.filter(envelope_id=env.pk, user_id=user_id).exists():
        raise AlreadyGrabbed()
    if env.status == E.EMPTY:
        raise EnvelopeEmpty()
    if env.status in (E.FUNDING, E.PENDING_PAYMENT):  # the contract's code, the right words
        raise EnvelopeExpired("This red envelope is not open yet.", extra={"status": env.status})
    raise EnvelopeExpired(extra={"status": env.status})


def envelope_grab(*, user_id: int, envelope_id: int) -> Grab:
    """One share for user `user_id` (an active user: the caller authenticated them), at most one
    per envelope; AlreadyGrabbed / EnvelopeEmpty / EnvelopeExpired (409) otherwise."""
    g = gates.gate()
    if g is not None:
        try:
            return _grab_gated(g, user_id=user_id, envelope_id=envelope_id)
        except _GateDown:
            logger.warning("envelope %s: Redis gate unreachable, grabbing through the database", envelope_id)
    env = _envelope_open(envelope_id, user_id=user_id)
    return _grab_database(env, user_id=user_id)


def envelope_grab_refusal(*, user_id: int, envelope_id: int) -> Conflict | None:
    """Read only, from the Redis gate: the refusal `envelope_grab` would give this user now
    without the database — AlreadyGrabbed or EnvelopeEmpty — or None (it would hand out a share,
    or only the database can tell). Changes nothing."""
    g = gates.gate()
    if g is None:
        return None
    try:
        outcome = gates.gate_peek(g, envelope_id=envelope_id, user_id=user_id)
    except Exception:  # noqa: BLE001 - Redis down: only the database can tell
        return None
    return _refusal(outcome)


def envelope_grab_refusal_queue(pipe, *, user_id: int, envelope_id: int):
    """`envelope_grab_refusal` in someone else's round trip: queue the question on a Redis
    pipeline of the default cache (core.cache.cache_pipeline) and call the returned function
    with `pipe.execute(raise_on_error=False)`'s results (or None if that failed)."""
    g = gates.gate()
    if g is None:
        return lambda results: None
    index = gates.gate_peek_queue(g, pipe, envelope_id=envelope_id, user_id=user_id)

    def read(results) -> Conflict | None:
        if results is None:
            return None
        if isinstance(results[index], Exception):  # e.g. Redis lost the script: ask on its own
            return envelope_grab_refusal(user_id=user_id, envelope_id=envelope_id)
        return _refusal(int(results[index]))

    return read


def _refusal(outcome: int) -> Conflict | None:
    if outcome == gates.ALREADY:
        return AlreadyGrabbed()
    if outcome == gates.EMPTY:
        return EnvelopeEmpty()
    return None


class _GateDown(Exception):
    pass


def _gate_call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except Exception as exc:  # noqa: BLE001 - Redis down or flushed mid-call: the database path answers
        if isinstance(exc, (Conflict, NotFound)):
            raise
        raise _GateDown() from exc


def _grab_gated(g, *, user_id: int, envelope_id: int) -> Grab:
    for _ in range(CLAIM_ATTEMPTS):
        outcome, position, left = _gate_call(gates.gate_grab, g=g, envelope_id=envelope_id, user_id=user_id)
        if outcome == gates.NEEDS_BUILD:
            env = _envelope_read(envelope_id)
            if env.status not in (E.ACTIVE, E.EMPTY):  # not grabbable any more: no gate to build
                _envelope_open(envelope_id, user_id=user_id)
            _gate_call(_gate_build, g=g, env=env)  # empty ones too: their flood is answered by Redis
            continue
        if outcome == gates.ALREADY:
            raise AlreadyGrabbed()
        if outcome == gates.EMPTY:
            raise EnvelopeEmpty()
        try:
            grab = _claim(envelope_id, user_id=user_id, position=position, left=left)
        except AlreadyGrabbed:  # the database knows another share of theirs: this one is still free
            _gate_call(gates.gate_give_back, g=g, envelope_id=envelope_id, position=position)
            raise
        except (EnvelopeExpired, EnvelopeEmpty, NotFound):  # over: the next ask gets the database's answer
            _gate_call(gates.gate_forget, g=g, envelope_id=envelope_id, user_id=user_id, position=position)
            raise
        if grab is not None:
            return grab
        _gate_call(gates.gate_forget, g=g, envelope_id=envelope_id, user_id=user_id, position=position)
    # Redis kept handing out positions the database had given away: let the database decide.
    return _grab_database(_envelope_open(envelope_id, user_id=user_id), user_id=user_id)


def _gate_build(*, g, env: RedEnvelope) -> None:
    rows = list(EnvelopeShare.objects.filter(envelope_id=env.pk, returned=False).values_list("position", "user_id"))
    free = sorted(p for p, u in rows if u is None)
    taken = {u: p for p, u in rows if u is not None}
    ttl = int((env.expires_at - timezone.now()).total_seconds()) + 3600 if env.expires_at else 3600
    gates.gate_build(g, envelope_id=env.pk, free=free, taken=taken, ttl_seconds=ttl)


def envelope_gate_warm(*, envelope_id: int) -> None:
    """Build the gate right after the envelope opened, so the first flood finds it ready."""
    g = gates.gate()
    if g is None:
        return
    try:
        _gate_build(g=g, env=_envelope_read(envelope_id))
    except Exception:  # noqa: BLE001 - the first grab builds it instead
        logger.warning("envelope %s: could not build the Redis gate at opening", envelope_id)


def envelope_gate_reconcile(*, envelope_id: int, settle_seconds: float = 2.0) -> int:
    """Forget the gate's pairs the database does not have, and give their positions back.

    A grab records (user, position) in Redis before its claim commits; a web process killed in
    between (or a claim that failed on the way) leaves a pair the database never saw: the user
    would be told "already grabbed" without a share, and the position would go to nobody until
    the envelope's end. A pair whose share is still free in the database is looked at again
    after `settle_seconds` (a claim in flight commits within that); still free then, the pair is
    forgotten and the position put back at the head of the list. Safe at any moment: the
    database is the truth (a late claim of a given-back position is refused there, and a user
    who does have a share meets the unique constraint). Returns how many pairs were fixed."""
    g = gates.gate()
    if g is None:
        return 0
    pairs = gates.gate_pairs(g, envelope_id=envelope_id)
    if not pairs:
        return 0

    def not_in_database(candidates: dict[int, int]) -> dict[int, int]:
        have = set(EnvelopeShare.objects.filter(envelope_id=envelope_id, user_id__in=list(candidates))
                   .values_list("user_id", "position"))
        return {u: p for u, p in candidates.items() if (u, p) not in have}

    stale = not_in_database(pairs)
    if not stale:
        return 0
    time.sleep(settle_seconds)
    stale = not_in_database(stale)
    free = set(EnvelopeShare.objects.filter(envelope_id=envelope_id, position__in=list(stale.values()),
                                            user__isnull=True, returned=False).values_list("position", flat=True))
    fixed = 0
    for user_id, position in stale.items():
        gates.gate_forget(g, envelope_id=envelope_id, user_id=user_id, position=position)
        if position in free:
            gates.gate_give_back(g, envelope_id=envelope_id, position=position)
        fixed += 1
    if fixed:
        logger.warning("envelope %s: the gate had %s grab(s) the database never committed: forgotten, positions "
                       "given back", envelope_id, fixed)
    return fixed


def envelope_gates_reconcile_due(*, settle_seconds: float = 2.0) -> dict:
    """Beat job campaigns.reconcile_envelope_gates: `envelope_gate_reconcile` for every envelope
    open now."""
    now = timezone.now()
    ids = list(RedEnvelope.objects.filter(status=E.ACTIVE, expires_at__gt=now).values_list("pk", flat=True))
    fixed = sum(envelope_gate_reconcile(envelope_id=i, settle_seconds=settle_seconds) for i in ids)
    return {"envelopes": len(ids), "fixed": fixed}


# The claim of a position the gate handed out, on PostgreSQL: ONE statement, in autocommit (one
# round trip, one commit). The share is taken only while the envelope is active and not past its
# lifetime and the share is neither grabbed nor returned; the grabber follows the owner in the
# same statement (data-modifying CTEs all run, and commit or fail, together); the unique
# constraint on (envelope, user) turns a second share of one user into an IntegrityError.
_CLAIM_SQL = """
WITH c AS (
    UPDATE {share} s SET {s_user} = %(user)s, {s_at} = %(now)s
    FROM {env} e
    WHERE s.{s_env} = %(envelope)s AND s.{s_pos} = %(position)s AND s.{s_user} IS NULL AND NOT s.{s_ret}
      AND e.{e_pk} = s.{s_env} AND e.{e_status} = %(active)s AND e.{e_exp} > %(now)s
    RETURNING s.{s_pk}, s.{s_amount}, s.{s_pos}, e.{e_owner}, e.{e_best}
), f AS (
    INSERT INTO {follow} ({f_from}, {f_to}, {f_source}, {f_at})
    SELECT %(user)s, c.{e_owner}, %(source)s, %(now)s FROM c WHERE c.{e_owner} <> %(user)s
    ON CONFLICT DO NOTHING
)
SELECT {s_pk}, {s_amount}, {s_pos}, {e_owner}, {e_best} FROM c
"""


def _claim_sql() -> str:
    from accounts.models import Follow

    def col(model, name):
        return connection.ops.quote_name(model._meta.get_field(name).column)

    q = connection.ops.quote_name
    return _CLAIM_SQL.format(
        share=q(EnvelopeShare._meta.db_table), env=q(RedEnvelope._meta.db_table), follow=q(Follow._meta.db_table),
        s_pk=col(EnvelopeShare, "id"), s_user=col(EnvelopeShare, "user"), s_at=col(EnvelopeShare, "grabbed_at"),
        s_env=col(EnvelopeShare, "envelope"), s_pos=col(EnvelopeShare, "position"),
        s_ret=col(EnvelopeShare, "returned"), s_amount=col(EnvelopeShare, "amount_fen"),
        e_pk=col(RedEnvelope, "id"), e_status=col(RedEnvelope, "status"), e_exp=col(RedEnvelope, "expires_at"),
        e_owner=col(RedEnvelope, "owner"), e_best=col(RedEnvelope, "best_position"),
        f_from=col(Follow, "follower"), f_to=col(Follow, "followee"), f_source=col(Follow, "source"),
        f_at=col(Follow, "created_at"),
    )  # fmt: skip


_claim_sql_text: str | None = None


def _claim(envelope_id: int, *, user_id: int, position: int, left: int) -> Grab | None:
    """Claim share `position` (handed out by the gate, `left` more to hand out) for the user in
    the database; None when the database gave it away meanwhile (the caller forgets it in Redis
    and takes the next one). Raises why not when the envelope cannot be grabbed any more."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        global _claim_sql_text
        if _claim_sql_text is None:
            _claim_sql_text = _claim_sql()
        params = {"user": user_id, "now": timezone.now(), "envelope": envelope_id, "position": position,
                  "active": E.ACTIVE, "source": FOLLOW_SOURCE}
        try:
            with connection.cursor() as cursor:
                cursor.execute(_claim_sql_text, params)
                row = cursor.fetchone()
        except IntegrityError:  # the database knows a share of this user that Redis had forgotten
            raise AlreadyGrabbed() from None
        if row is None:
            _envelope_open(envelope_id, user_id=user_id)  # raises if it is over; else the share was taken
            return None
        share_id, amount_fen, share_position, _owner_id, best_position = row
        envelope_grabs_post_schedule(envelope_id=envelope_id)  # committed already (autocommit)
        return _answer_for(envelope_id, share_id=share_id, amount_fen=amount_fen, position=share_position,
                           best_position=best_position, maybe_empty=left == 0)
    env = _envelope_open(envelope_id, user_id=user_id)
    now = timezone.now()
    try:
        with transaction.atomic():
            claimed = EnvelopeShare.objects.filter(envelope_id=env.pk, position=position, user__isnull=True,
                                                   returned=False).update(user_id=user_id, grabbed_at=now)
            if not claimed:
                if EnvelopeShare.objects.filter(envelope_id=env.pk, user_id=user_id).exists():
                    raise AlreadyGrabbed()
                return None
            share = EnvelopeShare.objects.only("pk", "amount_fen", "position").get(envelope_id=env.pk,
                                                                                  position=position)
            _after_grab(env, user_id=user_id)
    except IntegrityError:  # the database knows a share of this user that Redis had forgotten
        raise AlreadyGrabbed() from None
    return _answer(env, share)


def _grab_database(env: RedEnvelope, *, user_id: int) -> Grab:
    for attempt in range(3):
        try:
            with transaction.atomic():
                if EnvelopeShare.objects.filter(envelope_id=env.pk, user_id=user_id).exists():
                    raise AlreadyGrabbed()
                qs = EnvelopeShare.objects.filter(envelope_id=env.pk, user__isnull=True, returned=False)
                if connection.features.has_select_for_update_skip_locked:
                    qs = qs.select_for_update(skip_locked=True)
                share = qs.order_by("position").only("pk", "amount_fen", "position").first()
                if share is not None:
                    EnvelopeShare.objects.filter(pk=share.pk).update(user_id=user_id, grabbed_at=timezone.now())
                    _after_grab(env, user_id=user_id)
        except IntegrityError:  # the same user grabbing at once from two requests
            raise AlreadyGrabbed() from None
        if share is not None:
            return _answer(env, share)
        # Nothing unlocked: either empty, or every free share is held by a grab in flight
        # (which may yet roll back). Look again shortly before saying empty.
        if not EnvelopeShare.objects.filter(envelope_id=env.pk, user__isnull=True, returned=False).exists():
            break
        time.sleep(0.01 * (attempt + 1))
    raise EnvelopeEmpty()


def _after_grab(env: RedEnvelope, *, user_id: int) -> None:
    """In the grab's transaction: the grabber follows the owner; the posting is queued."""
    follow_ensure(follower_id=user_id, followee_id=env.owner_id, source=FOLLOW_SOURCE)
    envelope_id = env.pk
    transaction.on_commit(lambda: envelope_grabs_post_schedule(envelope_id=envelope_id))


def _answer(env: RedEnvelope, share: EnvelopeShare) -> Grab:
    return _answer_for(env.pk, share_id=share.pk, amount_fen=share.amount_fen, position=share.position,
                       best_position=env.best_position, maybe_empty=True)


def _answer_for(envelope_id: int, *, share_id: int, amount_fen: int, position: int, best_position: int | None,
                maybe_empty: bool) -> Grab:
    """The grab's answer; once nothing is left to grab, whether this share had the best luck.
    `maybe_empty` False (the gate still had positions to hand out) spares the look."""
    best = None
    if maybe_empty and best_position is not None and not EnvelopeShare.objects.filter(
            envelope_id=envelope_id, user__isnull=True, returned=False).exists():
        best = position == best_position
    return Grab(share_id=share_id, amount_fen=amount_fen, rank=position + 1, is_best=best)


def envelope_grabs_post_schedule(*, envelope_id: int) -> None:
    """Queue the poster for this envelope, at most one queued per envelope with Redis: a grab that
    finds one queued (the marker is set) leaves its money to it — the task clears the marker
    before it reads, so it sees every grab that committed before the marker was found set."""
    g = gates.gate()
    if g is not None:
        try:
            if not g.client.set(gates.post_marker_key(envelope_id), "1", nx=True, px=10_000):
                return  # one is queued already; it will take this grab too
        except Exception:  # noqa: BLE001 - without the marker, queue it anyway (posting is idempotent)
            logger.warning("envelope %s: no Redis marker for the poster; queueing it anyway", envelope_id)
        envelope_grabs_post_task.apply_async(args=[envelope_id], countdown=1)
        return
    envelope_grabs_post_task.delay(envelope_id)


