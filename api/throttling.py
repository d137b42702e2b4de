"""Throttles on the default cache: Redis when it is there, so limits hold across processes.

Fixed windows: each client has one counter per window (one pipelined INCR + EXPIRE on Redis,
core.cache.cache_incr), so a request costs the same whatever the rate. DRF's own throttles
keep a list of request times per client — up to `rate` entries — and unpickle and rewrite it
on every request, which at
600/min is most of a cheap endpoint's cost. The price: a client may make up to twice the rate
across a window boundary, which is fine for abuse protection. If the cache cannot be reached
the request is let through (and logged): throttling must not take the API down.
"""
import logging

from django.conf import settings
from rest_framework import throttling
from rest_framework.settings import api_settings

from core.cache import cache_incr
from core.net import client_ip

logger = logging.getLogger(__name__)


class _FixedWindow:
    """Mixed into DRF's SimpleRateThrottle subclasses (which provide rate, key and ident logic)."""

    @property
    def THROTTLE_RATES(self):  # noqa: N802 - the name DRF looks up
        # Read when a request comes in, not at import, so settings overrides (tests) apply.
        return api_settings.DEFAULT_THROTTLE_RATES

    def counter(self, request, view) -> tuple[str, int] | None:
        """(the cache key of this client's counter in the current window, its lifetime in
        seconds), or None when this throttle does not apply. `allow_request` increments it; a
        caller that batches Redis round trips (api/grab_route.py) increments it itself with
        core.cache and hands the count to `allowed`."""
        if self.rate is None:
            return None
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return None
        now = self.timer()
        slot = int(now // self.duration)
        self._wait = (slot + 1) * self.duration - now
        return f"tw{slot}:{self.key}", int(self.duration) + 1

    def allowed(self, count: int) -> bool:
        return count <= self.num_requests

    def allow_request(self, request, view):
        found = self.counter(request, view)
        if found is None:
            return True
        key, ttl = found
        try:
            count = cache_incr(key, ttl=ttl)
        except Exception:  # noqa: BLE001 - a cache outage must not block requests
            logger.exception("throttle: cache unavailable, letting the request through")
            return True
        return self.allowed(count)

    def wait(self):
        return max(self._wait, 0.0)


class UserRateThrottle(_FixedWindow, throttling.UserRateThrottle):
    scope = "user"


class AnonRateThrottle(_FixedWindow, throttling.AnonRateThrottle):
    scope = "anon"


class LoginRateThrottle(_FixedWindow, throttling.AnonRateThrottle):
    """Operator logins (POST /api/v1/auth/login/) per client IP whatever the user, successes too: a
    ceiling on password checks. Failed logins have their own, shared limit with the admin
    (accounts/login_limits.py); WeChat logins use WechatLoginRateThrottle."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WechatLoginRateThrottle(_FixedWindow, throttling.AnonRateThrottle):
    """A ceiling on WeChat logins per client IP, far above what a carrier NAT (a town behind one
    address) sends: settings.LOGIN_WECHAT_PER_IP (600/min; None: no ceiling). It only stops floods
    of made-up codes; the real limits are per code and per openid (accounts/login_limits.py)."""

    scope = "wechat_login"

    def get_rate(self):
        return settings.LOGIN_WECHAT_PER_IP

    def get_ident(self, request):
        return client_ip(request)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class GrabRateThrottle(_FixedWindow, throttling.UserRateThrottle):
    """Red-envelope grabs per user (settings.THROTTLE_GRAB, default 30/min): a person grabs a
    handful of envelopes a minute; a script hammering the endpoint is cut off (429) before
    the gate."""

    scope = "grab"

    def get_rate(self):
        return settings.THROTTLE_GRAB or None
