"""A web process killed mid-grab: after the Redis gate handed out a position (and recorded the
pair) and before the claim committed in PostgreSQL. Redis then believes the user has a share
the database never gave them. `campaigns.reconcile_envelope_gates` (envelope_gate_reconcile)
forgets such pairs and gives their positions back: the user gets a share on their next grab,
the position goes out, nothing is doubled, the books balance."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from campaigns.models import EnvelopeShare
from campaigns.services import envelope_gate as gates
from campaigns.services import envelope_grabs
from core.jobs import job_run
from tests.campaigns.envelope_helpers import assert_envelope_books, grabbed, opened
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def _grabber_killed_after_the_gate(envelope_id: int, user_id: int) -> int:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base",
           "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "REDIS_URL": settings.REDIS_URL, "CELERY_BROKER_URL": settings.REDIS_URL, "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "tests.campaigns.envelope_grabber_process", str(envelope_id),
                             str(user_id)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("GATED "), (line, proc.stderr.read()[-2000:])
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        return int(line.split()[1])
    finally:
        proc.stdout.close()
        proc.stderr.close()


def test_a_grab_killed_between_redis_and_postgresql_is_reconciled():
    env = opened(total_fen=3_000, count=3)
    envelope_grabs.envelope_gate_warm(envelope_id=env.pk)
    victim = UserFactory()
    position = _grabber_killed_after_the_gate(env.pk, victim.pk)
    g = gates.gate()
    assert gates.gate_pairs(g, envelope_id=env.pk) == {victim.pk: position}
    assert not EnvelopeShare.objects.filter(envelope=env, user__isnull=False).exists()
    # The hole: Redis tells the victim they have a share they do not have.
    with pytest.raises(envelope_grabs.AlreadyGrabbed):
        envelope_grabs.envelope_grab(user_id=victim.pk, envelope_id=env.pk)
    others = [UserFactory() for _ in range(3)]
    for user in others[:2]:
        envelope_grabs.envelope_grab(user_id=user.pk, envelope_id=env.pk)
    with pytest.raises(envelope_grabs.EnvelopeEmpty):  # the lost position went to nobody
        envelope_grabs.envelope_grab(user_id=others[2].pk, envelope_id=env.pk)
    assert envelope_grabs.envelope_gate_reconcile(envelope_id=env.pk, settle_seconds=0.2) == 1
    assert envelope_grabs.envelope_gate_reconcile(envelope_id=env.pk, settle_seconds=0.2) == 0  # once
    grab = envelope_grabs.envelope_grab(user_id=victim.pk, envelope_id=env.pk)
    assert grab.rank == position + 1  # the position given back, to the head of the list
    with pytest.raises(envelope_grabs.EnvelopeEmpty):
        envelope_grabs.envelope_grab(user_id=others[2].pk, envelope_id=env.pk)
    assert set(grabbed(env)) == {victim.pk, others[0].pk, others[1].pk}
    assert sum(grabbed(env).values()) == 3_000
    from campaigns.services.envelope_posting import envelope_grabs_post

    envelope_grabs_post(envelope_id=env.pk)
    assert_envelope_books(env)


def test_reconciling_never_undoes_a_grab_that_committed(monkeypatch):
    """Pairs the database has are left alone; a pair whose claim commits during the settle wait
    is left alone too (the look is repeated after it)."""
    env = opened(total_fen=2_000, count=4)
    done = [UserFactory() for _ in range(2)]
    for user in done:
        envelope_grabs.envelope_grab(user_id=user.pk, envelope_id=env.pk)
    late = UserFactory()
    g = gates.gate()
    outcome, position, _ = gates.gate_grab(g, envelope_id=env.pk, user_id=late.pk)  # gated, not yet claimed
    assert outcome == gates.TAKEN

    def commit_during_the_wait(seconds):
        EnvelopeShare.objects.filter(envelope=env, position=position).update(user=late)

    monkeypatch.setattr(envelope_grabs.time, "sleep", commit_during_the_wait)
    assert envelope_grabs.envelope_gate_reconcile(envelope_id=env.pk, settle_seconds=1) == 0
    assert gates.gate_pairs(g, envelope_id=env.pk)[late.pk] == position
    assert job_run(name="campaigns.reconcile_envelope_gates")["fixed"] == 0
