"""`runserver` plus the periodic jobs (core/dev_scheduler.py) in the serving process: `make run`.

Set DEV_JOBS=0 to serve without them (e.g. beside `make beat` and `make worker`). Ctrl-C stops
the server, then the scheduler after the job it is running."""

import os

from django.core.management.commands.runserver import Command as RunserverCommand

from core.dev_scheduler import JobScheduler


class Command(RunserverCommand):
    help = "runserver with the periodic jobs running on their schedules in a thread (development)."

    def inner_run(self, *args, **options):
        scheduler = None
        if os.environ.get("DEV_JOBS", "1") != "0":
            scheduler = JobScheduler(first_delay=float(os.environ.get("DEV_JOBS_FIRST_DELAY", "5")))
            scheduler.start()
            self.stdout.write("Periodic jobs: running in this process (DEV_JOBS=0 turns them off).")
        try:
            super().inner_run(*args, **options)
        finally:
            if scheduler is not None:
                scheduler.stop()
