"""Reads for users, tokens and follows."""
from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from .models import AuthToken, Follow, User
from .services import token_hash


def token_get_active(*, raw: str) -> AuthToken | None:
    """The live (unexpired, unrevoked) token for `raw`, with its user, or None."""
    if not raw or len(raw) > 128:
        return None
    return (
        AuthToken.objects.select_related("user")
        .filter(key_hash=token_hash(raw), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


def user_following(*, user: User) -> QuerySet[Follow]:
    return Follow.objects.filter(follower=user).select_related("followee").order_by("-created_at", "-id")


def user_followers(*, user: User) -> QuerySet[Follow]:
    return Follow.objects.filter(followee=user).select_related("follower").order_by("-created_at", "-id")
