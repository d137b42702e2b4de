"""Throttles on the default cache: Redis when it is there, so limits hold across processes."""
from rest_framework import throttling
from rest_framework.settings import api_settings


class _CurrentRates:
    """Read the rates from the settings when a request comes in, not when the class was
    imported, so that REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] overrides (tests) take effect."""

    @property
    def THROTTLE_RATES(self):  # noqa: N802 - the name DRF looks up
        return api_settings.DEFAULT_THROTTLE_RATES


class UserRateThrottle(_CurrentRates, throttling.UserRateThrottle):
    scope = "user"


class AnonRateThrottle(_CurrentRates, throttling.AnonRateThrottle):
    scope = "anon"


class LoginRateThrottle(_CurrentRates, throttling.AnonRateThrottle):
    """Logins are limited per client IP whatever the user."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
