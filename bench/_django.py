"""Django set-up for the bench's helper scripts (run as `python bench/<script>.py`).

The database and Redis come from DATABASE_URL / REDIS_URL, which bench/run.py sets.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()
