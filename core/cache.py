"""Small helpers over Django's default cache that do the Redis-specific thing when it is Redis.

Django's RedisCache builds a new redis-py client (with its table of response callbacks) for
every operation; on a hot path that costs more than the round trip. `cache_redis_client`
keeps one client per cache backend instance (redis-py clients are thread-safe over their
connection pool).
"""
from __future__ import annotations

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache


def cache_redis_client(backend=None):
    """The redis-py client behind the default cache, or None when the cache is not Redis."""
    backend = backend or caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    client = getattr(backend, "_fx_client", None)
    if client is None:
        client = backend._cache.get_client(write=True)
        backend._fx_client = client
    return client


def cache_pipeline():
    """A non-transactional redis-py pipeline on the default cache's client (commands queued, sent
    in one round trip by `execute()`), or None when the cache is not Redis. Commands may touch
    keys of different slots: on Redis Cluster a pipeline is split per node, not refused."""
    client = cache_redis_client()
    return None if client is None else client.pipeline(transaction=False)


def cache_incr_queue(pipe, key: str, *, ttl: int) -> int:
    """Queue `cache_incr(key, ttl=ttl)` on a `cache_pipeline()`; returns the index of the new
    value in `pipe.execute()`'s results."""
    full_key = caches["default"].make_and_validate_key(key)
    index = len(pipe.command_stack)
    pipe.incr(full_key)
    pipe.expire(full_key, ttl, nx=True)
    return index


def cache_incr(key: str, *, ttl: int) -> int:
    """Increment a counter that expires `ttl` seconds after it was created; return the new value.
    One round trip on Redis (INCR and EXPIRE NX pipelined); add + incr on other caches."""
    backend = caches["default"]
    client = cache_redis_client(backend)
    if client is not None:
        full_key = backend.make_and_validate_key(key)
        pipe = client.pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, ttl, nx=True)
        return int(pipe.execute()[0])
    if backend.add(key, 1, timeout=ttl):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, timeout=ttl)
        return 1


_DECR_IF_EXISTS = "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return false"


def cache_decr(key: str) -> int | None:
    """Take one back from a counter made by `cache_incr`, keeping its expiry; None when it is gone
    (expired: nothing to take back, and no key without an expiry is left behind). One atomic
    round trip on Redis (a one-key script, so Redis Cluster is fine)."""
    backend = caches["default"]
    client = cache_redis_client(backend)
    if client is not None:
        value = client.eval(_DECR_IF_EXISTS, 1, backend.make_and_validate_key(key))
        return None if value is None else int(value)
    try:
        return backend.decr(key)
    except ValueError:  # not there (expired)
        return None
