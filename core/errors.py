"""Domain errors. Services raise these; api/errors.py turns them into the JSON error shape.

Every error has a stable `code` (see ../shared/API.md) and a human message. The HTTP
status is chosen by the error's class, so domain code never deals in HTTP.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None, extra: dict[str, Any] | None = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.extra = extra or {}
        super().__init__(self.message)


class InvalidInput(DomainError):
    """400: the input is wrong in itself."""

    code = "invalid"
    default_message = "Invalid input."


class NotAuthenticated(DomainError):
    """401."""

    code = "not_authenticated"
    default_message = "Authentication credentials were not provided or are not valid."


class Forbidden(DomainError):
    """403."""

    code = "permission_denied"
    default_message = "You are not allowed to do this."


class NotFound(DomainError):
    """404 (also for objects that belong to another user)."""

    code = "not_found"
    default_message = "Not found."


class Conflict(DomainError):
    """409: the request conflicts with the current state."""

    code = "conflict"
    default_message = "The request conflicts with the current state."


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_message = "This change is not allowed from the current status."


class InsufficientBalance(Conflict):
    code = "insufficient_balance"
    default_message = "The balance is not sufficient."


class SelfApproval(Forbidden):
    """403, maker-checker: nobody reviews a request that is their own (shared by every app that
    has reviews; the code is the one withdrawals have always answered)."""

    code = "self_approval"
    default_message = "Nobody may review their own request."


class IdempotencyKeyReused(DomainError):
    """422: the same Idempotency-Key was sent with a different request."""

    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used with a different request."


class UpstreamError(DomainError):
    """502: a dependency (WeChat) failed or answered something we cannot trust."""

    code = "upstream_error"
    default_message = "The payment provider failed; try again later."


class UpstreamTimeout(UpstreamError):
    """504."""

    code = "upstream_timeout"
    default_message = "The payment provider did not answer in time; try again later."


class TooManyRequests(DomainError):
    """429: a limit was reached; `extra["retry_after_seconds"]` (when known) also becomes the
    Retry-After header."""

    code = "too_many_requests"
    default_message = "Too many requests; try again later."


class TooManyLoginFailures(TooManyRequests):
    """429: too many failed operator logins for this username or from this address
    (accounts/login_limits.py); the password is not even checked until the window ends."""

    code = "too_many_login_failures"
    default_message = "Too many failed logins; try again later."


class TooManyLoginAttempts(TooManyRequests):
    """429: a WeChat login code tried too often, or too many logins of one openid in a minute."""

    code = "too_many_login_attempts"
    default_message = "Too many login attempts; try again later."
