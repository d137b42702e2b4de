"""Start a real Celery worker process (Redis broker, the test database) for a test."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def worker_start(queue: str, **extra_env: str) -> subprocess.Popen:
    """A solo-pool worker consuming `queue`, on this test's PostgreSQL database and Redis."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "LOG_LEVEL": "WARNING",
        # The test's WeChat Pay set-up (the worker reads the base settings, not the test ones).
        "WECHAT_PAY_API": settings.WECHAT_PAY_API,
        "WECHAT_PAYOUT_API": settings.WECHAT_PAYOUT_API,
        "WECHAT_SANDBOX_KEY_DIR": settings.WECHAT_SANDBOX_KEY_DIR,
        **extra_env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-Q", queue, "-l", "warning",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"{queue}-{time.monotonic_ns()}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def worker_stop(proc: subprocess.Popen) -> str:
    """Stop it (if still running) and return what it printed."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read() if proc.stdout else ""


def wait_for(predicate, *, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll until predicate() is true; a bound on the wait, not a speed check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
