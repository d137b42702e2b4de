"""Writes for users, tokens and follows."""
from __future__ import annotations

import hashlib
import ipaddress
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, InvalidInput, NotAuthenticated
from wechat.oauth import WechatIdentity, oauth_identity_from_code

from . import login_limits, token_cache
from .models import AuthToken, Follow, User


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def ip_or_none(value: str | None) -> str | None:
    """A valid IPv4/IPv6 address as text, else None (a forged or garbled header is not stored)."""
    if not value or not isinstance(value, str) or len(value) > 45:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def token_issue(*, user: User, user_agent: str = "", ip: str | None = None) -> str:
    """Create a Bearer token for `user` and return it. Only its hash is stored; the login's
    user agent and IP are kept for the withdrawal risk signals."""
    raw = secrets.token_urlsafe(32)
    AuthToken.objects.create(
        user=user,
        key_hash=token_hash(raw),
        prefix=raw[:8],
        expires_at=timezone.now() + settings.AUTH_TOKEN_TTL,
        user_agent=user_agent[:256],
        ip=ip_or_none(ip),
    )
    return raw


# Revocations drop the token from this process's token cache at once (and again on commit);
# other processes stop accepting it within AUTH_TOKEN_CACHE_SECONDS (accounts/token_cache.py).
def token_revoke(*, raw: str) -> bool:
    """Revoke one token. Returns False when it was unknown or already revoked."""
    key_hash = token_hash(raw)
    revoked = AuthToken.objects.filter(key_hash=key_hash, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token_cache.forget_hash(key_hash)
    return bool(revoked)


def token_revoke_by_id(*, token_id: int) -> bool:
    revoked = AuthToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token_cache.forget_token(token_id)
    return bool(revoked)


def token_revoke_all(*, user: User) -> int:
    revoked = AuthToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token_cache.forget_user(user.pk)
    return revoked


def token_purge_expired() -> int:
    cutoff = timezone.now() - timedelta(days=1)
    deleted, _ = AuthToken.objects.filter(expires_at__lt=cutoff).delete()
    deleted_revoked, _ = AuthToken.objects.filter(revoked_at__lt=cutoff).delete()
    return deleted + deleted_revoked


def _username_for_openid(openid: str) -> str:
    return f"wx_{hashlib.sha256(openid.encode()).hexdigest()[:24]}"


def user_upsert_from_wechat(*, identity: WechatIdentity) -> tuple[User, bool]:
    """Find the user by openid, or create them. Safe under concurrent first logins."""
    defaults = {
        "username": _username_for_openid(identity.openid),
        "unionid": identity.unionid,
        "nickname": identity.nickname[:64],
        "avatar_url": identity.avatar_url[:512],
    }
    try:
        with transaction.atomic():
            user, created = User.objects.get_or_create(openid=identity.openid, defaults=defaults)
    except IntegrityError:  # a concurrent login created it first
        user, created = User.objects.get(openid=identity.openid), False
    if not created:
        changed = {}
        if identity.nickname and identity.nickname != user.nickname:
            changed["nickname"] = identity.nickname[:64]
        if identity.avatar_url and identity.avatar_url != user.avatar_url:
            changed["avatar_url"] = identity.avatar_url[:512]
        if identity.unionid and identity.unionid != user.unionid:
            changed["unionid"] = identity.unionid
        if changed:
            User.objects.filter(pk=user.pk).update(**changed)
            for key, value in changed.items():
                setattr(user, key, value)
    if not user.is_active:
        raise NotAuthenticated("This account is disabled.", code="account_disabled")
    return user, created


def auth_login_wechat(*, code: str, user_agent: str = "", ip: str | None = None) -> tuple[str, User]:
    """Exchange a WeChat OAuth code for a user and a Bearer token. Limited per code (before WeChat is
    asked) and per openid (after), never per address: see accounts/login_limits.py."""
    login_limits.wechat_code_attempt_register(code=code)
    identity = oauth_identity_from_code(code=code)
    login_limits.wechat_openid_login_register(openid=identity.openid)
    user, _ = user_upsert_from_wechat(identity=identity)
    return token_issue(user=user, user_agent=user_agent, ip=ip), user


def operator_authenticate(*, username: str, password: str, ip: str | None = None) -> User:
    """Check an operator's password: the one door of the admin's login form and the API's operator
    login, so both share one count of failures per username and per address. Refused (429
    TooManyLoginFailures) before the password is checked when either is at its limit; a wrong
    password, an unknown, inactive or non-staff user is 401 invalid_credentials and counts."""
    attempt = login_limits.login_attempt_start(username=username, ip=ip)
    user = authenticate(username=username, password=password)
    if user is None or not user.is_staff:
        login_limits.login_attempt_failed(attempt=attempt,
                                          reason="wrong credentials" if user is None else "not staff")
        raise NotAuthenticated("Wrong username or password.", code="invalid_credentials")
    login_limits.login_attempt_succeeded(attempt=attempt)
    return user


def auth_login_operator(*, username: str, password: str, user_agent: str = "",
                        ip: str | None = None) -> tuple[str, User]:
    """Operators log in with a password (`operator_authenticate`: only active staff, limited)."""
    user = operator_authenticate(username=username, password=password, ip=ip)
    return token_issue(user=user, user_agent=user_agent, ip=ip), user


def follow_create(*, follower: User, followee: User, source: str = "") -> tuple[Follow, bool]:
    """`follower` follows `followee`; following twice is a no-op."""
    if follower.pk == followee.pk:
        raise InvalidInput("You cannot follow yourself.", code="self_follow")
    try:
        with transaction.atomic():
            return Follow.objects.get_or_create(follower=follower, followee=followee, defaults={"source": source})
    except IntegrityError:
        return Follow.objects.get(follower=follower, followee=followee), False


def follow_ensure(*, follower_id: int, followee_id: int, source: str = "") -> None:
    """`follower` follows `followee` if not already (no error for oneself: nothing happens). One
    INSERT … ON CONFLICT DO NOTHING, no savepoint and no read: for hot paths such as a grab."""
    if follower_id == followee_id:
        return
    Follow.objects.bulk_create([Follow(follower_id=follower_id, followee_id=followee_id, source=source)],
                               ignore_conflicts=True)


def follow_delete(*, follower: User, followee: User) -> None:
    deleted, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
    if not deleted:
        raise Conflict("You do not follow this user.", code="not_following")
