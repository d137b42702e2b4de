"""The red-envelope grab, answered ahead of Django's stack (wrapped around the WSGI app in
config/wsgi.py): `POST /api/v1/red-envelopes/{id}/grab/` under a flood.

Everything a grab needs and nothing it does not: Django's URL resolver, its eight middlewares and
DRF's request cycle cost several times what the grab itself costs once its answer comes from
Redis. The route keeps every rule of the DRF view (`api.red_envelopes.EnvelopeGrabView`, which
the URL conf still serves, e.g. to the test client and the schema) and runs the same code:

* the Host header is checked against ALLOWED_HOSTS, the `Authorization: Bearer` token through
  `accounts.selectors.token_user_id` (the per-process token cache, else the database);
* the view's own throttles (`EnvelopeGrabView.throttle_classes`, Redis counters shared with the view),
  sent in ONE Redis round trip with the gate's read-only question (`envelope_grab_refusal`): the
  flood once the envelope is empty or the user has a share costs that one round trip and no SQL;
* `campaigns.services.envelope_grabs.envelope_grab`, the service the view calls, and the view's
  answer (`grab_answer`); a refusal leaves as the exception handler renders it
  (`api.errors.error_body`), in the request's language;
* Django's security, locale (the language of messages), common (Content-Length) and clickjacking
  middlewares, run on the request and the answer as Django runs them, and DRF's `Allow`. Not
  written: Django's warning log line for every 4xx answer (a flood of 409s is not news).

What it does not answer itself it hands to Django untouched, before it has changed anything:
another method or path, a bad Host, a missing, malformed or unknown token (DRF's 401), a throttled
client (DRF's 429, counted again there: it is over its limit either way), an `Accept` that excludes
JSON (DRF's 406), an id of more than 18 digits, a redirect to HTTPS that SECURE_SSL_REDIRECT asks for.

A token seen live by this process within AUTH_TOKEN_ANSWER_SECONDS (default 300) may get the
answers that change nothing — "you already have a share", "empty" — straight from Redis; a grab
that would take a share needs the token vouched for within AUTH_TOKEN_CACHE_SECONDS (1 s), else
the database is asked first, exactly as for the view.
"""
from __future__ import annotations

import json
import logging
import re
import types

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.middleware.common import CommonMiddleware
from django.utils import translation
from django.utils.module_loading import import_string

from accounts import selectors as account_selectors
from api.errors import domain_message, domain_status, error_body
from campaigns.services import envelope_grabs as grab_services
from core import errors as domain
from core.cache import cache_incr_queue, cache_pipeline

logger = logging.getLogger("django.request")

PATH = re.compile(r"/api/v1/red-envelopes/([1-9][0-9]{0,17})/grab/")
_JSON_ACCEPTS = ("*/*", "application/*", "application/json")


def _accepts_json(accept: str) -> bool:
    if not accept:
        return True
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in _JSON_ACCEPTS:
            return True
    return False


def _bearer(environ) -> str | None:
    """The raw token of a well-formed `Authorization: Bearer <token>`, else None (DRF decides)."""
    header = environ.get("HTTP_AUTHORIZATION", "").split()
    if len(header) != 2 or header[0].lower() != "bearer" or not header[1].isascii():
        return None
    return header[1]


class _Finish(Exception):
    """Hand the request to Django."""


# Django's middlewares whose work a grab's answer needs: run as Django would run them (requests
# in order, responses in reverse). The others change nothing for a Bearer JSON POST (no session,
# cookie, CSRF — DRF views are exempt —, message or static file is involved). With any other
# middleware in settings.MIDDLEWARE the route steps aside and Django answers everything.
_RUN = {
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
}
_NOTHING_TO_DO = {
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "api.middleware.ApiNotFoundMiddleware",  # turns non-JSON 404s into JSON: the route's are JSON
}


class GrabRoute:
    def __init__(self, django_app):
        self.django_app = django_app
        unknown = [m for m in settings.MIDDLEWARE if m not in _RUN | _NOTHING_TO_DO]
        self.enabled = not unknown
        if unknown:
            logger.warning("api.grab_route: Django answers grabs too (unknown middleware %s)", ", ".join(unknown))
        self._middleware = [import_string(m)(lambda request: None) for m in settings.MIDDLEWARE if m in _RUN]

    def __call__(self, environ, start_response):
        if self.enabled and environ.get("REQUEST_METHOD") == "POST":
            match = PATH.fullmatch(environ.get("PATH_INFO", ""))
            if match is not None:
                answer = self._grab(environ, int(match[1]))
                if answer is not None:
                    status, headers, body = answer
                    start_response(status, headers)
                    return [body]
        return self.django_app(environ, start_response)

    def _grab(self, environ, envelope_id: int):
        from api.red_envelopes import EnvelopeGrabView, grab_answer

        request = WSGIRequest(environ)
        signals.request_started.send(sender=self.__class__, environ=environ)  # old connections closed
        try:
            try:
                request.get_host()  # ALLOWED_HOSTS
            except DisallowedHost:
                return None
            if settings.SECURE_SSL_REDIRECT and not request.is_secure():
                return None
            if not _accepts_json(environ.get("HTTP_ACCEPT", "")):
                return None
            raw = _bearer(environ)
            if raw is None:
                return None
            user_id, fresh = account_selectors.token_user_id(raw=raw)
            if user_id is None:
                return None
            shim = types.SimpleNamespace(user=types.SimpleNamespace(pk=user_id, is_authenticated=True),
                                         META=environ)
            found = _throttled_or_refused(shim, user_id=user_id, envelope_id=envelope_id,
                                          throttles=[cls() for cls in EnvelopeGrabView.throttle_classes])
            if found is _THROTTLED:
                return None
            with translation.override(translation.get_language()):  # whatever LocaleMiddleware activates
                for middleware in self._middleware:
                    if hasattr(middleware, "process_request") and not isinstance(middleware, CommonMiddleware):
                        middleware.process_request(request)  # the language; no redirect can come of it
                response = self._answer(request, raw=raw, user_id=user_id, fresh=fresh, envelope_id=envelope_id,
                                        answer=grab_answer, refusal=found)
                if response is None:
                    return None
                for middleware in reversed(self._middleware):
                    response = middleware.process_response(request, response)
            return f"{response.status_code} {response.reason_phrase}", list(response.items()), response.content
        finally:
            signals.request_finished.send(sender=self.__class__)

    @staticmethod
    def _answer(request, *, raw: str, user_id: int, fresh: bool, envelope_id: int, answer, refusal):
        try:
            if refusal is not None:
                raise refusal
            if not fresh:
                user_id = account_selectors.token_user_id(raw=raw, fresh=True)[0]
                if user_id is None:
                    return None  # revoked since: DRF's 401
            grab = grab_services.envelope_grab(user_id=user_id, envelope_id=envelope_id)
            return _json(200, answer(grab))
        except domain.DomainError as exc:  # as api.errors.exception_handler renders it
            message, extra = domain_message(exc)
            return _json(domain_status(exc), error_body(exc.code, message, extra))
        except Exception:  # noqa: BLE001 - as Django would: logged, the JSON 500
            logger.exception("Internal Server Error: %s", request.path, extra={"status_code": 500})
            return _json(500, error_body("server_error", translation.gettext("Internal server error.")))


_THROTTLED = object()


def _throttled_or_refused(shim, *, user_id: int, envelope_id: int, throttles: list):
    """The view's throttles and the gate's read-only answer (`envelope_grab_refusal`) in ONE Redis
    round trip: `_THROTTLED` (Django answers the 429), the refusal to answer (409), or None (a
    grab may take a share). Without Redis, or when the round trip fails, each asks on its own
    (the throttles let a request through on a cache outage, as they do for the view)."""
    pipe = cache_pipeline()
    if pipe is None:
        if not all(t.allow_request(shim, None) for t in throttles):
            return _THROTTLED
        return grab_services.envelope_grab_refusal(user_id=user_id, envelope_id=envelope_id)
    counters = []
    for throttle in throttles:
        found = throttle.counter(shim, None)
        if found is not None:
            counters.append((throttle, cache_incr_queue(pipe, found[0], ttl=found[1])))
    read = grab_services.envelope_grab_refusal_queue(pipe, user_id=user_id, envelope_id=envelope_id)
    try:
        results = pipe.execute(raise_on_error=False)
    except Exception:  # noqa: BLE001 - Redis down: let through, as the throttles do; the grab decides
        logger.warning("api.grab_route: Redis unavailable for the throttles and the gate")
        return None
    for throttle, index in counters:
        count = results[index]
        if not isinstance(count, Exception) and not throttle.allowed(int(count)):
            return _THROTTLED
    return read(results)


def _json(status: int, data: dict) -> HttpResponse:
    # As DRF's JSONRenderer writes it (compact, UTF-8), with the view's Allow (no Vary: Accept,
    # which DRF adds only when a view has more than one renderer).
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    response = HttpResponse(body, status=status, content_type="application/json")
    response["Allow"] = "POST, OPTIONS"
    return response


def grab_route(django_app) -> GrabRoute:
    return GrabRoute(django_app)
