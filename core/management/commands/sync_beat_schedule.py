from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Write the registered jobs (core.jobs) into django-celery-beat's periodic task table."

    def handle(self, *args, **options):
        import json

        from django_celery_beat.models import IntervalSchedule, PeriodicTask

        from core.jobs import job_list

        with transaction.atomic():
            for job in job_list():
                interval, _ = IntervalSchedule.objects.get_or_create(
                    every=job.schedule_seconds, period=IntervalSchedule.SECONDS
                )
                PeriodicTask.objects.update_or_create(
                    name=job.name,
                    defaults={"task": "core.run_job", "interval": interval, "args": json.dumps([job.name])},
                )
                self.stdout.write(f"scheduled {job.name} every {job.schedule_seconds}s")
