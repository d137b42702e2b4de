"""Reachability of the parts the service depends on, for /api/v1/health/."""
from __future__ import annotations

import time

from django.conf import settings
from django.db import connection


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
        result = {"ok": True}
        if detail:
            result.update(detail)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


_redis_clients: dict[str, object] = {}


def _redis_ping(url: str) -> None:
    """PING over a pooled client (one pool per URL and process): no new connection per check."""
    import redis

    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    client.ping()


def _redis():
    if not settings.REDIS_AVAILABLE:
        return {"configured": False}
    _redis_ping(settings.REDIS_URL)
    return {"configured": True}


def _celery(*, ping_workers: bool):
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.CELERY_BROKER_URL:
        return {"mode": "eager"}
    from config.celery import app

    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        _redis_ping(broker)
    else:  # pragma: no cover - other brokers: a kombu connection round trip
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
    result = {"mode": "broker", "broker": True}
    if ping_workers:  # a broadcast round trip: only on request (?workers=1), it waits for answers
        result["workers"] = len(app.control.ping(timeout=0.5) or [])
    return result


def health_report(*, ping_workers: bool = False) -> dict:
    checks = {
        "database": _timed(_database),
        "redis": _timed(_redis),
        "celery": _timed(lambda: _celery(ping_workers=ping_workers)),
    }
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
