"""Clicks on share links (`GET /s/{code}`): resolve the code, count page views and unique
visitors per link per day, and move the counts into the daily statistics.

Resolution. A code maps to a `LinkEntry` (link id, distributor id, the distributor's user
id, the distributor's status, the target page path), cached for ENTRY_TTL seconds and
deleted whenever the link or its distributor is saved or deleted (signals, at once and
after commit). Unknown codes are cached as "-" for NEGATIVE_TTL seconds, so a code that is
hammered costs the database one indexed query a minute.

Counting with Redis, two modes (settings.CLICKS_WRITE_BEHIND_MS):

* write-behind (the default, 50 ms): the click is appended to a per-process buffer and the
  request returns without any I/O (the entry comes from a 10-second in-process copy, else
  Redis, else the database). A daemon thread sends the buffer every 50 ms (or at 500 clicks)
  in ONE pipelined round trip (a Lua call per shard and day, at most once per batch id, so a
  retry after a timeout cannot count twice). The flush job, and the process at exit, drain the
  buffer first. Why: on a busy small machine one Redis round trip costs
  several times a whole bare Django request, and this is the hottest endpoint. The price: a
  worker killed with SIGKILL loses at most its last ~50 ms of clicks, and an entry change
  (a frozen distributor, a deleted link) reaches other processes within 10 s (bindings and
  attribution always re-check the distributor in the database).
* synchronous (CLICKS_WRITE_BEHIND_MS=0): ONE round trip per click (a Lua script that also
  reads the cached entry; a second round trip only when the entry is not cached).

Every key of a click shares the hash tag of the code's shard (`{cNN}`, NN = crc32(code) %
SHARDS), so the scripts are Redis-Cluster-safe:

    fx:sl:{cNN}:<CODE>                 the cached LinkEntry ("-" for an unknown code)
    fx:click:{cNN}:pv:<YYYYMMDD>       hash "<link_id>:<distributor_id>" -> page views
    fx:click:{cNN}:uv:<YYYYMMDD>       hash "<link_id>:<distributor_id>" -> unique visitors
    fx:click:{cNN}:vis:<YYYYMMDD>:<CODE>   set of the visitors seen that day (exact, SADD)

The per-shard hashes are also the list of what is waiting to be flushed, so the flush job
needs no SCAN and no separate dirty set. Counters live COUNTER_TTL days, visitor sets
VISITOR_TTL seconds (they only have to outlive their day).

Counting without Redis (or when Redis fails): in one transaction, INSERT … ON CONFLICT DO
NOTHING into LinkVisitorDay (a new row = a new unique visitor), then upserts with
`col = col + n` into LinkDailyStat and DistributorDailyStat and an F() update of the
ShareLink totals.

Who is counted: the visitor is "u<user id>" for a logged-in user, else "v<random>" from the
signed `fx_vid` cookie. A repeat visit by the same visitor on the same day is a page view
but not a new unique visitor. The distributor's own clicks count as neither page views nor
unique visitors (decision: clicks measure the reach of a link to *other* people, and they
are the denominator of conversion rate and earnings per click).

The flush (`click_counters_flush`, beat job `distributors.flush_click_counters`): for every
shard and each of the last FLUSH_DAYS days, a Lua script atomically renames the live hashes
to "pending" keys under a new batch id (or hands back a pending batch a previous flush left
behind). The counts are applied with set-based SQL in one transaction that also inserts a
ClickFlushBatch row with that id (unique), then the pending keys are deleted. A batch is
therefore applied exactly once: two flushes at once get different batches (or the second
one fails on the unique id and rolls back), and a flush that dies between the database
commit and the delete leaves a pending batch the next flush recognises as applied.
"""
from __future__ import annotations

import atexit
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache, caches
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.encoding import force_bytes

from ..models import (
    ClickFlushBatch,
    Distributor,
    DistributorDailyStat,
    DistributorStatus,
    LinkDailyStat,
    LinkVisitorDay,
    ShareLink,
)

try:
    from django.core.cache.backends.redis import RedisCache
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is a project dependency
    RedisCache = None  # type: ignore[assignment,misc]
    RedisError = OSError  # type: ignore[assignment,misc]

logger = logging.getLogger(__name__)

SHARDS = 32
ENTRY_TTL = 600
NEGATIVE_TTL = 60
COUNTER_TTL = 8 * 86400
VISITOR_TTL = 2 * 86400
FLUSH_DAYS = 7  # the flush looks at today and the 6 days before (counters live 8 days)
PENDING_TTL = 14 * 86400
APPLY_CHUNK = 500
VISITOR_ROWS_KEEP_DAYS = 2
FLUSH_BATCH_KEEP_DAYS = 30

LOCAL_ENTRY_TTL = 10.0  # seconds a process trusts its own copy of an entry (write-behind mode)
LOCAL_ENTRIES_MAX = 20_000
BUFFER_BATCH = 500  # the sender wakes early when this many clicks wait
BUFFER_MAX = 200_000  # beyond this (Redis down for long), clicks are counted synchronously
SEND_ATTEMPTS = 100  # a batch Redis refuses this many times (a try per ~50 ms drain) goes to the database
SENT_MARKER_TTL = 3600

VISITOR_COOKIE = "fx_vid"
VISITOR_SALT = "distributors.clicks.visitor"
VISITOR_COOKIE_MAX_AGE = 2 * 365 * 86400
MAX_VISITOR_LEN = 48



class CachedKeySigner(signing.Signer):
    """django.core.signing.Signer, same format and keys, with the derived HMAC key computed once
    (Signer derives it from the salt and SECRET_KEY on every call; this is the hot path)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        derived = hashlib.sha256((self.salt + "signer").encode() + force_bytes(self.key)).digest()
        self._mac = hmac.new(derived, digestmod=hashlib.sha256) if self.algorithm == "sha256" else None

    def signature(self, value, key=None):
        if self._mac is None or (key is not None and key != self.key):
            return super().signature(value, key)
        mac = self._mac.copy()
        mac.update(force_bytes(value))
        return signing.b64_encode(mac.digest()).decode()


_signer = CachedKeySigner(salt=VISITOR_SALT)


# --- the visitor -------------------------------------------------------------------------


def visitor_new() -> str:
    """A new anonymous visitor id."""
    return "v" + secrets.token_urlsafe(12)


def visitor_for_user(*, user_id: int) -> str:
    return f"u{int(user_id)}"


def visitor_token_make(*, visitor: str) -> str:
    """The signed `fx_vid` cookie value for a visitor id."""
    return _signer.sign(visitor)


def visitor_token_read(*, token: str | None) -> str | None:
    """The visitor id in a `fx_vid` cookie, or None when it is missing, forged or malformed."""
    if not token or len(token) > 128:
        return None
    try:
        visitor = _signer.unsign(token)
    except signing.BadSignature:
        return None
    if not 2 <= len(visitor) <= MAX_VISITOR_LEN or visitor[0] not in "uv":
        return None
    return visitor


# --- resolving a code -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkEntry:
    code: str
    link_id: int
    distributor_id: int
    distributor_user_id: int
    status: str
    path: str

    @property
    def active(self) -> bool:
        """Only an approved distributor's link sets attribution and binds."""
        return self.status == DistributorStatus.APPROVED

    def dumps(self) -> str:
        return f"{self.link_id}|{self.distributor_id}|{self.distributor_user_id}|{self.status}|{self.path}"

    @classmethod
    def loads(cls, code: str, raw: str) -> LinkEntry:
        link_id, distributor_id, user_id, status, path = raw.split("|", 4)
        return cls(code, int(link_id), int(distributor_id), int(user_id), status, path)


@dataclass(frozen=True, slots=True)
class ClickResult:
    entry: LinkEntry
    counted: bool  # a page view was counted (False for the distributor's own click)
    new_visitor: bool | None  # ... and it was this visitor's first visit today (None: not known yet, buffered)

    @property
    def own(self) -> bool:
        return not self.counted


def link_target_path(*, link: ShareLink) -> str:
    """The H5 page a link leads to ("/" — the store — when its target is gone or unknown)."""
    try:
        from ..targets import target_resolve

        return target_resolve(target_type=link.target_type, target_id=link.target_id,
                              distributor=link.distributor).path
    except Exception:  # noqa: BLE001 - an off-shelf product, an unregistered type: land in the store
        return "/"


def _entry_load(code: str) -> LinkEntry | None:
    link = ShareLink.objects.select_related("distributor").filter(code=code).first()
    if link is None:
        return None
    return LinkEntry(
        code=code,
        link_id=link.pk,
        distributor_id=link.distributor_id,
        distributor_user_id=link.distributor.user_id,
        status=link.distributor.status,
        path=link_target_path(link=link),
    )


def _shard(code: str) -> int:
    return zlib.crc32(code.encode()) % SHARDS


def _tag(shard: int) -> str:
    return "{c" + f"{shard:02d}" + "}"


def _entry_key(code: str) -> str:
    return f"fx:sl:{_tag(_shard(code))}:{code}"


def _local_entry_key(code: str) -> str:
    return f"distributors:sl:{code}"


def _day_str(day: date) -> str:
    return day.strftime("%Y%m%d")


def _counter_keys(shard: int, day: date) -> tuple[str, str]:
    tag, d = _tag(shard), _day_str(day)
    return f"fx:click:{tag}:pv:{d}", f"fx:click:{tag}:uv:{d}"


def _visitor_set_key(code: str, day: date) -> str:
    return f"fx:click:{_tag(_shard(code))}:vis:{_day_str(day)}:{code}"


# --- Redis ------------------------------------------------------------------------------------

CLICK_LUA = """
local e = redis.call('GET', KEYS[1])
if not e then return false end
if e == '-' then return {e, 0, 0} end
local link, dist, duser = string.match(e, '^(%d+)|(%d+)|(%d+)|')
if ARGV[1] == 'u' .. duser then return {e, 0, 0} end
local field = link .. ':' .. dist
redis.call('HINCRBY', KEYS[2], field, 1)
redis.call('EXPIRE', KEYS[2], ARGV[2])
local new = 0
if redis.call('SADD', KEYS[4], ARGV[1]) == 1 then
  new = 1
  redis.call('EXPIRE', KEYS[4], ARGV[3])
  redis.call('HINCRBY', KEYS[3], field, 1)
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
return {e, 1, new}
"""

# The write-behind sender: the clicks of one shard and day in one call, applied at most once per
# batch id (the marker key makes a retry after an unclear failure, e.g. a timeout, harmless).
# KEYS: marker, pv hash, uv hash, visitor sets... ARGV: counter ttl, visitor ttl, marker ttl, then
# per click: index of its visitor set in KEYS, field, visitor.
BATCH_LUA = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[3]) then return -1 end
local new = 0
for i = 4, #ARGV, 3 do
  local vis = KEYS[tonumber(ARGV[i])]
  redis.call('HINCRBY', KEYS[2], ARGV[i + 1], 1)
  if redis.call('SADD', vis, ARGV[i + 2]) == 1 then
    redis.call('EXPIRE', vis, ARGV[2])
    redis.call('HINCRBY', KEYS[3], ARGV[i + 1], 1)
    new = new + 1
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[1])
if new > 0 then redis.call('EXPIRE', KEYS[3], ARGV[1]) end
return new
"""

# KEYS: live pv, live uv, pending pv, pending uv, pending batch id. ARGV: new batch id, pending ttl.
TAKE_LUA = """
local batch = redis.call('GET', KEYS[5])
if not batch then
  local live_pv = redis.call('EXISTS', KEYS[1])
  local live_uv = redis.call('EXISTS', KEYS[2])
  if live_pv == 0 and live_uv == 0 then return false end
  redis.call('DEL', KEYS[3], KEYS[4])
  if live_pv == 1 then redis.call('RENAME', KEYS[1], KEYS[3]); redis.call('EXPIRE', KEYS[3], ARGV[2]) end
  if live_uv == 1 then redis.call('RENAME', KEYS[2], KEYS[4]); redis.call('EXPIRE', KEYS[4], ARGV[2]) end
  batch = ARGV[1]
  redis.call('SET', KEYS[5], batch, 'EX', ARGV[2])
end
return {batch, redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4])}
"""

# KEYS: pending pv, pending uv, pending batch id. ARGV: the batch id that was applied.
DONE_LUA = """
if redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return 1
end
return 0
"""


class _Redis:
    __slots__ = ("client", "click", "batch", "take", "done")

    def __init__(self, client):
        self.client = client
        self.click = client.register_script(CLICK_LUA)
        self.batch = client.register_script(BATCH_LUA)
        self.take = client.register_script(TAKE_LUA)
        self.done = client.register_script(DONE_LUA)


_redis_lock = threading.Lock()


def _redis() -> _Redis | None:
    """Our Redis client and scripts when the default cache is Redis, else None. One client per
    cache backend object (thread-safe over its connection pool)."""
    backend = caches["default"]
    if RedisCache is None or not isinstance(backend, RedisCache):
        return None
    found = getattr(backend, "_fx_clicks", None)
    if found is None:
        with _redis_lock:
            found = getattr(backend, "_fx_clicks", None)
            if found is None:
                found = _Redis(backend._cache.get_client(write=True))
                backend._fx_clicks = found
    return found


def _as_str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _click_redis(r: _Redis, *, code: str, visitor: str, day: date) -> ClickResult | None:
    shard = _shard(code)
    pv_key, uv_key = _counter_keys(shard, day)
    keys = [_entry_key(code), pv_key, uv_key, _visitor_set_key(code, day)]
    args = [visitor, COUNTER_TTL, VISITOR_TTL]
    out = r.click(keys=keys, args=args)
    if out is None:  # not cached: load it, cache it, and count again
        entry = _entry_load(code)
        r.client.set(keys[0], entry.dumps() if entry else "-", ex=ENTRY_TTL if entry else NEGATIVE_TTL)
        out = r.click(keys=keys, args=args)
        if out is None:  # invalidated in between: count on the database this once
            return _click_db(entry=entry, visitor=visitor, day=day) if entry else None
    raw = _as_str(out[0])
    if raw == "-":
        return None
    return ClickResult(LinkEntry.loads(code, raw), bool(int(out[1])), bool(int(out[2])))


# --- write-behind: the click path without a Redis round trip -----------------------------------


def write_behind_seconds() -> float:
    """settings.CLICKS_WRITE_BEHIND_MS as seconds; 0 = count every click synchronously."""
    return max(0, int(getattr(settings, "CLICKS_WRITE_BEHIND_MS", 50))) / 1000


_local_entries: dict[str, tuple[LinkEntry | None, float]] = {}


def _entry_cached(code: str) -> LinkEntry | None:
    """The entry from this process's memory (LOCAL_ENTRY_TTL seconds), else Redis, else the DB."""
    now = time.monotonic()
    hit = _local_entries.get(code)
    if hit is not None and hit[1] > now:
        return hit[0]
    entry = link_entry_get(code=code)
    if len(_local_entries) >= LOCAL_ENTRIES_MAX:
        _local_entries.clear()
    _local_entries[code] = (entry, now + LOCAL_ENTRY_TTL)
    return entry


class _ClickBuffer:
    """Clicks waiting to be counted in Redis, sent by a daemon thread of this process every
    write_behind_seconds() (earlier when BUFFER_BATCH wait) in ONE pipelined round trip: one
    BATCH_LUA call per shard and day (HINCRBY page views, SADD each visitor, HINCRBY unique
    visitors for the new ones), applied at most once per batch id. `drain()` sends everything now
    and waits for a batch in flight; the flush job and the process's exit call it. A batch Redis
    fails to take is retried with the same id (so a timeout that hid a success counts once), and
    after SEND_ATTEMPTS failures counted on the database path instead. Without Redis at all it
    goes to the database at once."""

    def __init__(self):
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.wake = threading.Event()
        self.items: list[tuple[str, int, int, str, date]] = []
        self.retry: list[tuple[str, list, int]] = []  # (batch id, clicks, attempts) that failed to send
        self.thread: threading.Thread | None = None

    def add(self, item: tuple[str, int, int, str, date]) -> bool:
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

    def _send(self, items: list[tuple[str, int, int, str, date]]) -> None:
        """Send a batch (and first any batch that failed before); keep a failed one for a retry."""
        batches = [*self.retry, *([(uuid.uuid4().hex, items, 0)] if items else [])]
        self.retry = []
        for batch_id, batch, attempts in batches:
            try:
                r = _redis()
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
            _count_db_many(items)
        finally:
            if threading.current_thread() is self.thread:
                connection.close()


def _send_batch(r: _Redis, *, batch_id: str, items: list[tuple[str, int, int, str, date]]) -> None:
    """One pipelined round trip: a BATCH_LUA call per (shard, day) of the batch."""
    groups: dict[tuple[int, date], list[tuple[str, int, int, str]]] = defaultdict(list)
    for code, link_id, dist_id, visitor, day in items:
        groups[(_shard(code), day)].append((code, link_id, dist_id, visitor))
    pipe = r.client.pipeline(transaction=False)
    for (shard, day), clicks_ in groups.items():
        pv_key, uv_key = _counter_keys(shard, day)
        keys = [f"fx:click:{_tag(shard)}:sent:{_day_str(day)}:{batch_id}", pv_key, uv_key]
        slot: dict[str, int] = {}
        args: list = [COUNTER_TTL, VISITOR_TTL, SENT_MARKER_TTL]
        for code, link_id, dist_id, visitor in clicks_:
            if code not in slot:
                keys.append(_visitor_set_key(code, day))
                slot[code] = len(keys)  # Lua indexes from 1
            args += [slot[code], f"{link_id}:{dist_id}", visitor]
        r.batch(keys=keys, args=args, client=pipe)
    pipe.execute()


_buffer: _ClickBuffer | None = None
_buffer_lock = threading.Lock()


def _click_buffer() -> _ClickBuffer:
    global _buffer
    buf = _buffer
    if buf is None or buf.pid != os.getpid():  # first use, or a forked worker: a buffer of its own
        with _buffer_lock:
            if _buffer is None or _buffer.pid != os.getpid():
                _buffer = _ClickBuffer()
                atexit.register(_buffer.drain)
            buf = _buffer
    return buf


def click_buffer_drain() -> int:
    """Send this process's buffered clicks to Redis now; returns how many were sent."""
    buf = _buffer
    if buf is None or buf.pid != os.getpid():
        return 0
    return buf.drain()


def _click_buffered(*, code: str, visitor: str, day: date) -> ClickResult | None:
    entry = _entry_cached(code)
    if entry is None:
        return None
    if visitor == visitor_for_user(user_id=entry.distributor_user_id):
        return ClickResult(entry, False, False)
    if not _click_buffer().add((code, entry.link_id, entry.distributor_id, visitor, day)):
        return _click_db(entry=entry, visitor=visitor, day=day)
    return ClickResult(entry, True, None)


# --- the database path -------------------------------------------------------------------------


def _local_entry(code: str) -> LinkEntry | None:
    """The entry through Django's cache (a per-process LocMemCache without Redis)."""
    try:
        raw = cache.get(_local_entry_key(code))
    except RedisError:  # Redis is down: straight from the database
        return _entry_load(code)
    if raw is None:
        entry = _entry_load(code)
        try:
            cache.set(_local_entry_key(code), entry.dumps() if entry else "-",
                      ENTRY_TTL if entry else NEGATIVE_TTL)
        except RedisError:
            pass
        return entry
    return None if raw == "-" else LinkEntry.loads(code, raw)


def _visitor_insert(*, link_id: int, day: date, visitor: str) -> bool:
    """True when (link, day, visitor) was not there yet."""
    table = connection.ops.quote_name(LinkVisitorDay._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (link_id, day, visitor) VALUES (%s, %s, %s) "  # noqa: S608 - our table name
            "ON CONFLICT (link_id, day, visitor) DO NOTHING",
            [link_id, day, visitor],
        )
        return cursor.rowcount == 1


def _click_db(*, entry: LinkEntry, visitor: str, day: date) -> ClickResult:
    if visitor == visitor_for_user(user_id=entry.distributor_user_id):
        return ClickResult(entry, False, False)
    with transaction.atomic():
        new = _visitor_insert(link_id=entry.link_id, day=day, visitor=visitor)
        click_counts_apply(day=day, counts={(entry.link_id, entry.distributor_id): (1, int(new))})
    return ClickResult(entry, True, new)


def _count_db_many(items: list[tuple[str, int, int, str, date]]) -> None:
    """The database path for a batch of clicks (the write-behind sender when Redis fails)."""
    with transaction.atomic():
        per_day: dict[date, dict[tuple[int, int], list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for _, link_id, dist_id, visitor, day in items:
            new = _visitor_insert(link_id=link_id, day=day, visitor=visitor)
            counts = per_day[day][(link_id, dist_id)]
            counts[0] += 1
            counts[1] += int(new)
        for day, counts in per_day.items():
            click_counts_apply(day=day, counts={k: (pv, uv) for k, (pv, uv) in counts.items()})


# --- recording a click -------------------------------------------------------------------------


def click_record(*, code: str, visitor: str, now: datetime | None = None) -> ClickResult | None:
    """Count a visit of `code` by `visitor` ("u<id>" or "v<random>"); None for an unknown code.

    `code` must already be normalised (distributors.codes.code_normalise)."""
    day = timezone.localdate(now) if now is not None else timezone.localdate()
    r = _redis()
    if r is not None:
        try:
            if write_behind_seconds():
                return _click_buffered(code=code, visitor=visitor, day=day)
            return _click_redis(r, code=code, visitor=visitor, day=day)
        except RedisError:
            logger.warning("clicks: Redis failed; counting this click in the database", exc_info=True)
    entry = _local_entry(code)
    if entry is None:
        return None
    return _click_db(entry=entry, visitor=visitor, day=day)


def link_entry_get(*, code: str) -> LinkEntry | None:
    """Resolve a (normalised) code without counting anything; None when unknown."""
    r = _redis()
    if r is not None:
        try:
            raw = r.client.get(_entry_key(code))
            if raw is None:
                entry = _entry_load(code)
                r.client.set(_entry_key(code), entry.dumps() if entry else "-",
                             ex=ENTRY_TTL if entry else NEGATIVE_TTL)
                return entry
            raw = _as_str(raw)
            return None if raw == "-" else LinkEntry.loads(code, raw)
        except RedisError:
            logger.warning("clicks: Redis failed; resolving %s from the database", code, exc_info=True)
    return _local_entry(code)


def share_link_ref(*, entry: LinkEntry) -> ShareLink:
    """A ShareLink standing for the entry's link (id, code, distributor id) without a query;
    good for foreign keys and `binding_bind(link=...)`, not for saving."""
    return ShareLink(pk=entry.link_id, code=entry.code, distributor_id=entry.distributor_id)


def click_link_cache_invalidate(*, codes: Iterable[str]) -> None:
    """Forget the cached entries of these codes (Redis and the local cache)."""
    codes = [c for c in codes if c]
    if not codes:
        return
    for code in codes:
        _local_entries.pop(code, None)
    try:
        cache.delete_many([_local_entry_key(c) for c in codes])
        r = _redis()
        if r is not None:
            r.client.delete(*[_entry_key(c) for c in codes])
    except RedisError:
        logger.warning("clicks: could not invalidate %d cached link entries", len(codes), exc_info=True)


def _invalidate_now_and_after_commit(codes: list[str]) -> None:
    click_link_cache_invalidate(codes=codes)
    transaction.on_commit(lambda: click_link_cache_invalidate(codes=codes))


def _on_link_changed(sender, instance: ShareLink, **kwargs) -> None:
    _invalidate_now_and_after_commit([instance.code])


def _on_distributor_saved(sender, instance: Distributor, update_fields=None, **kwargs) -> None:
    if kwargs.get("created") or (update_fields is not None and "status" not in update_fields):
        return
    codes = list(ShareLink.objects.filter(distributor_id=instance.pk).values_list("code", flat=True))
    _invalidate_now_and_after_commit(codes)


# --- applying counts (set-based SQL) --------------------------------------------------------------


def _upsert(table: str, keys: tuple[str, ...], fixed: tuple[str, ...], adds: tuple[str, ...],
            rows: list[tuple]) -> None:
    """INSERT rows (values for keys + fixed + adds); on a conflict of `keys`, add the `adds`
    columns to the existing row (`fixed` columns are only written on insert). One statement per
    APPLY_CHUNK rows; PostgreSQL and SQLite (3.24+). The table's other counters start at 0."""
    if not rows:
        return
    q = connection.ops.quote_name
    model = {LinkDailyStat._meta.db_table: LinkDailyStat,
             DistributorDailyStat._meta.db_table: DistributorDailyStat}[table]
    named = (*keys, *fixed, *adds)
    zeros = [f.column for f in model._meta.concrete_fields
             if f.get_internal_type() == "BigIntegerField" and f.column not in named]
    columns = ", ".join(q(c) for c in (*named, *zeros))
    placeholder = "(" + ", ".join(["%s"] * len(named) + ["0"] * len(zeros)) + ")"
    updates = ", ".join(f"{q(c)} = {q(table)}.{q(c)} + excluded.{q(c)}" for c in adds)
    for start in range(0, len(rows), APPLY_CHUNK):
        chunk = rows[start:start + APPLY_CHUNK]
        sql = (
            f"INSERT INTO {q(table)} ({columns}) VALUES "  # noqa: S608 - our own table and column names
            + ", ".join([placeholder] * len(chunk))
            + f" ON CONFLICT ({', '.join(q(k) for k in keys)}) DO UPDATE SET {updates}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [v for row in chunk for v in row])


def click_counts_apply(*, day: date, counts: Mapping[tuple[int, int], tuple[int, int]]) -> int:
    """Add page views and unique visitors {(link_id, distributor_id): (pv, uv)} for `day` to
    LinkDailyStat, DistributorDailyStat and the ShareLink totals. Call inside a transaction.
    Links that no longer exist are skipped. Returns the number of links updated."""
    if not counts:
        return 0
    existing = set()
    ids = sorted({link_id for link_id, _ in counts})
    for start in range(0, len(ids), APPLY_CHUNK):
        existing.update(ShareLink.objects.filter(pk__in=ids[start:start + APPLY_CHUNK]).values_list("pk", flat=True))
    link_rows = sorted(
        (link_id, dist_id, day, pv, uv) for (link_id, dist_id), (pv, uv) in counts.items() if link_id in existing
    )
    per_distributor: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for _, dist_id, _, pv, uv in link_rows:
        per_distributor[dist_id][0] += pv
        per_distributor[dist_id][1] += uv
    # Always in id order: two flushes of different shards then lock rows in the same order.
    _upsert(LinkDailyStat._meta.db_table, ("link_id", "day"), ("distributor_id",), ("clicks", "unique_visitors"),
            [(link_id, day, dist_id, pv, uv) for link_id, dist_id, _, pv, uv in link_rows])
    _upsert(DistributorDailyStat._meta.db_table, ("distributor_id", "day"), (), ("clicks", "unique_visitors"),
            [(dist_id, day, pv, uv) for dist_id, (pv, uv) in sorted(per_distributor.items())])
    for start in range(0, len(link_rows), APPLY_CHUNK):
        chunk = link_rows[start:start + APPLY_CHUNK]
        ShareLink.objects.filter(pk__in=[r[0] for r in chunk]).update(
            clicks=F("clicks") + Case(*[When(pk=r[0], then=Value(r[3])) for r in chunk], default=Value(0)),
            unique_visitors=F("unique_visitors")
            + Case(*[When(pk=r[0], then=Value(r[4])) for r in chunk], default=Value(0)),
        )
    return len(link_rows)


# --- the flush ------------------------------------------------------------------------------------


def _parse_hash(flat: list) -> dict[tuple[int, int], int]:
    out = {}
    for field, value in zip(flat[::2], flat[1::2], strict=True):
        link_id, dist_id = _as_str(field).split(":")
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
    r = _redis()
    if r is not None:
        jobs = []
        pipe = r.client.pipeline(transaction=False)
        for shard in range(SHARDS):
            for back in range(days):
                day = today - timedelta(days=back)
                pv_key, uv_key = _counter_keys(shard, day)
                pending = (pv_key + ":pending", uv_key + ":pending", pv_key + ":batch")
                jobs.append((day, pending))
                r.take(keys=[pv_key, uv_key, *pending], args=[uuid.uuid4().hex, PENDING_TTL], client=pipe)
        for (day, pending), out in zip(jobs, pipe.execute(), strict=True):
            if out is None:
                continue
            batch = _as_str(out[0])
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


# --- registration --------------------------------------------------------------------------------


def register_hooks() -> None:
    """Called once from DistributorsConfig.ready(): the flush job, cache invalidation, the order
    attributor and the official account's handlers."""
    from core.jobs import register_job

    from ..mp import register_mp_handlers
    from .attribution import register_attributor

    register_job(
        name="distributors.flush_click_counters",
        func=click_counters_flush,
        schedule_seconds=60,
        description="Move the Redis click counters (page views, unique visitors) into the daily stats.",
    )
    post_save.connect(_on_link_changed, sender=ShareLink, dispatch_uid="distributors.clicks.link_saved")
    post_delete.connect(_on_link_changed, sender=ShareLink, dispatch_uid="distributors.clicks.link_deleted")
    post_save.connect(_on_distributor_saved, sender=Distributor, dispatch_uid="distributors.clicks.dist_saved")
    register_attributor()
    register_mp_handlers()
