"""Write-behind: the click path without a Redis round trip (settings.CLICKS_WRITE_BEHIND_MS).

A click is appended to a per-process buffer and the request returns without any I/O. A daemon
thread sends the buffer every write_behind_seconds() (or at BUFFER_BATCH clicks) in ONE
pipelined round trip: a BATCH_LUA call per shard and day (HINCRBY page views, SADD each
visitor, HINCRBY unique visitors for the new ones), applied at most once per batch id, so a
retry after a timeout cannot count twice. The flush job, and the process at exit, drain the
buffer first. Why: on a busy small machine one Redis round trip costs several times a whole
bare Django request, and this is the hottest endpoint. The price: a worker killed with SIGKILL
loses at most its last ~50 ms of clicks.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
from collections import defaultdict
from datetime import date

from django.conf import settings
from django.db import connection

from . import store
from .counts import clicks_count_db

logger = logging.getLogger(__name__)

BUFFER_BATCH = 500  # the sender wakes early when this many clicks wait
BUFFER_MAX = 200_000  # beyond this (Redis down for long), clicks are counted synchronously
SEND_ATTEMPTS = 100  # a batch Redis refuses this many times (a try per ~50 ms drain) goes to the database

Click = tuple[str, int, int, str, date]  # code, link id, distributor id, visitor, day


def write_behind_seconds() -> float:
    """settings.CLICKS_WRITE_BEHIND_MS as seconds; 0 = count every click synchronously."""
    return max(0, int(getattr(settings, "CLICKS_WRITE_BEHIND_MS", 50))) / 1000


class ClickBuffer:
    """Clicks waiting to be counted in Redis, sent by a daemon thread of this process. `drain()`
    sends everything now and waits for a batch in flight; the flush job and the process's exit
    call it. A batch Redis fails to take is retried with the same id (so a timeout that hid a
    success counts once), and after SEND_ATTEMPTS failures counted on the database path instead.
    Without Redis at all it goes to the database at once."""

    def __init__(self):
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.wake = threading.Event()
        self.items: list[Click] = []
        self.retry: list[tuple[str, list, int]] = []  # (batch id, clicks, attempts) that failed to send
        self.thread: threading.Thread | None = None

    def add(self, item: Click) -> bool:
        with self.lock:
            if len(self.items) >= BUFFER_MAX:
                return False
            self.items.append(item)
            waiting = len(self.items)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="fx-click-buffer", daemon=True)
                self.thread.start()
        if waiting >= BUFFER_BATCH:
            self.wake.set()
        return True

    def _run(self) -> None:
        while True:
            self.wake.wait(write_behind_seconds() or 0.05)
            self.wake.clear()
            try:
                self.drain()
            except Exception:  # noqa: BLE001 - keep the sender alive; the items were counted or logged
                logger.exception("clicks: the write-behind sender failed")

    def drain(self) -> int:
        with self.send_lock:
            with self.lock:
                items, self.items = self.items, []
            if items or self.retry:
                self._send(items)
            return len(items)

    def _send(self, items: list[Click]) -> None:
        """Send a batch (and first any batch that failed before); keep a failed one for a retry."""
        batches = [*self.retry, *([(uuid.uuid4().hex, items, 0)] if items else [])]
        self.retry = []
        for batch_id, batch, attempts in batches:
            try:
                r = store.click_redis()
                if r is None:  # no Redis at all: count in the database now
                    self._to_db(batch)
                else:
                    _send_batch(r, batch_id=batch_id, items=batch)
            except Exception:  # noqa: BLE001 - Redis or the database failed: retry, bounded
                if attempts + 1 < SEND_ATTEMPTS:
                    logger.warning("clicks: could not count %d clicks (attempt %d); retrying", len(batch),
                                   attempts + 1, exc_info=True)
                    self.retry.append((batch_id, batch, attempts + 1))
                    continue
                logger.error("clicks: %d attempts failed; counting %d clicks in the database", SEND_ATTEMPTS,
                             len(batch))
                try:
                    self._to_db(batch)
                except Exception:  # noqa: BLE001 - nothing more we can do; say how much is lost
                    logger.exception("clicks: LOST %d clicks (Redis and the database failed)", len(batch))

    def _to_db(self, items) -> None:
        try:
            clicks_count_db(items)
        finally:
            if threading.current_thread() is self.thread:
                connection.close()


def _send_batch(r: store.ClickRedis, *, batch_id: str, items: list[Click]) -> None:
    """One pipelined round trip: a BATCH_LUA call per (shard, day) of the batch."""
    groups: dict[tuple[int, date], list[tuple[str, int, int, str]]] = defaultdict(list)
    for code, link_id, dist_id, visitor, day in items:
        groups[(store.shard(code), day)].append((code, link_id, dist_id, visitor))
    pipe = r.client.pipeline(transaction=False)
    for (shard_no, day), clicks_ in groups.items():
        pv_key, uv_key = store.counter_keys(shard_no, day)
        keys = [store.sent_marker_key(shard_no, day, batch_id), pv_key, uv_key]
        slot: dict[str, int] = {}
        args: list = [store.COUNTER_TTL, store.VISITOR_TTL, store.SENT_MARKER_TTL]
        for code, link_id, dist_id, visitor in clicks_:
            if code not in slot:
                keys.append(store.visitor_set_key(code, day))
                slot[code] = len(keys)  # Lua indexes from 1
            args += [slot[code], f"{link_id}:{dist_id}", visitor]
        r.batch(keys=keys, args=args, client=pipe)
    pipe.execute()


_buffer: ClickBuffer | None = None
_buffer_lock = threading.Lock()


def click_buffer() -> ClickBuffer:
    """This process's buffer (a forked worker gets a buffer of its own)."""
    global _buffer
    buf = _buffer
    if buf is None or buf.pid != os.getpid():
        with _buffer_lock:
            if _buffer is None or _buffer.pid != os.getpid():
                _buffer = ClickBuffer()
                atexit.register(_buffer.drain)
            buf = _buffer
    return buf


def click_buffer_drain() -> int:
    """Send this process's buffered clicks to Redis now; returns how many were sent."""
    buf = _buffer
    if buf is None or buf.pid != os.getpid():
        return 0
    return buf.drain()
