"""The Redis side of the click counters: the client, the key names and the Lua scripts.

Every key of a click shares the hash tag of the code's shard (`{cNN}`, NN = crc32(code) %
SHARDS), so the scripts are Redis-Cluster-safe:

    fx:sl:{cNN}:<CODE>                     the cached LinkEntry ("-" for an unknown code)
    fx:click:{cNN}:pv:<YYYYMMDD>           hash "<link_id>:<distributor_id>" -> page views
    fx:click:{cNN}:uv:<YYYYMMDD>           hash "<link_id>:<distributor_id>" -> unique visitors
    fx:click:{cNN}:vis:<YYYYMMDD>:<CODE>   set of the visitors seen that day (exact, SADD)
    fx:click:{cNN}:sent:<YYYYMMDD>:<batch> marker of a write-behind batch already applied

The per-shard hashes are also the list of what is waiting to be flushed, so the flush job
needs no SCAN and no separate dirty set. Counters live COUNTER_TTL seconds, visitor sets
VISITOR_TTL seconds (they only have to outlive their day).

Callers look the client up through this module (`store.click_redis()`), so "no Redis" is
one switch for every path (tests replace it).
"""
from __future__ import annotations

import threading
import zlib
from datetime import date

from django.core.cache import caches

try:
    from django.core.cache.backends.redis import RedisCache
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is a project dependency
    RedisCache = None  # type: ignore[assignment,misc]
    RedisError = OSError  # type: ignore[assignment,misc]

SHARDS = 32
COUNTER_TTL = 8 * 86400
VISITOR_TTL = 2 * 86400
PENDING_TTL = 14 * 86400
SENT_MARKER_TTL = 3600

# The synchronous click: read the cached entry, skip the distributor's own click, count a page
# view and (SADD) a unique visitor. KEYS: entry, pv hash, uv hash, visitor set. ARGV: visitor,
# counter ttl, visitor ttl. Returns false when the entry is not cached.
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


class ClickRedis:
    """A Redis client with the click scripts registered on it."""

    __slots__ = ("client", "click", "batch", "take", "done")

    def __init__(self, client):
        self.client = client
        self.click = client.register_script(CLICK_LUA)
        self.batch = client.register_script(BATCH_LUA)
        self.take = client.register_script(TAKE_LUA)
        self.done = client.register_script(DONE_LUA)


_redis_lock = threading.Lock()


def click_redis() -> ClickRedis | None:
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
                found = ClickRedis(backend._cache.get_client(write=True))
                backend._fx_clicks = found
    return found


def as_str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- key names ---------------------------------------------------------------------------------


def shard(code: str) -> int:
    return zlib.crc32(code.encode()) % SHARDS


def tag(shard_no: int) -> str:
    return "{c" + f"{shard_no:02d}" + "}"


def day_str(day: date) -> str:
    return day.strftime("%Y%m%d")


def entry_key(code: str) -> str:
    return f"fx:sl:{tag(shard(code))}:{code}"


def counter_keys(shard_no: int, day: date) -> tuple[str, str]:
    """The (page views, unique visitors) hashes of a shard and day."""
    t, d = tag(shard_no), day_str(day)
    return f"fx:click:{t}:pv:{d}", f"fx:click:{t}:uv:{d}"


def visitor_set_key(code: str, day: date) -> str:
    return f"fx:click:{tag(shard(code))}:vis:{day_str(day)}:{code}"


def sent_marker_key(shard_no: int, day: date, batch_id: str) -> str:
    return f"fx:click:{tag(shard_no)}:sent:{day_str(day)}:{batch_id}"
