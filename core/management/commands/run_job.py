import json

from django.core.management.base import BaseCommand, CommandError

from core.jobs import job_list, job_run


class Command(BaseCommand):
    help = "Run one periodic (beat) job now. --list lists them."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?")
        parser.add_argument("--list", action="store_true")

    def handle(self, *args, name=None, list=False, **options):
        if list or not name:
            for job in job_list():
                self.stdout.write(f"{job.name}\tevery {job.schedule_seconds}s\t{job.description}")
            return
        try:
            result = job_run(name=name)
        except KeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result, default=str) if result is not None else "ok")
