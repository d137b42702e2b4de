"""Throttles on the default cache: Redis when it is there, so limits hold across processes."""
from rest_framework import throttling


class UserRateThrottle(throttling.UserRateThrottle):
    scope = "user"


class AnonRateThrottle(throttling.AnonRateThrottle):
    scope = "anon"


class LoginRateThrottle(throttling.AnonRateThrottle):
    """Logins are limited per client IP whatever the user."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
