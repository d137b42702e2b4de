"""The operator's red-envelope settings (one row, RedEnvelopeSettings pk 1), changed by
/api/v1/ops/settings/red-envelopes/ and the admin. Read by the envelope services through
envelope_state.envelope_settings_get (defaults until an operator first saves)."""
from __future__ import annotations

from typing import Any

from django.db import transaction

from core.errors import InvalidInput

from ..models import RedEnvelopeSettings
from .envelope_state import envelope_settings_get
from .settings import settings_field_errors

MAX_EXPIRES_HOURS = 24 * 30
# name: (low, high) for the integer settings; `enabled` is a boolean.
LIMITS: dict[str, tuple[int, int]] = {
    "max_total_fen": (1, 10**10),
    "max_count": (1, 100_000),
    "max_share_fen": (1, 10**8),
    "default_expires_hours": (1, MAX_EXPIRES_HOURS),
    "max_expires_hours": (1, MAX_EXPIRES_HOURS),
    "unopened_cancel_days": (1, 90),
    "pay_window_minutes": (1, 120),
}
FIELDS = ("enabled", *LIMITS)
DEFAULT_ABOVE_MAX = "The default lifetime cannot be longer than the maximum."

__all__ = ["FIELDS", "LIMITS", "envelope_settings_get", "envelope_settings_update"]


@transaction.atomic
def envelope_settings_update(*, actor, **fields: Any) -> RedEnvelopeSettings:
    """Change the fields sent (strictly typed: JSON integers within LIMITS, `enabled` a
    boolean). Unknown names and bad values are refused (InvalidInput, extra.fields) and
    nothing changes; the default lifetime may not exceed the maximum (saved or sent)."""
    errors = settings_field_errors(fields, limits=LIMITS)
    if errors:
        raise InvalidInput(extra={"fields": errors})
    RedEnvelopeSettings.objects.get_or_create(pk=1)
    row = RedEnvelopeSettings.objects.select_for_update().get(pk=1)
    for name, value in fields.items():
        setattr(row, name, value)
    if row.default_expires_hours > row.max_expires_hours:
        raise InvalidInput(extra={"fields": {"default_expires_hours": [DEFAULT_ABOVE_MAX]}})
    row.updated_by = actor
    row.save()
    return row
