"""Resolving a code: the `LinkEntry` of a share link, its caches and their invalidation.

A code maps to a `LinkEntry` (link id, distributor id, the distributor's user id, the
distributor's status, the target page path), cached for ENTRY_TTL seconds in Redis (or in
Django's cache without Redis). Unknown codes are cached as "-" for NEGATIVE_TTL seconds, so a
code that is hammered costs the database one indexed query a minute. In write-behind mode a
process also keeps its own copy for LOCAL_ENTRY_TTL seconds (`entry_from_process`).

Invalidation: the entries of a link are deleted whenever the link or its distributor is saved
or deleted, at once and after commit. This is done by post_save/post_delete receivers
(`on_link_changed`, `on_distributor_saved`, connected in DistributorsConfig.ready()), not by
the services: operators edit links and distributors in the Django admin, which saves the
models without going through a service, and a stale entry would keep a frozen distributor's
link setting cookies.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction

from ...models import Distributor, DistributorStatus, ShareLink
from ...targets import target_resolve
from . import store
from .store import RedisError

logger = logging.getLogger(__name__)

ENTRY_TTL = 600
NEGATIVE_TTL = 60
LOCAL_ENTRY_TTL = 10.0  # seconds a process trusts its own copy of an entry (write-behind mode)
LOCAL_ENTRIES_MAX = 20_000


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


def link_target_path(*, link: ShareLink) -> str:
    """The H5 page a link leads to ("/" — the store — when its target is gone or unknown)."""
    try:
        return target_resolve(target_type=link.target_type, target_id=link.target_id,
                              distributor=link.distributor).path
    except Exception:  # noqa: BLE001 - an off-shelf product, an unregistered type: land in the store
        return "/"


def entry_load(code: str) -> LinkEntry | None:
    """The entry from the database (one indexed query), None for an unknown code."""
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


def local_entry_key(code: str) -> str:
    return f"distributors:sl:{code}"


def entry_from_cache(code: str) -> LinkEntry | None:
    """The entry through Django's cache (a per-process LocMemCache without Redis)."""
    try:
        raw = cache.get(local_entry_key(code))
    except RedisError:  # Redis is down: straight from the database
        return entry_load(code)
    if raw is None:
        entry = entry_load(code)
        try:
            cache.set(local_entry_key(code), entry.dumps() if entry else "-",
                      ENTRY_TTL if entry else NEGATIVE_TTL)
        except RedisError:
            pass
        return entry
    return None if raw == "-" else LinkEntry.loads(code, raw)


def link_entry_get(*, code: str) -> LinkEntry | None:
    """Resolve a (normalised) code without counting anything; None when unknown."""
    r = store.click_redis()
    if r is not None:
        try:
            raw = r.client.get(store.entry_key(code))
            if raw is None:
                entry = entry_load(code)
                r.client.set(store.entry_key(code), entry.dumps() if entry else "-",
                             ex=ENTRY_TTL if entry else NEGATIVE_TTL)
                return entry
            raw = store.as_str(raw)
            return None if raw == "-" else LinkEntry.loads(code, raw)
        except RedisError:
            logger.warning("clicks: Redis failed; resolving %s from the database", code, exc_info=True)
    return entry_from_cache(code)


process_entries: dict[str, tuple[LinkEntry | None, float]] = {}


def entry_from_process(code: str) -> LinkEntry | None:
    """The entry from this process's memory (LOCAL_ENTRY_TTL seconds), else Redis, else the DB."""
    now = time.monotonic()
    hit = process_entries.get(code)
    if hit is not None and hit[1] > now:
        return hit[0]
    entry = link_entry_get(code=code)
    if len(process_entries) >= LOCAL_ENTRIES_MAX:
        process_entries.clear()
    process_entries[code] = (entry, now + LOCAL_ENTRY_TTL)
    return entry


def share_link_ref(*, entry: LinkEntry) -> ShareLink:
    """A ShareLink standing for the entry's link (id, code, distributor id) without a query;
    good for foreign keys and `binding_bind(link=...)`, not for saving."""
    return ShareLink(pk=entry.link_id, code=entry.code, distributor_id=entry.distributor_id)


# --- invalidation ---------------------------------------------------------------------------------


def click_link_cache_invalidate(*, codes: Iterable[str]) -> None:
    """Forget the cached entries of these codes (Redis, the local cache, this process's copy)."""
    codes = [c for c in codes if c]
    if not codes:
        return
    for code in codes:
        process_entries.pop(code, None)
    try:
        cache.delete_many([local_entry_key(c) for c in codes])
        r = store.click_redis()
        if r is not None:
            r.client.delete(*[store.entry_key(c) for c in codes])
    except RedisError:
        logger.warning("clicks: could not invalidate %d cached link entries", len(codes), exc_info=True)


def _invalidate_now_and_after_commit(codes: list[str]) -> None:
    click_link_cache_invalidate(codes=codes)
    transaction.on_commit(lambda: click_link_cache_invalidate(codes=codes))


def on_link_changed(sender, instance: ShareLink, **kwargs) -> None:
    """post_save / post_delete of a ShareLink."""
    _invalidate_now_and_after_commit([instance.code])


def distributor_link_entries_invalidate(*, distributor_id: int) -> None:
    """Forget the cached entries of a distributor's links (they carry its status), now and
    again after the commit: for the status changes (which update without saving) and the
    admin's saves (post_save below)."""
    codes = list(ShareLink.objects.filter(distributor_id=distributor_id).values_list("code", flat=True))
    _invalidate_now_and_after_commit(codes)


def on_distributor_saved(sender, instance: Distributor, update_fields=None, **kwargs) -> None:
    """post_save of a Distributor: its links' entries carry its status."""
    if kwargs.get("created") or (update_fields is not None and "status" not in update_fields):
        return
    distributor_link_entries_invalidate(distributor_id=instance.pk)
