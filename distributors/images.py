"""Share-link images (QR codes, posters, mini-program codes) through Django's cache.

Images are cached as (etag, bytes): the ETag is a hash of the bytes themselves (a strong
validator). A cache outage never takes the images down: a failed get is a miss, a failed set
is logged (the image is rendered every time: slower, still correct).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)

IMAGE_CACHE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class CachedImage:
    body: bytes
    etag: str  # quoted, strong: '"…"'
    content_type: str
    hit: bool


def image_cache_get(key: str):
    """The cached value, or None when missing or when the cache cannot be reached."""
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage must not take the images down
        logger.warning("share link images: cache unreachable (get %s)", key, exc_info=True)
        return None


def image_cache_set(key: str, value, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception:  # noqa: BLE001
        logger.warning("share link images: cache unreachable (set %s)", key, exc_info=True)


def image_cached(key: str, *, content_type: str) -> CachedImage | None:
    """The cached image under `key`, or None."""
    found = image_cache_get(key)
    if isinstance(found, tuple) and len(found) == 2:
        return CachedImage(body=found[1], etag=found[0], content_type=content_type, hit=True)
    return None


def image_store(key: str, body: bytes, *, content_type: str, timeout: int) -> CachedImage:
    """Cache a freshly rendered image (with its ETag) and return it."""
    etag = image_etag(body)
    image_cache_set(key, (etag, body), timeout)
    return CachedImage(body=body, etag=etag, content_type=content_type, hit=False)


def image_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
