"""Login limits: failed operator logins per username and per client IP, WeChat logins per code and
per openid (docs/operations.md, "Login limits").

Operators (the admin's /admin/login/ and POST /api/v1/auth/login/ both go through
`services.operator_authenticate`, so they share one count):

* Every attempt first takes a place in two fixed-window counters in the default cache (Redis
  when it is there, so every process and both front doors see one count): one for the
  normalised username, one for the client's address (an IPv6 address counts as its /64).
  When either is over its limit (`LOGIN_FAILURES_PER_USERNAME`, `LOGIN_FAILURES_PER_IP` per
  `LOGIN_FAILURE_WINDOW_SECONDS`) the attempt is refused before the password is looked at —
  the right password does not log in either — and gives its place back (a refusal is not a
  failure). Taking the place before the password check keeps the limit exact under a flood
  of parallel guesses.
* A failed attempt keeps its place. A successful one forgets the username's failures (only
  someone with that account's password can do that) but only gives back its own place in the
  address counter: an attacker who owns one account cannot wipe the address's failures by
  logging into it between guesses.
* Fixed windows (`slot = now // window`): a refusal lasts until the window ends, and across a
  boundary up to twice the limit can be tried in a short time — the long-run rate is the limit.
* A cache outage does not lock operators out: the attempt goes through unlimited and the outage
  is logged (as the API's throttles do).

WeChat logins are never counted per address (a carrier NAT puts a town behind one IP): a code
may be tried `LOGIN_WECHAT_CODE_ATTEMPTS` times (it is single-use at WeChat anyway), and one openid
may log in `LOGIN_WECHAT_PER_OPENID_PER_MINUTE` times a minute.

Everything refused or failed is logged on "accounts.login" at WARNING with the username (as typed,
repr-escaped) and the IP, never the password.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from core.cache import cache_decr, cache_incr
from core.errors import TooManyLoginAttempts, TooManyLoginFailures

logger = logging.getLogger("accounts.login")

KEY_PREFIX = "login"
WECHAT_CODE_WINDOW_SECONDS = 600  # WeChat's codes live 5 minutes; a little more
WECHAT_OPENID_WINDOW_SECONDS = 60


def username_normalised(username: str) -> str:
    """One counter for every spelling of a username: NFKC (as Django's forms do), no surrounding
    blanks, case folded. Coarser than the database's match, never finer."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def ip_bucket(ip: str | None) -> str:
    """What an address is counted as: an IPv4 address as is, an IPv6 one as its /64 (one
    subscriber's network), an IPv4-mapped IPv6 as its IPv4; anything unreadable as "unknown"."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return "unknown"
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address), 64), strict=False))
    return str(address)


def _window() -> int:
    return max(1, int(settings.LOGIN_FAILURE_WINDOW_SECONDS))


def _slot_and_wait(window: int, now: float) -> tuple[int, int]:
    slot = int(now // window)
    return slot, max(1, math.ceil((slot + 1) * window - now))


def username_key(username: str, slot: int) -> str:
    digest = hashlib.sha256(username_normalised(username).encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}:fail:u:{digest}:{slot}"


def ip_key(ip: str | None, slot: int) -> str:
    return f"{KEY_PREFIX}:fail:ip:{ip_bucket(ip)}:{slot}"


@dataclass(frozen=True)
class LoginAttempt:
    """One operator login attempt that was let through to the password check."""

    username: str
    ip: str
    username_key: str | None  # None: not counted (limit off, or the cache was down)
    ip_key: str | None
    username_failures: int  # including this attempt
    ip_failures: int


def _log_fields(username: str, ip: str, event: str) -> dict:
    return {"event": event, "login_username": username[:150], "client_ip": ip}


def login_attempt_start(*, username: str, ip: str | None) -> LoginAttempt:
    """Count an operator login attempt before its password is checked; raise TooManyLoginFailures
    (429) when the username or the address is already at its limit."""
    ip = ip or ""
    window = _window()
    slot, wait = _slot_and_wait(window, time.time())
    per_username, per_ip = settings.LOGIN_FAILURES_PER_USERNAME, settings.LOGIN_FAILURES_PER_IP
    ukey = username_key(username, slot) if per_username > 0 else None
    ikey = ip_key(ip, slot) if per_ip > 0 else None
    try:
        n_username = cache_incr(ukey, ttl=window + 1) if ukey else 0
        n_ip = cache_incr(ikey, ttl=window + 1) if ikey else 0
    except Exception:  # noqa: BLE001 - a cache outage must not lock every operator out
        logger.exception("operator login: cache unavailable, not limiting (username=%r ip=%s)", username[:150], ip,
                         extra=_log_fields(username, ip, "login_limits_unavailable"))
        return LoginAttempt(username=username, ip=ip, username_key=None, ip_key=None,
                            username_failures=0, ip_failures=0)
    over = [name for name, count, limit in (("username", n_username, per_username), ("ip", n_ip, per_ip))
            if limit > 0 and count > limit]
    if not over:
        return LoginAttempt(username=username, ip=ip, username_key=ukey, ip_key=ikey,
                            username_failures=n_username, ip_failures=n_ip)
    # Refused without looking at the password; the places taken are given back (not a failure).
    for key in (ukey, ikey):
        if key:
            _give_back(key)
    logger.warning(
        "operator login refused: too many failures for the %s (username=%r ip=%s, failures %d/%d per username "
        "and %d/%d per address in %d s); refused for %d s more",
        " and ".join(over), username[:150], ip, max(n_username - 1, 0), per_username, max(n_ip - 1, 0), per_ip,
        window, wait,
        extra=_log_fields(username, ip, "login_refused"),
    )
    minutes = math.ceil(wait / 60)
    raise TooManyLoginFailures(
        "Too many failed logins for this username or from this address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        extra={"retry_after_seconds": wait, "limits": over},
    )


def _give_back(key: str) -> None:
    try:
        cache_decr(key)
    except Exception:  # noqa: BLE001 - the count is only a little high until the window ends
        logger.exception("operator login: could not take back a count in the cache")


def login_attempt_failed(*, attempt: LoginAttempt, reason: str) -> None:
    """The password check said no: the attempt keeps its place in both counters. Logged."""
    logger.warning(
        "operator login failed (%s): username=%r ip=%s, failures %d/%d per username and %d/%d per address",
        reason, attempt.username[:150], attempt.ip, attempt.username_failures, settings.LOGIN_FAILURES_PER_USERNAME,
        attempt.ip_failures, settings.LOGIN_FAILURES_PER_IP,
        extra=_log_fields(attempt.username, attempt.ip, "login_failed"),
    )


def login_attempt_succeeded(*, attempt: LoginAttempt) -> None:
    """Logged in: forget the username's failures; give back only this attempt's place at the address."""
    try:
        if attempt.username_key:
            cache.delete(attempt.username_key)
    except Exception:  # noqa: BLE001
        logger.exception("operator login: could not reset the username's failures")
    if attempt.ip_key:
        _give_back(attempt.ip_key)
    logger.info("operator login: username=%r ip=%s", attempt.username[:150], attempt.ip,
                extra=_log_fields(attempt.username, attempt.ip, "login_ok"))


def _keys(*, username: str | None, ip: str | None) -> list[str]:
    """The current and the previous window's counters (the one being refused is one of them)."""
    slot = int(time.time() // _window())
    keys = []
    for s in (slot, slot - 1):
        if username is not None:
            keys.append(username_key(username, s))
        if ip is not None:
            keys.append(ip_key(ip, s))
    return keys


def login_failures_get(*, username: str | None = None, ip: str | None = None) -> dict[str, int]:
    """Failures counted in the current window: {"username": n, "ip": n} for what was asked."""
    slot = int(time.time() // _window())
    asked = {"username": username_key(username, slot) if username is not None else None,
             "ip": ip_key(ip, slot) if ip is not None else None}
    found = cache.get_many([k for k in asked.values() if k])
    return {name: int(found.get(key) or 0) for name, key in asked.items() if key}


def login_failures_clear(*, username: str | None = None, ip: str | None = None) -> None:
    """Unlock a username and/or an address now (`manage.py login_unlock`)."""
    keys = _keys(username=username, ip=ip)
    if keys:
        cache.delete_many(keys)
        logger.warning("operator login: failures cleared by hand (username=%r ip=%s)",
                       (username or "")[:150], ip or "", extra=_log_fields(username or "", ip or "", "login_unlock"))


def _count(key: str, ttl: int) -> int | None:
    try:
        return cache_incr(key, ttl=ttl)
    except Exception:  # noqa: BLE001
        logger.exception("wechat login: cache unavailable, not limiting")
        return None


def wechat_code_attempt_register(*, code: str) -> None:
    """Count one use of a WeChat OAuth code (before it is sent to WeChat); past
    LOGIN_WECHAT_CODE_ATTEMPTS it is refused without calling WeChat (429 too_many_login_attempts)."""
    limit = settings.LOGIN_WECHAT_CODE_ATTEMPTS
    if limit <= 0:
        return
    digest = hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()[:32]
    count = _count(f"{KEY_PREFIX}:wx:code:{digest}", WECHAT_CODE_WINDOW_SECONDS)
    if count is not None and count > limit:
        logger.warning("wechat login refused: code sha256:%s tried %d times", digest[:12], count,
                       extra={"event": "wechat_login_refused", "limit": "code"})
        raise TooManyLoginAttempts(
            "This WeChat login code was tried too many times; start the login again.", extra={"limit": "code"}
        )


def wechat_openid_login_register(*, openid: str) -> None:
    """Count one login of `openid` (after WeChat named it, before a token is issued); past
    LOGIN_WECHAT_PER_OPENID_PER_MINUTE in a minute it is refused (429 too_many_login_attempts)."""
    limit = settings.LOGIN_WECHAT_PER_OPENID_PER_MINUTE
    if limit <= 0:
        return
    slot, wait = _slot_and_wait(WECHAT_OPENID_WINDOW_SECONDS, time.time())
    count = _count(f"{KEY_PREFIX}:wx:openid:{openid}:{slot}", WECHAT_OPENID_WINDOW_SECONDS + 1)
    if count is not None and count > limit:
        logger.warning("wechat login refused: openid %s logged in %d times this minute", openid, count,
                       extra={"event": "wechat_login_refused", "limit": "openid"})
        raise TooManyLoginAttempts(
            f"Too many logins of this WeChat user; try again in {wait} s.",
            extra={"limit": "openid", "retry_after_seconds": wait},
        )
