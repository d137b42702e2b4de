"""Periodic jobs: listed, run by hand, scheduled for beat, run through the Celery task."""
import pytest
from django.core.management import CommandError, call_command

from core.jobs import job_list
from core.tasks import run_job_task


def test_run_job_list_names_every_registered_job(capsys):
    call_command("run_job", "--list")
    out = capsys.readouterr().out
    names = {job.name for job in job_list()}
    assert {"ledger.audit", "accounts.purge_expired_tokens", "api.purge_idempotency_records"} <= names
    for name in names:
        assert name in out


@pytest.mark.django_db
def test_run_job_runs_the_ledger_audit(capsys):
    call_command("run_job", "ledger.audit")
    assert '"ok": true' in capsys.readouterr().out


def test_run_job_unknown_name_fails():
    with pytest.raises(CommandError, match="unknown job"):
        call_command("run_job", "no.such.job")


@pytest.mark.django_db
def test_sync_beat_schedule_writes_periodic_tasks():
    from django_celery_beat.models import PeriodicTask

    call_command("sync_beat_schedule")
    call_command("sync_beat_schedule")  # twice: no duplicates
    tasks = {t.name: t for t in PeriodicTask.objects.all()}
    assert set(tasks) == {job.name for job in job_list()}
    assert tasks["ledger.audit"].task == "core.run_job"
    assert tasks["ledger.audit"].args == '["ledger.audit"]'


@pytest.mark.django_db
def test_purge_expired_tokens_job_deletes_only_old_tokens(user):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import AuthToken
    from accounts.services import token_issue

    token_issue(user=user)
    token_issue(user=user)
    old = AuthToken.objects.order_by("pk").first()
    AuthToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=2))
    run_job_task.delay("accounts.purge_expired_tokens")  # eager in tests
    assert list(AuthToken.objects.values_list("pk", flat=True)) == [AuthToken.objects.get().pk]
    assert not AuthToken.objects.filter(pk=old.pk).exists()
