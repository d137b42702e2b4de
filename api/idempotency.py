"""`Idempotency-Key` support for POSTs that create things or move money.

Use `@idempotent` on a DRF view method. With the header, the first request runs and its
response is stored; a repeat with the same body gets the stored response back (with
`Idempotent-Replayed: true`), a repeat with a different body gets 422
`idempotency_key_reused`, and a repeat while the first is still running gets 409
`idempotency_in_progress`. Without the header the view runs as usual. Keys are per user.
"""
from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from core.errors import Conflict, IdempotencyKeyReused, InvalidInput

from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)


def _owner(request) -> str:
    user = getattr(request, "user", None)
    return f"u{user.pk}" if user is not None and user.is_authenticated else "anon"


def _request_hash(request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, default=str)
    except (TypeError, ValueError):
        body = request.body.decode("utf-8", "replace")
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _jsonable(data):
    """The response data as the client saw it: datetimes, UUIDs, Decimals... as DRF renders them."""
    return json.loads(json.dumps(data, cls=JSONEncoder))


def idempotent(view_method):
    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise InvalidInput(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.")
        owner, digest = _owner(request), _request_hash(request)
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    owner=owner, key=key, method=request.method, path=request.path[:255], request_hash=digest
                )
        except IntegrityError:
            first = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
            if first is None:  # the first request failed and let go of the key just now: retry
                raise Conflict(
                    "A request with this Idempotency-Key is still being processed.", code="idempotency_in_progress"
                ) from None
            if first.request_hash != digest:
                raise IdempotencyKeyReused() from None
            if first.completed_at is None:
                raise Conflict(
                    "A request with this Idempotency-Key is still being processed.", code="idempotency_in_progress"
                ) from None
            return Response(first.response_body, status=first.status_code, headers={"Idempotent-Replayed": "true"})
        try:
            response = view_method(self, request, *args, **kwargs)
        except BaseException:
            record.delete()  # nothing was done: the client may retry with the same key
            raise
        if response.status_code >= 500:
            record.delete()
            return response
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status_code=response.status_code, response_body=_jsonable(response.data), completed_at=timezone.now()
        )
        return response

    wrapper.idempotent = True  # api/schema.py documents the header on such operations
    return wrapper


def idempotency_purge_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - RETENTION).delete()
    return deleted
