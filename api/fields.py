"""Strict fields for money and counts: JSON integers only (no strings, floats or booleans)."""
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
