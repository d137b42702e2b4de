"""Registry of periodic jobs.

Each beat job is a named callable that takes no arguments. Apps register theirs in
their AppConfig.ready(); Celery beat runs them through the `core.run_job` task, and
`python manage.py run_job <name>` runs one now (`run_job --list` lists them).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[], Any]
    schedule_seconds: int
    description: str


_JOBS: dict[str, Job] = {}


def register_job(*, name: str, func: Callable[[], Any], schedule_seconds: int, description: str) -> None:
    _JOBS[name] = Job(name=name, func=func, schedule_seconds=schedule_seconds, description=description)


def job_list() -> list[Job]:
    return sorted(_JOBS.values(), key=lambda j: j.name)


def job_run(*, name: str) -> Any:
    try:
        job = _JOBS[name]
    except KeyError:
        raise KeyError(f"unknown job {name!r}; known: {', '.join(sorted(_JOBS))}") from None
    return job.func()
