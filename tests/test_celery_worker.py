"""A real Celery worker (subprocess, Redis broker, the test database) runs a beat job."""
import os
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuthToken
from accounts.services import token_hash, token_issue

from .celery_worker import wait_for, worker_start, worker_stop


@pytest.fixture
def celery_worker_process(transactional_db):
    queue = f"test-{os.getpid()}"
    proc = worker_start(queue)
    try:
        yield queue
    finally:
        worker_stop(proc)


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

    wait_for(lambda: not AuthToken.objects.filter(pk=old.pk).exists(), what="the worker to run the job")
    assert list(AuthToken.objects.values_list("key_hash", flat=True)) == [token_hash(keep)]
