"""Recording a click: `click_record(code=, visitor=)`, the one call of `/s/{code}`'s counting.

Three paths, chosen per click:

* write-behind (Redis, CLICKS_WRITE_BEHIND_MS > 0, the default 50 ms): the entry comes from
  this process's 10-second copy (else Redis, else the database) and the click goes to the
  buffer (buffer.py) — no I/O in the request. An entry change (a frozen distributor, a deleted
  link) reaches other processes within 10 s (bindings and attribution always re-check the
  distributor in the database).
* synchronous Redis (CLICKS_WRITE_BEHIND_MS=0): ONE round trip per click (CLICK_LUA also
  reads the cached entry; a second round trip only when the entry is not cached).
* the database (no Redis, or Redis failed): counts.py, in one transaction.

The distributor's own clicks count as neither page views nor unique visitors (decision:
clicks measure the reach of a link to *other* people, and they are the denominator of
conversion rate and earnings per click). A repeat visit by the same visitor on the same day
is a page view but not a new unique visitor.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone

from . import store
from .buffer import click_buffer, write_behind_seconds
from .counts import click_count_db
from .entries import ENTRY_TTL, NEGATIVE_TTL, LinkEntry, entry_from_cache, entry_from_process, entry_load
from .store import RedisError
from .visitors import visitor_for_user

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClickResult:
    entry: LinkEntry
    counted: bool  # a page view was counted (False for the distributor's own click)
    new_visitor: bool | None  # ... and it was this visitor's first visit today (None: not known yet, buffered)

    @property
    def own(self) -> bool:
        return not self.counted


def _click_db(*, entry: LinkEntry, visitor: str, day: date) -> ClickResult:
    if visitor == visitor_for_user(user_id=entry.distributor_user_id):
        return ClickResult(entry, False, False)
    new = click_count_db(link_id=entry.link_id, distributor_id=entry.distributor_id, visitor=visitor, day=day)
    return ClickResult(entry, True, new)


def _click_redis(r: store.ClickRedis, *, code: str, visitor: str, day: date) -> ClickResult | None:
    pv_key, uv_key = store.counter_keys(store.shard(code), day)
    keys = [store.entry_key(code), pv_key, uv_key, store.visitor_set_key(code, day)]
    args = [visitor, store.COUNTER_TTL, store.VISITOR_TTL]
    out = r.click(keys=keys, args=args)
    if out is None:  # not cached: load it, cache it, and count again
        entry = entry_load(code)
        r.client.set(keys[0], entry.dumps() if entry else "-", ex=ENTRY_TTL if entry else NEGATIVE_TTL)
        out = r.click(keys=keys, args=args)
        if out is None:  # invalidated in between: count on the database this once
            return _click_db(entry=entry, visitor=visitor, day=day) if entry else None
    raw = store.as_str(out[0])
    if raw == "-":
        return None
    return ClickResult(LinkEntry.loads(code, raw), bool(int(out[1])), bool(int(out[2])))


def _click_buffered(*, code: str, visitor: str, day: date) -> ClickResult | None:
    entry = entry_from_process(code)
    if entry is None:
        return None
    if visitor == visitor_for_user(user_id=entry.distributor_user_id):
        return ClickResult(entry, False, False)
    if not click_buffer().add((code, entry.link_id, entry.distributor_id, visitor, day)):
        return _click_db(entry=entry, visitor=visitor, day=day)
    return ClickResult(entry, True, None)


def click_record(*, code: str, visitor: str, now: datetime | None = None) -> ClickResult | None:
    """Count a visit of `code` by `visitor` ("u<id>" or "v<random>"); None for an unknown code.

    `code` must already be normalised (distributors.codes.code_normalise)."""
    day = timezone.localdate(now) if now is not None else timezone.localdate()
    r = store.click_redis()
    if r is not None:
        try:
            if write_behind_seconds():
                return _click_buffered(code=code, visitor=visitor, day=day)
            return _click_redis(r, code=code, visitor=visitor, day=day)
        except RedisError:
            logger.warning("clicks: Redis failed; counting this click in the database", exc_info=True)
    entry = entry_from_cache(code)
    if entry is None:
        return None
    return _click_db(entry=entry, visitor=visitor, day=day)
