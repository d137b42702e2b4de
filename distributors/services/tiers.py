"""Operators' tier table: names, ranks, rate overrides and upgrade conditions."""
from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from core.errors import Conflict, InvalidInput, NotFound

from ..models import Tier

_INT_FIELDS = {
    "rank": (0, 1000),
    "min_own_gmv_fen": (0, 10**12),
    "min_team_gmv_fen": (0, 10**12),
    "min_order_count": (0, 10**9),
    "min_invited_count": (0, 10**9),
}
_BPS_FIELDS = ("level1_bps", "level2_bps")


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in fields.items():
        if name == "name":
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > 32:
                errors[name] = ["1 to 32 characters."]
            else:
                clean[name] = value.strip()
        elif name in _INT_FIELDS:
            low, high = _INT_FIELDS[name]
            if type(value) is not int or not low <= value <= high:
                errors[name] = [f"An integer from {low} to {high}."]
            else:
                clean[name] = value
        elif name in _BPS_FIELDS:
            if value is not None and (type(value) is not int or not 0 <= value <= 10000):
                errors[name] = ["null, or an integer from 0 to 10000 (basis points)."]
            else:
                clean[name] = value
        elif name == "match":
            if value not in ("all", "any"):
                errors[name] = ["'all' or 'any'."]
            else:
                clean[name] = value
        else:
            errors[name] = ["Unknown field."]
    if errors:
        raise InvalidInput(extra={"fields": errors})
    return clean


def _check_rates(tier: Tier) -> None:
    if (tier.level1_bps or 0) + (tier.level2_bps or 0) > 10000:
        raise InvalidInput("Level 1 and level 2 together cannot exceed 100 %.",
                           extra={"fields": {"level2_bps": ["level1_bps + level2_bps must be at most 10000."]}})


def _save(tier: Tier) -> Tier:
    _check_rates(tier)
    try:
        with transaction.atomic():
            tier.save()
    except IntegrityError as exc:
        raise Conflict("Another tier has this name or rank.", code="tier_exists") from exc
    return tier


def tier_create(**fields: Any) -> Tier:
    clean = _clean(fields)
    missing = [name for name in ("name", "rank") if name not in clean]
    if missing:
        raise InvalidInput(extra={"fields": {name: ["This field is required."] for name in missing}})
    return _save(Tier(**clean))


def tier_update(*, tier_id: int, **fields: Any) -> Tier:
    tier = Tier.objects.filter(pk=tier_id).first()
    if tier is None:
        raise NotFound("Tier not found.")
    for name, value in _clean(fields).items():
        setattr(tier, name, value)
    return _save(tier)


def tier_delete(*, tier_id: int) -> None:
    tier = Tier.objects.filter(pk=tier_id).first()
    if tier is None:
        raise NotFound("Tier not found.")
    try:
        tier.delete()
    except ProtectedError as exc:
        raise Conflict("Distributors are on this tier; move them first.", code="tier_in_use") from exc
