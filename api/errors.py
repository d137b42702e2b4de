"""One exception handler: every error leaves as {"code", "message", "extra"}.

The message and the field messages (`extra.fields`) are in the request's language
(Accept-Language: zh-hans by default, en): api/i18n.py."""
from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.utils.translation import gettext
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

from api.i18n import translate, translate_all
from core import errors as domain

logger = logging.getLogger(__name__)

DOMAIN_STATUS = [
    (domain.InvalidInput, status.HTTP_400_BAD_REQUEST),
    (domain.NotAuthenticated, status.HTTP_401_UNAUTHORIZED),
    (domain.Forbidden, status.HTTP_403_FORBIDDEN),
    (domain.NotFound, status.HTTP_404_NOT_FOUND),
    (domain.Conflict, status.HTTP_409_CONFLICT),
    (domain.IdempotencyKeyReused, status.HTTP_422_UNPROCESSABLE_ENTITY),
    (domain.TooManyRequests, status.HTTP_429_TOO_MANY_REQUESTS),
    (domain.UpstreamTimeout, status.HTTP_504_GATEWAY_TIMEOUT),
    (domain.UpstreamError, status.HTTP_502_BAD_GATEWAY),
]

DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
}


def error_body(code: str, message: str, extra: dict | None = None) -> dict:
    return {"code": code, "message": message, "extra": extra or {}}


def domain_status(exc: domain.DomainError) -> int:
    for cls, code in DOMAIN_STATUS:
        if isinstance(exc, cls):
            return code
    return status.HTTP_400_BAD_REQUEST


def _flatten(detail):
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def domain_message(exc: domain.DomainError) -> tuple[str, dict]:
    """The domain error's message and field messages in the request's language (api/i18n.py;
    a message the catalog does not know yet stays as the domain wrote it)."""
    extra = dict(exc.extra)
    if "fields" in extra:
        extra["fields"] = translate_all(_flatten(extra["fields"]))
    return translate(exc.message), extra


def exception_handler(exc, context):
    if isinstance(exc, domain.DomainError):
        headers = {}
        retry_after = exc.extra.get("retry_after_seconds")
        if isinstance(exc, domain.TooManyRequests) and isinstance(retry_after, int):
            headers["Retry-After"] = str(retry_after)
        message, extra = domain_message(exc)
        return Response(error_body(exc.code, message, extra), status=domain_status(exc), headers=headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return Response(
            error_body("invalid", gettext("The input is not valid."), {"fields": translate_all(_flatten(detail))}),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
        extra = {}
        headers = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            extra["retry_after_seconds"] = int(exc.wait)
            headers["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            headers["WWW-Authenticate"] = "Bearer"
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return Response(error_body(code, translate(str(message)), extra), status=exc.status_code, headers=headers)
    logger.exception("unhandled error in %s", context.get("view"))
    return None  # Django's 500 handling (and error reporting) takes over


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found_view(request, exception=None):
    """handler404: unknown paths under /api/ answer in the error shape too; the rest get Django's page."""
    if _is_api(request):
        return JsonResponse(error_body("not_found", gettext("Not found.")), status=404)
    return defaults.page_not_found(request, exception)


def server_error_view(request):
    """handler500: a crash under /api/ still answers in the error shape (the error is logged by Django)."""
    if _is_api(request):
        return JsonResponse(error_body("server_error", gettext("Internal server error.")), status=500)
    return defaults.server_error(request)
