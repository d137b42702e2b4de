"""Strict fields for money and counts: JSON integers only (no strings, floats or booleans)."""
from datetime import datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"strict": "Must be a JSON integer (no string, float or boolean)."}

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("strict")
        return super().to_internal_value(data)


class MoneyField(StrictIntegerField):
    """Integer fen, 1 fen to 10^10 fen unless told otherwise."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 10**10)
        super().__init__(**kwargs)


class StrictCharField(serializers.CharField):
    """A JSON string only (DRF's CharField would take 123 as "123")."""

    default_error_messages = {"strict": "Must be a JSON string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("strict")
        return super().to_internal_value(data)


class MomentField(serializers.Field):
    """A day (YYYY-MM-DD: the whole day, local time) or an ISO 8601 date-time."""

    default_error_messages = {"invalid": "Use YYYY-MM-DD or an ISO 8601 date-time."}

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
