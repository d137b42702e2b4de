"""A real Celery worker (subprocess, Redis broker, the test database) runs a beat job."""
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import AuthToken
from accounts.services import token_hash, token_issue

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def celery_worker_process(transactional_db):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "LOG_LEVEL": "WARNING",
    }
    queue = f"test-{os.getpid()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-Q", queue, "-l", "warning",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"{queue}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        yield queue
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_worker_runs_a_job_sent_through_the_broker(celery_worker_process, user):
    from config.celery import app

    token_issue(user=user)
    old = AuthToken.objects.get()
    keep = token_issue(user=user)
    AuthToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=3))

    app.send_task("core.run_job", args=["accounts.purge_expired_tokens"], queue=celery_worker_process)

    deadline = time.monotonic() + 60  # a bound on the wait, not a speed check
    while AuthToken.objects.filter(pk=old.pk).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not AuthToken.objects.filter(pk=old.pk).exists(), "the worker did not run the job"
    assert list(AuthToken.objects.values_list("key_hash", flat=True)) == [token_hash(keep)]
