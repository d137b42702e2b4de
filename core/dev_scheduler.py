"""The periodic jobs in development: a thread that runs every registered job on its schedule.

In production Celery beat sends `core.run_job` tasks to the workers (`make beat`, `make worker`).
`make run` has no beat: `manage.py serve_dev` (scripts/run.sh) starts this scheduler inside the
process that serves the requests, so that jobs see the same local cache as the views when Redis
is not running (the click counters live there then), and click counts, settlement, expiries
and payouts move on a development machine as they do in production.

Each job runs first `first_delay` seconds after the start (so a fresh `make run` shows its
effects within a minute), then every `schedule_seconds`. A job that raises is logged and tried
again at its next time; the others go on. `stop()` ends the loop after the job running now.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections, connections

from .jobs import Job, job_list

logger = logging.getLogger(__name__)


class JobScheduler(threading.Thread):
    def __init__(
        self, *, first_delay: float = 5.0, tick: float = 1.0, jobs: list[Job] | None = None, clock=time.monotonic
    ):
        super().__init__(name="dev-jobs", daemon=True)
        self.first_delay = first_delay
        self.tick = tick
        self._jobs = jobs
        self._clock = clock
        self._stop_event = threading.Event()
        self.runs: dict[str, int] = {}  # job name -> runs finished (ok or failed)
        self.failures: dict[str, int] = {}

    def stop(self, timeout: float | None = 30) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        jobs = self._jobs if self._jobs is not None else job_list()
        start = self._clock()
        due = {job.name: start + self.first_delay for job in jobs}
        try:
            while not self._stop_event.is_set():
                now = self._clock()
                for job in jobs:
                    if self._stop_event.is_set():
                        break
                    if due[job.name] <= now:
                        self._run_one(job)
                        due[job.name] = self._clock() + job.schedule_seconds
                self._stop_event.wait(self.tick)
        finally:
            connections.close_all()

    def _run_one(self, job: Job) -> None:
        close_old_connections()
        try:
            result = job()
        except Exception:  # a failing job must not stop the others; it runs again at its next time
            logger.exception("dev scheduler: job %s failed", job.name)
            self.failures[job.name] = self.failures.get(job.name, 0) + 1
        else:
            if _did_something(result):
                logger.info("dev scheduler: %s -> %s", job.name, result)
        finally:
            self.runs[job.name] = self.runs.get(job.name, 0) + 1
            close_old_connections()


def _did_something(result) -> bool:
    """A job's result worth a log line: a dict with a non-zero count (or a failed check)."""
    if not isinstance(result, dict):
        return bool(result)
    if result.get("ok") is False:
        return True
    return any(
        isinstance(v, int) and not isinstance(v, bool) and v and k not in ("accounts", "transactions", "checked_orders")
        for k, v in result.items()
    )
