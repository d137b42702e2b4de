from celery import shared_task

from core.jobs import job_run


@shared_task(name="core.run_job", ignore_result=True, time_limit=600, soft_time_limit=540)
def run_job_task(name: str) -> None:
    """Beat entry point: runs one registered job by name."""
    job_run(name=name)
