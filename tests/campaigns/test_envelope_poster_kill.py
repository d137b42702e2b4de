"""The poster of grabbed red-envelope money killed mid-batch (issue 12: "a test that kills the
poster mid-batch and shows nothing lost or doubled").

campaigns/services/envelope_posting.py envelope_grabs_post moves the money of a batch of
grabbed, unposted shares escrow → wallets in ONE many-leg ledger posting and marks those shares
with it, in one transaction. Here it runs in a separate process on the test database
(envelope_poster_process.py) and is SIGKILLed: at random moments while it posts small batches,
and for sure inside its transaction (held open with pg_sleep right after its ledger posting,
and right after the shares were marked). After every kill, from the outside: the escrow holds
the unposted grabbed shares plus the ungrabbed ones, every wallet exactly its posted share, no
share posted twice, no posting without its shares, the ledger audits clean
(envelope_poster_helpers.assert_books). Then the poster runs to the end: everything posted
exactly once."""
from __future__ import annotations

import os
import random
import time

import pytest

from campaigns.models import EnvelopeShare, EnvelopeStatus, RedEnvelope
from campaigns.services import envelope_grabs
from campaigns.services.envelope_posting import envelope_grabs_post
from tests.campaigns.envelope_helpers import assert_envelope_books, opened
from tests.campaigns.envelope_poster_helpers import (
    assert_books,
    backend_pid,
    finish,
    kill,
    poster_start,
    read_until,
)
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SHARES, GRABBED = 200, 160
RANDOM_KILLS = 8
RANDOM_BATCH = 2  # shares per batch: many batches, so a random kill lands among them


@pytest.fixture
def no_poster_after_grabs(monkeypatch):
    """Grabs queue no poster: their money waits in the escrow for the process under test."""
    calls = []
    monkeypatch.setattr(envelope_grabs, "envelope_grabs_post_schedule", lambda **kw: calls.append(kw))
    return calls


def _grabbed_envelope(n_grabs: int = GRABBED):
    env = opened(total_fen=SHARES * 1_000, count=SHARES, seed=11)
    grabbers = {}
    for _ in range(n_grabs):
        user = UserFactory()
        grabbers[user.pk] = envelope_grabs.envelope_grab(user_id=user.pk, envelope_id=env.pk).amount_fen
    assert EnvelopeShare.objects.filter(envelope=env, user__isnull=False, posting__isnull=True).count() == n_grabs
    return env, grabbers


def _post_the_rest_and_check(env, grabbers: dict[int, int]) -> None:
    proc = poster_start(env.pk, "batches", 5000)
    finish(proc)
    counts = assert_books(env, grabbers)
    assert counts["posted"] == counts["grabbed"] == len(grabbers)
    # the rest of the shares go out too, and the envelope ends empty with balanced books
    for _ in range(SHARES - len(grabbers)):
        user = UserFactory()
        grabbers[user.pk] = envelope_grabs.envelope_grab(user_id=user.pk, envelope_id=env.pk).amount_fen
    while envelope_grabs_post(envelope_id=env.pk):
        pass
    counts = assert_books(env, grabbers)
    assert counts["posted"] == SHARES
    assert RedEnvelope.objects.get(pk=env.pk).status == EnvelopeStatus.EMPTY
    assert_envelope_books(env)
    assert sum(grabbers.values()) == SHARES * 1_000


def test_the_poster_killed_at_random_moments_loses_and_doubles_nothing(no_poster_after_grabs):
    env, grabbers = _grabbed_envelope()
    assert no_poster_after_grabs and assert_books(env, grabbers)["posted"] == 0
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    inside, progress = 0, []
    for attempt in range(RANDOM_KILLS):
        proc = poster_start(env.pk, "batches", RANDOM_BATCH)
        ready = read_until(proc, "READY")
        time.sleep(rng.uniform(0, 0.3))
        lines = ready + kill(proc, backend_pid(ready))
        if "END" in lines:  # it finished before the kill: nothing left to kill it in
            break
        inside += lines[-1] == "BEGIN"  # killed between BEGIN and DONE: in (or entering) a batch
        counts = assert_books(env, grabbers)
        progress.append(counts["posted"])
        assert progress == sorted(progress), (seed, attempt, progress)  # what was posted stays posted
    assert len(progress) >= RANDOM_KILLS // 2, ("most kills should land before the end", seed, progress)
    assert inside, ("no random kill landed inside a batch", seed, progress)
    _post_the_rest_and_check(env, grabbers)


@pytest.mark.parametrize("mode", ["hold_after_ledger", "hold_after_mark"])
def test_the_poster_killed_inside_its_transaction_posts_nothing(no_poster_after_grabs, mode):
    env, grabbers = _grabbed_envelope()
    before = assert_books(env, grabbers)
    proc = poster_start(env.pk, mode, 5000)
    ready = read_until(proc, "READY")
    read_until(proc, "HELD")  # its posting (and, after_mark, the shares' marks) written, not committed
    try:
        assert assert_books(env, grabbers) == before  # the books balance at every moment, seen from outside
        # another poster meanwhile skips the shares the held one has locked: no double posting
        assert envelope_grabs_post(envelope_id=env.pk) == 0
    finally:
        kill(proc, backend_pid(ready))
    assert assert_books(env, grabbers) == before  # rolled back whole: nothing lost, nothing half-posted
    assert before["posted"] == before["postings"] == 0
    _post_the_rest_and_check(env, grabbers)


def test_a_poster_killed_after_some_batches_keeps_them_and_posts_each_share_once(no_poster_after_grabs):
    """Killed at the first BEGIN after its third committed batch: exactly three batches kept."""
    env, grabbers = _grabbed_envelope()
    proc = poster_start(env.pk, "batches", 7)
    ready = read_until(proc, "READY")
    for _ in range(3):
        read_until(proc, "DONE")
    read_until(proc, "BEGIN")
    kill(proc, backend_pid(ready))
    counts = assert_books(env, grabbers)
    assert 21 <= counts["posted"] <= 28 and counts["postings"] in (3, 4), counts
    _post_the_rest_and_check(env, grabbers)
