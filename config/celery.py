"""The Celery app. Tasks live in each domain app's tasks.py; beat jobs are listed in core.jobs."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("fenxiao")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
