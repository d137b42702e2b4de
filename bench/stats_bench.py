"""Time GET /api/v1/distributors/me/stats/ in-process for the big bench distributor.

A quick check without the whole `make bench` (which drops its database): seeds the data of
bench/seed_stats.py into DATABASE_URL when missing, then sends the request through Django's
full stack (middleware, DRF, Bearer auth, throttle) N times in this one process and prints
p50/p90/p99 and the queries of one request. No HTTP server, so the figures are a lower bound
of what wrk sees through gunicorn.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> REDIS_URL=redis://127.0.0.1:6379/<n> \
        .venv/bin/python bench/stats_bench.py [--requests 300] [--days 366]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")
os.environ.setdefault("THROTTLE_USER", "100000000/s")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from _django import setup  # noqa: E402

setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from seed_stats import seed_stats  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import token_issue  # noqa: E402
from distributors.selectors.stats import stats_day  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--days", type=int, default=366)
    args = parser.parse_args()
    user, _ = User.objects.get_or_create(username="bench-user", defaults={"nickname": "bench"})
    seed_stats(user=user)
    token = token_issue(user=user, user_agent="stats-bench")
    today = stats_day(timezone.now())
    path = (f"/api/v1/distributors/me/stats/?from={(today - timedelta(days=args.days - 1)).isoformat()}"
            f"&to={today.isoformat()}")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    res = client.get(path)
    assert res.status_code == 200, res.content[:300]
    body = res.json()
    print(f"{path}: orders {body['orders']:,}, clicks {body['clicks']:,}, customers {body['customers']:,}, "
          f"repeat {body['repeat_customers']:,}, bound {body['bound_customers']:,}, {len(body['series'])} days")
    with CaptureQueriesContext(connection) as ctx:
        client.get(path)
    print(f"{len(ctx.captured_queries)} queries:")
    for q in ctx.captured_queries:
        print(f"  {q['time']}s  {q['sql'][:160]}")
    for _ in range(20):
        client.get(path)
    times = []
    for _ in range(args.requests):
        start = time.perf_counter()
        client.get(path)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    q = statistics.quantiles(times, n=100)
    print(f"{args.requests} requests in-process: p50 {q[49]:.1f} ms, p90 {q[89]:.1f} ms, p99 {q[98]:.1f} ms, "
          f"max {times[-1]:.1f} ms")


if __name__ == "__main__":
    main()
