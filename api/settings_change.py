"""The operators' settings endpoints (/ops/settings/distribution/, mall/, crowdfunds/,
red-envelopes/, and a product's crowdfund rule): one way to change some settings.

PATCH (and PUT, kept for existing clients, which means the same here) takes a JSON object with
at least one setting: an empty or missing body is 400 `invalid` and nothing changes (it used to
answer 200 and touch `updated_at`). Every field is checked here with the strict fields of
api/fields.py (types and bounds, messages in the request's language); unknown names are
refused; then the raw JSON values go to the service, which checks them again."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from api.fields import StrictIntegerField

# An `integer` column on PostgreSQL (PositiveIntegerField): the service's bound may be higher.
INT_COLUMN_MAX = 2**31 - 1

EMPTY = _("Send a JSON object with at least one setting to change.")
UNKNOWN = _("Unknown setting.")


class StrictBooleanField(serializers.BooleanField):
    """true or false only (DRF's BooleanField takes "yes", 1, "on"...)."""

    default_error_messages = {"invalid": _("Must be true or false.")}

    def to_internal_value(self, data):
        if type(data) is not bool:
            self.fail("invalid")
        return data


def bounded(low: int, high: int, **kwargs) -> StrictIntegerField:
    return StrictIntegerField(min_value=low, max_value=high, **kwargs)


def settings_changes(request, serializer_class, **context) -> dict:
    """The settings the request changes, as sent (raw JSON values), once each passed
    `serializer_class` (partial). 400 `invalid` for a body that is not an object, is empty,
    names an unknown or read-only setting, or has a bad value."""
    body = request.data
    if not isinstance(body, dict) or not body:
        raise serializers.ValidationError({"non_field_errors": [EMPTY]})
    serializer = serializer_class(data=body, partial=True, context=context)
    writable = {name for name, field in serializer.fields.items() if not field.read_only}
    unknown = {name: [UNKNOWN] for name in body if name not in writable}
    if unknown:
        raise serializers.ValidationError(unknown)
    serializer.is_valid(raise_exception=True)
    return dict(body)


def settings_schema(serializer_class, *, tags, **kwargs):
    """extend_schema for a settings change: the partial request body (at least one property:
    api/schema.py reads `settings_change`), the settings back."""
    document = extend_schema(
        request=serializer_class(partial=True), responses={200: serializer_class}, tags=tags, **kwargs
    )

    def decorate(method):
        method.settings_change = True
        return document(method)

    return decorate
