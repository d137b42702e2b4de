"""The flush: move the Redis click counters into the daily statistics.

`click_counters_flush` (beat job `distributors.flush_click_counters`, registered in
DistributorsConfig.ready()): for every shard and each of the last FLUSH_DAYS days, TAKE_LUA
atomically renames the live hashes to "pending" keys under a new batch id (or hands back a
pending batch a previous flush left behind). The counts are applied with set-based SQL
(counts.py) in one transaction that also inserts a ClickFlushBatch row with that id (unique),
then the pending keys are deleted. A batch is therefore applied exactly once: two flushes at
once get different batches (or the second one fails on the unique id and rolls back), and a
flush that dies between the database commit and the delete leaves a pending batch the next
flush recognises as applied.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from ...models import ClickFlushBatch, LinkVisitorDay
from . import store
from .buffer import click_buffer_drain
from .counts import click_counts_apply

FLUSH_DAYS = 7  # the flush looks at today and the 6 days before (counters live 8 days)
VISITOR_ROWS_KEEP_DAYS = 2
FLUSH_BATCH_KEEP_DAYS = 30


def _parse_hash(flat: list) -> dict[tuple[int, int], int]:
    out = {}
    for field, value in zip(flat[::2], flat[1::2], strict=True):
        link_id, dist_id = store.as_str(field).split(":")
        out[(int(link_id), int(dist_id))] = int(value)
    return out


def _apply_batch(*, batch: str, day: date, counts: Mapping[tuple[int, int], tuple[int, int]]) -> bool:
    """Apply one taken batch exactly once; False when it had been applied already."""
    try:
        with transaction.atomic():
            ClickFlushBatch.objects.create(key=batch)
            click_counts_apply(day=day, counts=counts)
    except IntegrityError:
        if ClickFlushBatch.objects.filter(key=batch).exists():
            return False
        raise
    return True


def click_counters_flush(*, days: int = FLUSH_DAYS, today: date | None = None) -> dict:
    """Move the Redis click counters into the database (see the module docstring). Also purges
    old LinkVisitorDay and ClickFlushBatch rows. Safe to run concurrently and repeatedly."""
    click_buffer_drain()  # this process's own buffered clicks (others send theirs within ~50 ms)
    today = today or timezone.localdate()
    report = {"batches": 0, "links": 0, "page_views": 0, "unique_visitors": 0, "skipped": 0}
    r = store.click_redis()
    if r is not None:
        jobs = []
        pipe = r.client.pipeline(transaction=False)
        for shard_no in range(store.SHARDS):
            for back in range(days):
                day = today - timedelta(days=back)
                pv_key, uv_key = store.counter_keys(shard_no, day)
                pending = (pv_key + ":pending", uv_key + ":pending", pv_key + ":batch")
                jobs.append((day, pending))
                r.take(keys=[pv_key, uv_key, *pending], args=[uuid.uuid4().hex, store.PENDING_TTL], client=pipe)
        for (day, pending), out in zip(jobs, pipe.execute(), strict=True):
            if out is None:
                continue
            batch = store.as_str(out[0])
            pvs, uvs = _parse_hash(out[1]), _parse_hash(out[2])
            counts = {key: (pvs.get(key, 0), uvs.get(key, 0)) for key in pvs.keys() | uvs.keys()}
            if _apply_batch(batch=batch, day=day, counts=counts):
                report["batches"] += 1
                report["links"] += len(counts)
                report["page_views"] += sum(pv for pv, _ in counts.values())
                report["unique_visitors"] += sum(uv for _, uv in counts.values())
            else:
                report["skipped"] += 1
            r.done(keys=list(pending), args=[batch])
    LinkVisitorDay.objects.filter(day__lt=today - timedelta(days=VISITOR_ROWS_KEEP_DAYS)).delete()
    ClickFlushBatch.objects.filter(created_at__lt=timezone.now() - timedelta(days=FLUSH_BATCH_KEEP_DAYS)).delete()
    return report
