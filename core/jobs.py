"""Registry of periodic jobs.

Each beat job is a named callable that takes no arguments. Apps register theirs in
their AppConfig.ready() with `register_job(...)` (`unregister_job(name)`; registering a
name again replaces its job); Celery beat runs them through the `core.run_job` task, and
`python manage.py run_job <name>` runs one now (`run_job --list` lists them).
The registry is a `core.hooks.Hook` ("core.jobs", keyed by job name, one job each).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .hooks import Hook


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[], Any]
    schedule_seconds: int
    description: str

    def __call__(self) -> Any:
        return self.func()


jobs = Hook(
    "core.jobs", keyed=True, single=True,
    doc="Periodic jobs by name; fn() run by Celery beat (core.run_job) or manage.py run_job, "
        "each in its own transactions.",
)


def register_job(*, name: str, func: Callable[[], Any], schedule_seconds: int, description: str) -> None:
    jobs.register(Job(name=name, func=func, schedule_seconds=schedule_seconds, description=description), key=name)


def unregister_job(name: str) -> None:
    jobs.unregister(key=name)


def job_list() -> list[Job]:
    return sorted((job for name in jobs.keys() if (job := jobs.one(name)) is not None), key=lambda j: j.name)


def job_run(*, name: str) -> Any:
    job = jobs.one(name)
    if job is None:
        known = ", ".join(sorted(j.name for j in job_list()))
        raise KeyError(f"unknown job {name!r}; known: {known}")
    return job()
