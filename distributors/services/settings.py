"""The operator's distribution settings: one row, read through a short cache."""
from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import transaction

from core.errors import InvalidInput

from ..models import BindingMode, DistributionSettings, RecruitmentMode

CACHE_KEY = "distribution:settings:v1"
CACHE_TTL = 60  # seconds; every update deletes the entry at once and after commit

MAX_DAYS = 3650
MAX_FEN = 10**10

_FIELDS: dict[str, tuple[str, Any]] = {
    # name: (kind, bounds or choices)
    "recruitment_mode": ("choice", RecruitmentMode.values),
    "recruitment_threshold_fen": ("int", (0, MAX_FEN)),
    "binding_mode": ("choice", BindingMode.values),
    "binding_days": ("int", (1, MAX_DAYS)),
    "protection_days": ("int", (0, MAX_DAYS)),
    "levels": ("int", (1, 2)),
    "self_purchase_commission": ("bool", None),
    "default_level1_bps": ("int", (0, 10000)),
    "default_level2_bps": ("int", (0, 10000)),
    "freeze_days": ("int", (0, 365)),
    "withdrawal_min_fen": ("int", (1, MAX_FEN)),
    "withdrawal_fee_bps": ("int", (0, 10000)),
    "withdrawal_min_fee_fen": ("int", (0, MAX_FEN)),
    "withdrawal_daily_count": ("int", (1, 1000)),
    "withdrawal_daily_amount_fen": ("int", (1, MAX_FEN)),
    "transfer_max_fen": ("int", (1, MAX_FEN)),
}
FIELDS = tuple(_FIELDS)


def distribution_settings_get() -> DistributionSettings:
    found = cache.get(CACHE_KEY)
    if isinstance(found, DistributionSettings):
        return found
    row, _ = DistributionSettings.objects.get_or_create(pk=1)
    cache.set(CACHE_KEY, row, CACHE_TTL)
    return row


def _clean(name: str, value: Any) -> Any:
    kind, spec = _FIELDS[name]
    if kind == "bool":
        if type(value) is not bool:
            raise InvalidInput(extra={"fields": {name: ["Must be true or false."]}})
        return value
    if kind == "choice":
        if value not in spec:
            raise InvalidInput(extra={"fields": {name: [f"Must be one of {', '.join(spec)}."]}})
        return value
    low, high = spec
    if type(value) is not int or not low <= value <= high:
        raise InvalidInput(extra={"fields": {name: [f"Must be an integer from {low} to {high}."]}})
    return value


@transaction.atomic
def distribution_settings_update(*, actor, **fields: Any) -> DistributionSettings:
    """Change some settings (validated all together; nothing is saved when one is wrong)."""
    unknown = set(fields) - set(_FIELDS)
    if unknown:
        raise InvalidInput(extra={"fields": {name: ["Unknown setting."] for name in sorted(unknown)}})
    row, _ = DistributionSettings.objects.select_for_update().get_or_create(pk=1)
    for name, value in fields.items():
        setattr(row, name, _clean(name, value))
    if row.default_level1_bps + row.default_level2_bps > 10000:
        raise InvalidInput(
            "Level 1 and level 2 together cannot exceed 100 %.",
            extra={"fields": {"default_level2_bps": ["level 1 + level 2 must be at most 10000 bps."]}},
        )
    row.updated_by = actor
    row.save()
    cache.delete(CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(CACHE_KEY))
    return row
