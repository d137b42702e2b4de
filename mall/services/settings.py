"""The operator's mall settings (one row) and the refund window they decide."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from core.errors import InvalidInput

from ..hooks import refund_window_default_days
from ..models import MallSettings

MAX_WINDOW_DAYS = 3650
FIELDS = ("refund_window_days",)


def mall_settings_get() -> MallSettings:
    """The settings row (unsaved defaults until an operator first saves; reading writes nothing)."""
    return MallSettings.objects.filter(pk=1).first() or MallSettings(pk=1)


@transaction.atomic
def mall_settings_update(*, actor, **fields: Any) -> MallSettings:
    """Change the fields sent (strictly typed: the raw JSON values come through). Unknown
    names and bad values are refused and nothing changes."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InvalidInput(extra={"fields": {name: ["Unknown setting."] for name in unknown}})
    if "refund_window_days" in fields:
        days = fields["refund_window_days"]
        if days is not None and (type(days) is not int or not 0 <= days <= MAX_WINDOW_DAYS):
            raise InvalidInput(extra={"fields": {"refund_window_days": [
                f"A whole number of days from 0 to {MAX_WINDOW_DAYS}, or null for the freeze period plus 7 days."
            ]}})
    MallSettings.objects.get_or_create(pk=1)
    row = MallSettings.objects.select_for_update().get(pk=1)
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_by = actor
    row.save()
    return row


def refund_window_days(row: MallSettings | None = None) -> int:
    """The days after completion a buyer may ask for a refund: the operator's setting, else
    the registered default (commission freeze days + 7, see mall.hooks)."""
    row = row or mall_settings_get()
    if row.refund_window_days is not None:
        return row.refund_window_days
    return refund_window_default_days()


def refund_window_closes_at(*, completed_at: datetime | None) -> datetime | None:
    """When the buyer's refund window of an order completed at `completed_at` closes (None: open)."""
    if completed_at is None:
        return None
    return completed_at + timedelta(days=refund_window_days())
