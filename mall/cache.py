"""Cache of the public catalog pages (product detail and product list), with versioned entries.

The most-read pages are the product detail and the product list. Their rendered JSON bytes are
kept in Django's default cache (Redis when it is reachable, a per-process LocMemCache otherwise).

Versions, not deletes
---------------------
Three kinds of version numbers live in the cache (no expiry):

* ``G``      the catalog generation: bumped by ``catalog_invalidate()`` with no product
             (category changes, bulk changes); it is part of every entry's version;
* ``P<id>``  one per product: bumped by ``catalog_invalidate(product_id=id)``;
* ``L``      the list generation: bumped by every invalidation (a change to any product can
             move it in or out of any list page, or change its price, sales or rating there).

An entry is stored as ``(version tuple, bytes)``; a read fetches the current version numbers
and the entry in ONE round trip (``get_many``) and uses the entry only when its version tuple
equals the current one. A reader reads the versions *before* it reads the database, so an
entry written by a reader that saw old rows carries an old version and is never served
after the bump.

Invalidation happens twice: at once (so the rest of the current transaction, and tests
that run inside one transaction, see it) and again after the transaction commits (so an
entry that a concurrent reader built from the not-yet-committed rows between the two is
superseded). Outside a transaction the second bump follows right away.

Version numbers start at a random 48-bit value, so a version key evicted by Redis and
re-created never matches an old entry. Entries also expire (``DETAIL_TTL`` / ``LIST_TTL``),
which bounds staleness if an invalidation is ever lost (e.g. Redis unreachable at that moment).

Stock
-----
The detail page shows each SKU's stock. Every stock change made by a service (orders taking and
returning stock, operators adjusting it) calls ``catalog_invalidate(product_id=...)``, so the
stock shown is as fresh as the last committed change; a change made behind the services' back
(raw SQL) shows within ``DETAIL_TTL``. Stock shown is advisory anyway: ordering takes stock
with a conditional UPDATE and answers ``out_of_stock`` when it is gone.

Without Redis the LocMemCache is per process: invalidation reaches only the process that made
the change. That is fine for a single-process development server; production runs with Redis.

A cache hit costs one Redis round trip (one pipeline: the caller's rate counter, the version
numbers and the entry) and no database query.

Cache errors never break a page: a failed read renders from the database, a failed write or
bump is logged (and the TTL bounds how long a missed bump can show old data).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import NamedTuple

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction

from core.cache import cache_redis_client

try:  # the Redis client is installed with the project; keep the module importable without it
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover
    RedisError = OSError  # type: ignore[assignment,misc]

logger = logging.getLogger(__name__)

CACHE_ERRORS = (RedisError, OSError)

PREFIX = "mall:cat:"
GEN_KEY = PREFIX + "G"
LIST_GEN_KEY = PREFIX + "L"
DETAIL_TTL = 300  # seconds; a backstop only, invalidation is what keeps entries fresh
LIST_TTL = 120


def _product_key(product_id: int) -> str:
    return f"{PREFIX}P{product_id}"


def _detail_key(product_id: int) -> str:
    return f"{PREFIX}d{product_id}"


def _list_key(params: Mapping[str, str]) -> str:
    canonical = "&".join(f"{k}={params[k]}" for k in sorted(params))
    return PREFIX + "l" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _new_version() -> int:
    return secrets.randbits(48) + 1


def _bump(keys: list[str]) -> None:
    for key in keys:
        try:
            try:
                cache.incr(key)
            except ValueError:  # not there (first use, or evicted): start at a fresh random value
                if not cache.add(key, _new_version(), timeout=None):
                    cache.incr(key)
        except CACHE_ERRORS:
            logger.exception("catalog cache: could not bump %s; entries expire within their TTL", key)


def catalog_invalidate(*, product_id: int | None = None) -> None:
    """Make every cached page showing `product_id` (or, with no id, every catalog page) stale.

    Call it for every change that a catalog page shows: product, SKU (price, stock, active),
    category, shelf status, reviews. Safe to call inside or outside a transaction.
    """
    keys = [GEN_KEY, LIST_GEN_KEY] if product_id is None else [_product_key(int(product_id)), LIST_GEN_KEY]
    _bump(keys)
    transaction.on_commit(lambda: _bump(keys))


def _current_versions(found: dict, keys: list[str]) -> tuple[int, ...] | None:
    """The version numbers for `keys`, creating any that is missing. None when the cache fails."""
    versions = []
    for key in keys:
        value = found.get(key)
        if value is None:
            try:
                cache.add(key, _new_version(), timeout=None)
                value = cache.get(key)
            except CACHE_ERRORS:
                logger.exception("catalog cache: could not read %s", key)
                return None
            if value is None:
                return None
        versions.append(int(value))
    return tuple(versions)


class Page(NamedTuple):
    body: bytes
    hit: bool  # served from the cache
    count: int  # the value of `count_key` after this request's increment (0 when not counted)


def _fetch(keys: list[str], count_key: str | None, count_ttl: int) -> tuple[dict, int]:
    """Read `keys` and, with `count_key`, increment that counter — in ONE round trip on Redis."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        pipe = cache_redis_client(backend).pipeline(transaction=False)
        if count_key:
            full_count_key = backend.make_and_validate_key(count_key)
            pipe.incr(full_count_key).expire(full_count_key, count_ttl)
        pipe.mget([backend.make_and_validate_key(k) for k in keys])
        results = pipe.execute()
        loads = backend._cache._serializer.loads
        found = {k: loads(v) for k, v in zip(keys, results[-1], strict=True) if v is not None}
        return found, int(results[0]) if count_key else 0
    found = backend.get_many(keys)
    count = 0
    if count_key:
        if backend.add(count_key, 1, timeout=count_ttl):
            count = 1
        else:
            try:
                count = backend.incr(count_key)
            except ValueError:  # expired in between
                count = 1
    return found, count


def _cached(
    entry_key: str,
    version_keys: list[str],
    ttl: int,
    build: Callable[[], bytes] | None,
    count_key: str | None,
    count_ttl: int,
    check_count: Callable[[int], None] | None,
) -> Page:
    """With build=None, a miss returns Page(None, False, count) instead of rendering."""
    try:
        found, count = _fetch([*version_keys, entry_key], count_key, count_ttl)
    except CACHE_ERRORS:
        logger.exception("catalog cache: read failed; rendering from the database")
        return Page(build() if build is not None else None, False, 0)
    if check_count is not None:
        check_count(count)  # may raise (throttled) before any database work
    versions = _current_versions(found, version_keys)
    entry = found.get(entry_key)
    if versions is not None and isinstance(entry, tuple) and len(entry) == 2 and tuple(entry[0]) == versions:
        return Page(entry[1], True, count)
    if build is None:
        return Page(None, False, count)
    body = build()
    if versions is not None:
        try:
            cache.set(entry_key, (versions, body), timeout=ttl)
        except CACHE_ERRORS:
            logger.exception("catalog cache: write failed")
    return Page(body, False, count)


def catalog_detail_cached(
    *,
    product_id: int,
    build: Callable[[], bytes] | None,
    count_key: str | None = None,
    count_ttl: int = 60,
    check_count: Callable[[int], None] | None = None,
) -> Page:
    """The product detail page's bytes, from the cache or from `build()` (which may raise, e.g.
    NotFound; nothing is cached then). With build=None, a miss returns a Page with body None.

    With `count_key`, a request counter (the caller's rate limit) is incremented in the same
    round trip, and `check_count(count)` runs before any database work.
    """
    return _cached(
        _detail_key(product_id),
        [GEN_KEY, _product_key(product_id)],
        DETAIL_TTL,
        build,
        count_key,
        count_ttl,
        check_count,
    )


def catalog_list_cached(
    *,
    params: Mapping[str, str],
    build: Callable[[], bytes],
    count_key: str | None = None,
    count_ttl: int = 60,
    check_count: Callable[[int], None] | None = None,
) -> Page:
    """A product list page's bytes, keyed by its (validated, canonical) query parameters."""
    return _cached(_list_key(params), [GEN_KEY, LIST_GEN_KEY], LIST_TTL, build, count_key, count_ttl, check_count)
