"""A per-process cache of live Bearer tokens, so that authenticating a request costs no query.

`token hash → (the user's and the token's column values, the token's expiry)`, kept for
`AUTH_TOKEN_CACHE_SECONDS` (default 1; 0 turns the cache off) after the database said the
token was live and its user active. Every process (every gunicorn worker) has its own cache
and nothing is sent between processes: a logout, a revocation, a deactivated user or a staff
flag removed by another process is seen here at the latest when the entry goes stale, within
`AUTH_TOKEN_CACHE_SECONDS`. In this process the token services (`token_revoke*`) and every
`User.save()` drop the entries concerned at once (and again when their transaction commits),
so a logout answered here is refused by the next request here. A token's own expiry is checked
on every hit, so an expired token is refused at its expiry, not a second later.

Each hit builds a new `User` and `AuthToken` from the stored values (`Model.from_db`, no query):
a request never sees another request's instance, so what one request caches on its
`request.user` (Django's permission cache of `has_perm`, a related object, a changed
attribute) never reaches another; permissions themselves are not cached here (`has_perm`
queries them per request, as before), so removing one takes effect at once.

Thread-safe (one lock around an OrderedDict; gthread workers share it) and bounded: the least
recently used entries go beyond `MAX_ENTRIES`. A forget during a database read makes the read's
result unstorable (a generation counter), so a revocation can never be overwritten by a
lookup that started before it.
"""
from __future__ import annotations

import copy
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from .models import AuthToken, User

MAX_ENTRIES = 10_000

# The clock of freshness; tests replace it to move time forward without sleeping.
clock = time.monotonic

_IMMUTABLE = (str, int, float, bool, type(None), datetime, date, time_of_day, Decimal, uuid.UUID, bytes)
_USER_FIELDS = tuple(f.attname for f in User._meta.concrete_fields)
_TOKEN_FIELDS = tuple(f.attname for f in AuthToken._meta.concrete_fields)


def cache_seconds() -> float:
    return float(getattr(settings, "AUTH_TOKEN_CACHE_SECONDS", 0) or 0)


def answer_seconds() -> float:
    """How old a cache entry may be for answers that change nothing and reveal only what the
    token's own user may know (the red-envelope grab's 409 "already grabbed" / "empty", see
    `lookup_user_id`): AUTH_TOKEN_ANSWER_SECONDS (default 300), never less than the cache's own."""
    return max(float(getattr(settings, "AUTH_TOKEN_ANSWER_SECONDS", 0) or 0), cache_seconds())


@dataclass(frozen=True, slots=True)
class Entry:
    verified_at: float  # on `clock`: when the database last said the token was live
    expires_at: datetime  # the token's own expiry (wall clock)
    user_id: int
    token_id: int
    db: str
    user_values: tuple
    token_values: tuple
    shared: bool  # every value immutable: the tuples may be handed out as they are


class TokenCache:
    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._by_user: dict[int, set[str]] = {}
        self._by_token: dict[int, str] = {}
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def generation(self) -> int:
        return self._generation

    def get(self, key_hash: str, *, now: float, max_age: float) -> Entry | None:
        """The entry if the database vouched for it less than `max_age` seconds ago. Older ones are
        dropped only when older than the longest age any reader accepts (`answer_seconds`)."""
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is None:
                return None
            if entry.verified_at + max_age <= now:
                if entry.verified_at + answer_seconds() <= now:
                    self._drop(key_hash)
                return None
            self._entries.move_to_end(key_hash)
            return entry

    def put(self, key_hash: str, entry: Entry, *, generation: int) -> bool:
        """Store `entry` unless something was forgotten since `generation` was read."""
        with self._lock:
            if generation != self._generation:
                return False
            self._drop(key_hash)
            self._entries[key_hash] = entry
            self._by_user.setdefault(entry.user_id, set()).add(key_hash)
            self._by_token[entry.token_id] = key_hash
            while len(self._entries) > self.max_entries:
                self._drop(next(iter(self._entries)))
            return True

    def forget_hash(self, key_hash: str) -> None:
        with self._lock:
            self._generation += 1
            self._drop(key_hash)

    def forget_token(self, token_id: int) -> None:
        with self._lock:
            self._generation += 1
            key_hash = self._by_token.get(token_id)
            if key_hash is not None:
                self._drop(key_hash)

    def forget_user(self, user_id: int) -> None:
        with self._lock:
            self._generation += 1
            for key_hash in list(self._by_user.get(user_id, ())):
                self._drop(key_hash)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._by_user.clear()
            self._by_token.clear()

    def _drop(self, key_hash: str) -> None:  # under the lock
        entry = self._entries.pop(key_hash, None)
        if entry is None:
            return
        hashes = self._by_user.get(entry.user_id)
        if hashes is not None:
            hashes.discard(key_hash)
            if not hashes:
                del self._by_user[entry.user_id]
        if self._by_token.get(entry.token_id) == key_hash:
            del self._by_token[entry.token_id]


cache = TokenCache()


def _entry(key_hash: str, max_age: float) -> Entry | None:
    entry = cache.get(key_hash, now=clock(), max_age=max_age)
    if entry is None:
        return None
    if entry.expires_at <= timezone.now():
        cache.forget_hash(key_hash)
        return None
    return entry


def lookup(key_hash: str) -> tuple[User, AuthToken] | None:
    """A fresh (user, token) pair built from the cache without a query, or None on a miss, a
    stale entry or a token past its expiry."""
    entry = _entry(key_hash, cache_seconds())
    if entry is None:
        return None
    user_values, token_values = entry.user_values, entry.token_values
    if not entry.shared:
        user_values, token_values = copy.deepcopy(user_values), copy.deepcopy(token_values)
    user = User.from_db(entry.db, _USER_FIELDS, user_values)
    token = AuthToken.from_db(entry.db, _TOKEN_FIELDS, token_values)
    token.user = user
    return user, token


def lookup_user_id(key_hash: str, *, max_age: float) -> int | None:
    """The user id of a token the database said was live (and its user active) less than
    `max_age` seconds ago in this process, or None; no objects built."""
    entry = _entry(key_hash, max_age)
    return None if entry is None else entry.user_id


def begin() -> tuple[float, int]:
    """Call before reading the token from the database; hand the result to `store`."""
    return clock(), cache.generation()


def store(key_hash: str, token: AuthToken, *, began: tuple[float, int]) -> bool:
    """Keep a token just read (with its active user) for `AUTH_TOKEN_CACHE_SECONDS` from `began`."""
    seconds = cache_seconds()
    if seconds <= 0:
        return False
    user = token.user
    user_values = tuple(getattr(user, name) for name in _USER_FIELDS)
    token_values = tuple(getattr(token, name) for name in _TOKEN_FIELDS)
    shared = all(isinstance(v, _IMMUTABLE) for v in user_values + token_values)
    entry = Entry(
        verified_at=began[0], expires_at=token.expires_at, user_id=user.pk, token_id=token.pk,
        db=token._state.db or "default", user_values=user_values, token_values=token_values, shared=shared,
    )
    return cache.put(key_hash, entry, generation=began[1])


def _now_and_on_commit(forget, key) -> None:
    forget(key)
    if transaction.get_connection().in_atomic_block:
        # A lookup between now and the commit still reads the old row: forget again then.
        transaction.on_commit(lambda: forget(key))


def forget_hash(key_hash: str) -> None:
    _now_and_on_commit(cache.forget_hash, key_hash)


def forget_token(token_id: int) -> None:
    _now_and_on_commit(cache.forget_token, token_id)


def forget_user(user_id: int) -> None:
    _now_and_on_commit(cache.forget_user, user_id)


def _user_saved(sender, instance, created=False, **kwargs) -> None:
    if not created and instance.pk is not None:
        forget_user(instance.pk)  # is_active, is_staff, is_superuser, nickname… take effect here at once


def _user_deleted(sender, instance, **kwargs) -> None:
    forget_user(instance.pk)


def _token_changed(sender, instance, created=False, **kwargs) -> None:
    if not created:
        forget_token(instance.pk)


post_save.connect(_user_saved, sender=User, dispatch_uid="accounts.token_cache.user_saved")
post_delete.connect(_user_deleted, sender=User, dispatch_uid="accounts.token_cache.user_deleted")
post_save.connect(_token_changed, sender=AuthToken, dispatch_uid="accounts.token_cache.token_saved")
post_delete.connect(_token_changed, sender=AuthToken, dispatch_uid="accounts.token_cache.token_deleted")
