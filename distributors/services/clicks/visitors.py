"""Who is counted: the visitor id of a click.

The visitor is "u<user id>" for a logged-in user, else "v<random>" from the signed `fx_vid`
cookie (first-party, long-lived; set on the first visit).
"""
from __future__ import annotations

import secrets

from django.core import signing

from core.signing import CachedKeySigner

VISITOR_COOKIE = "fx_vid"
VISITOR_SALT = "distributors.clicks.visitor"
VISITOR_COOKIE_MAX_AGE = 2 * 365 * 86400
MAX_VISITOR_LEN = 48

_signer = CachedKeySigner(salt=VISITOR_SALT)


def visitor_new() -> str:
    """A new anonymous visitor id."""
    return "v" + secrets.token_urlsafe(12)


def visitor_for_user(*, user_id: int) -> str:
    return f"u{int(user_id)}"


def visitor_token_make(*, visitor: str) -> str:
    """The signed `fx_vid` cookie value for a visitor id."""
    return _signer.sign(visitor)


def visitor_token_read(*, token: str | None) -> str | None:
    """The visitor id in a `fx_vid` cookie, or None when it is missing, forged or malformed."""
    if not token or len(token) > 128:
        return None
    try:
        visitor = _signer.unsign(token)
    except signing.BadSignature:
        return None
    if not 2 <= len(visitor) <= MAX_VISITOR_LEN or visitor[0] not in "uv":
        return None
    return visitor
