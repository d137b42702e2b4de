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
