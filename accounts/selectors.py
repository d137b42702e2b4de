"""Reads for users, tokens and follows."""
from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from . import token_cache
from .models import AuthToken, Follow, User
from .services import token_hash


def _token_live(key_hash: str) -> AuthToken | None:
    return (
        AuthToken.objects.select_related("user")
        .filter(key_hash=key_hash, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


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
