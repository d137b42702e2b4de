"""Reads for users, tokens and follows."""
from __future__ import annotations

from django.db import connections, router
from django.db.models import QuerySet
from django.utils import timezone

from . import token_cache
from .models import AuthToken, Follow, User
from .services import token_hash


class _TokenRead:
    """The live token with its user in one plain SELECT (what
    `AuthToken.objects.select_related("user").filter(key_hash=…, revoked_at__isnull=True,
    expires_at__gt=now).first()` asks), without building the query each time: on a request that
    authenticates a token not cached yet, the ORM's query building was most of the work. Rows
    become instances through `Model.from_db` after each field's database converters, as the ORM
    does; tests/api/test_auth_cache.py holds them equal to the ORM's."""

    def __init__(self, alias: str):
        conn = connections[alias]
        q = conn.ops.quote_name
        self.token_fields = AuthToken._meta.concrete_fields
        self.user_fields = User._meta.concrete_fields
        cols = [f"t.{q(f.column)}" for f in self.token_fields] + [f"u.{q(f.column)}" for f in self.user_fields]

        def tcol(name: str) -> str:
            return "t." + q(AuthToken._meta.get_field(name).column)

        # Names from the models' metadata only (quoted); the values are parameters.
        self.sql = (
            f"SELECT {', '.join(cols)} FROM {q(AuthToken._meta.db_table)} t "  # noqa: S608
            f"JOIN {q(User._meta.db_table)} u ON u.{q(User._meta.pk.column)} = {tcol('user')} "
            f"WHERE {tcol('key_hash')} = %s AND {tcol('revoked_at')} IS NULL AND {tcol('expires_at')} > %s"
        )
        self.cols = [field.get_col(field.model._meta.db_table) for field in [*self.token_fields, *self.user_fields]]
        self.converters = [conn.ops.get_db_converters(col) + col.get_db_converters(conn) for col in self.cols]

    def __call__(self, alias: str, key_hash: str) -> AuthToken | None:
        conn = connections[alias]
        with conn.cursor() as cursor:
            cursor.execute(self.sql, [key_hash, timezone.now()])
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row)
        for i, converters in enumerate(self.converters):
            for converter in converters:
                values[i] = converter(values[i], self.cols[i], conn)
        n = len(self.token_fields)
        token = AuthToken.from_db(alias, [f.attname for f in self.token_fields], values[:n])
        token.user = User.from_db(alias, [f.attname for f in self.user_fields], values[n:])
        return token


_token_reads: dict[str, _TokenRead] = {}


def _token_live(key_hash: str) -> AuthToken | None:
    alias = router.db_for_read(AuthToken)
    read = _token_reads.get(alias)
    if read is None:
        read = _token_reads[alias] = _TokenRead(alias)
    return read(alias, key_hash)


def token_get_active(*, raw: str) -> AuthToken | None:
    """The live (unexpired, unrevoked) token for `raw`, with its user, or None. Always asks the
    database; requests authenticate with `token_authenticate`."""
    if not raw or len(raw) > 128:
        return None
    return _token_live(token_hash(raw))


def token_authenticate(*, raw: str) -> tuple[User, AuthToken] | None:
    """The active user and the live token of a Bearer token `raw`, or None (unknown, expired,
    revoked, or its user disabled). Served without a query from the per-process token cache
    for `AUTH_TOKEN_CACHE_SECONDS` after a database read (`accounts/token_cache.py`: what a
    revocation elsewhere takes to be seen here); each call gets its own user and token objects."""
    if not raw or len(raw) > 128:
        return None
    key_hash = token_hash(raw)
    caching = token_cache.cache_seconds() > 0
    if caching:
        hit = token_cache.lookup(key_hash)
        if hit is not None:
            return hit
        began = token_cache.begin()
    token = _token_live(key_hash)
    if token is None or not token.user.is_active:
        return None
    if caching:
        token_cache.store(key_hash, token, began=began)
    return token.user, token


def token_user_id(*, raw: str, fresh: bool = False) -> tuple[int | None, bool]:
    """(the user id of Bearer token `raw`, whether that is fresh) for routes that need no user
    object (api/grab_route.py). Fresh: the database vouched for the token within
    AUTH_TOKEN_CACHE_SECONDS (or was asked now), as `token_authenticate` requires. Unless `fresh`
    is demanded, an entry this process verified within AUTH_TOKEN_ANSWER_SECONDS is returned as
    not fresh: good only for answers that change nothing and tell the token's user only what
    they may know. (None, True) when the token is unknown, expired or revoked, or its user disabled."""
    if not raw or len(raw) > 128:
        return None, True
    key_hash = token_hash(raw)
    if token_cache.cache_seconds() > 0:
        user_id = token_cache.lookup_user_id(key_hash, max_age=token_cache.cache_seconds())
        if user_id is not None:
            return user_id, True
        if not fresh:
            user_id = token_cache.lookup_user_id(key_hash, max_age=token_cache.answer_seconds())
            if user_id is not None:
                return user_id, False
    found = token_authenticate(raw=raw)
    return (found[0].pk if found else None), True


def user_following(*, user: User) -> QuerySet[Follow]:
    return Follow.objects.filter(follower=user).select_related("followee").order_by("-created_at", "-id")


def user_followers(*, user: User) -> QuerySet[Follow]:
    return Follow.objects.filter(followee=user).select_related("follower").order_by("-created_at", "-id")
