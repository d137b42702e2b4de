"""Strict fields: JSON integers only for money, counts and ids (no strings, floats or booleans),
JSON strings only for text (no numbers). Input serializers under api/ use these, not DRF's
CharField / RegexField / IntegerField (tests/api/test_strict_fields.py walks the schema's
request bodies to hold it).

Messages are lazy translations (zh-hans, en: api/locale), so they follow the request's language.
"""
from datetime import datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

# Ids are bigint primary keys: 1 .. 2^63 - 1.
ID_MAX = 2**63 - 1


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"strict": _("Must be a JSON integer (no string, float or boolean).")}

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("strict")
        return super().to_internal_value(data)


class IdField(StrictIntegerField):
    """The id of an object: 1 .. 2^63 - 1 (an unknown id is then the view's 404, not a 500)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)


class MoneyField(StrictIntegerField):
    """Integer fen, 1 fen to 10^10 fen unless told otherwise."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 10**10)
        super().__init__(**kwargs)


class BpsField(StrictIntegerField):
    """A rate in basis points: 0 .. 10000 (100%)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", 10000)
        super().__init__(**kwargs)


class StrictCharField(serializers.CharField):
    """A JSON string only (DRF's CharField would take 123 as "123")."""

    default_error_messages = {"strict": _("Must be a JSON string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("strict")
        return super().to_internal_value(data)


class StrictRegexField(StrictCharField):
    """A JSON string matching `regex` (DRF's RegexField, strict like StrictCharField)."""

    def __init__(self, regex, **kwargs):
        super().__init__(**kwargs)
        field = serializers.RegexField(regex)
        self.validators.extend(field.validators)
        self.regex = regex


class StrictURLField(StrictCharField):
    """A JSON string that is an http(s) URL (DRF's URLField, strict like StrictCharField)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.extend(serializers.URLField().validators)


class StrictChoiceField(serializers.ChoiceField):
    """One of `choices`, sent as the JSON value itself (DRF's ChoiceField takes 1 for "1")."""

    default_error_messages = {"strict": _("Must be a JSON string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str) and all(isinstance(key, str) for key in self.choices):
            self.fail("strict")
        return super().to_internal_value(data)


class MomentField(serializers.Field):
    """A day (YYYY-MM-DD: the whole day, local time) or an ISO 8601 date-time."""

    default_error_messages = {"invalid": _("Use YYYY-MM-DD or an ISO 8601 date-time.")}

    def __init__(self, *, end_of_day: bool, **kwargs):
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        try:
            day = parse_date(data)
            moment = None if day else parse_datetime(data)
        except ValueError:
            self.fail("invalid")
        if day is not None:
            start = timezone.make_aware(datetime.combine(day, time.min))
            return start + timedelta(days=1) - timedelta(microseconds=1) if self.end_of_day else start
        if moment is None:
            self.fail("invalid")
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
