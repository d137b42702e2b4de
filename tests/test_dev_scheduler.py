"""core/dev_scheduler.py: the periodic jobs under `make run` (manage.py serve_dev)."""

import threading
import time

import pytest
from django.core.management import CommandError, call_command

from core.dev_scheduler import JobScheduler, _did_something
from core.jobs import Job, job_list


def _wait(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_each_job_runs_after_the_first_delay_and_then_on_its_schedule():
    calls = {"fast": 0, "slow": 0}
    jobs = [
        Job(name="fast", func=lambda: calls.__setitem__("fast", calls["fast"] + 1), schedule_seconds=0, description=""),
        Job(
            name="slow",
            func=lambda: calls.__setitem__("slow", calls["slow"] + 1),
            schedule_seconds=3600,
            description="",
        ),
    ]
    scheduler = JobScheduler(first_delay=0.05, tick=0.01, jobs=jobs)
    scheduler.start()
    try:
        assert _wait(lambda: calls["fast"] >= 3)
    finally:
        scheduler.stop()
    assert not scheduler.is_alive()
    assert calls["slow"] == 1  # once after the first delay, not again within the hour


def test_nothing_runs_before_the_first_delay_and_stop_ends_the_thread_at_once():
    ran = []
    jobs = [Job(name="j", func=lambda: ran.append(1), schedule_seconds=60, description="")]
    scheduler = JobScheduler(first_delay=30, tick=0.01, jobs=jobs)
    scheduler.start()
    time.sleep(0.1)
    started = time.monotonic()
    scheduler.stop()
    assert time.monotonic() - started < 2
    assert ran == [] and not scheduler.is_alive()


def test_a_failing_job_is_counted_and_the_others_go_on():
    done = threading.Event()

    def boom():
        raise RuntimeError("job failed")

    jobs = [
        Job(name="boom", func=boom, schedule_seconds=0, description=""),
        Job(name="ok", func=done.set, schedule_seconds=0, description=""),
    ]
    scheduler = JobScheduler(first_delay=0, tick=0.01, jobs=jobs)
    scheduler.start()
    try:
        assert done.wait(5)
        assert _wait(lambda: scheduler.failures.get("boom", 0) >= 2)
    finally:
        scheduler.stop()
    assert scheduler.runs["ok"] >= 1


@pytest.mark.django_db(transaction=True)
def test_the_registered_jobs_run_on_the_real_database():
    """The real registry, once each, in the scheduler's own thread and connection."""
    names = {job.name for job in job_list()}
    assert {"distributors.flush_click_counters", "commissions.settle"} <= names
    scheduler = JobScheduler(first_delay=0, tick=0.01)
    scheduler.start()
    try:
        assert _wait(lambda: set(scheduler.runs) == names, timeout=60)
    finally:
        scheduler.stop()
    assert scheduler.failures == {}


def test_only_results_with_something_done_are_logged():
    assert not _did_something({"settled": 0, "batches": 0})
    assert _did_something({"links": 3, "page_views": 0})
    assert not _did_something({"ok": True, "accounts": 3, "transactions": 2})
    assert _did_something({"ok": False, "accounts": 3})
    assert not _did_something(None)


def test_serve_dev_is_runserver_with_the_jobs():
    from django.core.management.commands.runserver import Command as Runserver

    from core.management.commands.serve_dev import Command

    assert issubclass(Command, Runserver)
    with pytest.raises(CommandError, match="not a valid port"):  # it parses runserver's arguments
        call_command("serve_dev", "not-a-port:x")
