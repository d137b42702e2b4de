"""The operator's crowdfund settings (one row) and the per-product rules."""
from __future__ import annotations

from typing import Any

from django.db import transaction

from core.errors import InvalidInput, NotFound
from mall.models import Product

from ..models import CrowdfundProductRule, CrowdfundSettings

MAX_DURATION_HOURS = 7 * 24
MAX_FEN = 10**10
# name: (low, high) for the integer settings; `enabled` is a boolean.
LIMITS: dict[str, tuple[int, int]] = {
    "default_duration_hours": (1, MAX_DURATION_HOURS),
    "max_duration_hours": (1, MAX_DURATION_HOURS),
    "min_contribution_fen": (1, 10**8),
    "pay_window_minutes": (1, 120),
    "min_goal_fen": (0, MAX_FEN),
}
FIELDS = ("enabled", *LIMITS)


def crowdfund_settings_get() -> CrowdfundSettings:
    """The settings row (unsaved defaults until an operator first saves; reading writes nothing)."""
    return CrowdfundSettings.objects.filter(pk=1).first() or CrowdfundSettings(pk=1)


def settings_field_errors(fields: dict[str, Any], *, limits: dict[str, tuple[int, int]]) -> dict[str, list[str]]:
    """Strict checks of a settings change (shared by the crowdfund and red-envelope settings):
    `enabled` must be a JSON boolean, every name in `limits` a JSON integer within its bounds,
    anything else is unknown."""
    errors: dict[str, list[str]] = {}
    for name, value in fields.items():
        if name == "enabled":
            if type(value) is not bool:
                errors[name] = ["true or false."]
        elif name not in limits:
            errors[name] = ["Unknown setting."]
        else:
            low, high = limits[name]
            if type(value) is not int or not low <= value <= high:
                errors[name] = [f"A whole number from {low} to {high}."]
    return errors


@transaction.atomic
def crowdfund_settings_update(*, actor, **fields: Any) -> CrowdfundSettings:
    """Change the fields sent (strictly typed). Unknown names and bad values are refused and
    nothing changes; the default duration may not exceed the maximum."""
    errors = settings_field_errors(fields, limits=LIMITS)
    if errors:
        raise InvalidInput(extra={"fields": errors})
    CrowdfundSettings.objects.get_or_create(pk=1)
    row = CrowdfundSettings.objects.select_for_update().get(pk=1)
    for name, value in fields.items():
        setattr(row, name, value)
    if row.default_duration_hours > row.max_duration_hours:
        raise InvalidInput(extra={"fields": {"default_duration_hours": [
            "The default duration cannot be longer than the maximum."]}})
    row.updated_by = actor
    row.save()
    return row


def crowdfund_product_rule_get(*, product_id: int) -> CrowdfundProductRule:
    return (CrowdfundProductRule.objects.filter(product_id=product_id).first()
            or CrowdfundProductRule(product_id=product_id))


@transaction.atomic
def crowdfund_product_rule_set(
    *, product_id: int, enabled: Any = None, min_goal_fen: Any = None
) -> CrowdfundProductRule:
    """Turn crowdfunding off/on for a product, or set the smallest goal a crowdfund of it needs."""
    errors: dict[str, list[str]] = {}
    if enabled is not None and type(enabled) is not bool:
        errors["enabled"] = ["true or false."]
    if min_goal_fen is not None and (type(min_goal_fen) is not int or not 0 <= min_goal_fen <= MAX_FEN):
        errors["min_goal_fen"] = [f"A whole number of fen from 0 to {MAX_FEN}."]
    if errors:
        raise InvalidInput(extra={"fields": errors})
    if not Product.objects.filter(pk=product_id).exists():
        raise NotFound("Product not found.")
    rule, _ = CrowdfundProductRule.objects.select_for_update().get_or_create(product_id=product_id)
    if enabled is not None:
        rule.enabled = enabled
    if min_goal_fen is not None:
        rule.min_goal_fen = min_goal_fen
    rule.save()
    return rule
