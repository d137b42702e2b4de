"""Operators manage commission rules (rate overrides by SKU, product or distributor tier).

Every write validates everything first and changes nothing on bad input. A rule names exactly
one target, matching its scope; per level it sets either basis points or a fixed amount in fen
per unit (or nothing: that level falls through to the next rule in the resolution order), and
at least one level is set. Level 1 + level 2 basis points never exceed 100 %. Only one active
rule per target (partial unique constraints in the database → 409 `rule_exists`).
"Deleting" a rule deactivates it: commissions keep their history.
"""
from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from core.errors import Conflict, InvalidInput, NotFound
from distributors.models import Tier
from mall.models import Product, Sku

from ..models import CommissionRule, RuleScope

BPS_MAX = 10_000
FIXED_MAX_FEN = 10**9
RATE_FIELDS = ("level1_bps", "level2_bps", "level1_fixed_fen", "level2_fixed_fen")
TARGETS = {
    RuleScope.SKU: ("sku_id", Sku),
    RuleScope.PRODUCT: ("product_id", Product),
    RuleScope.TIER: ("tier_id", Tier),
}
UPDATABLE = frozenset({*RATE_FIELDS, "is_active"})


class RuleExists(Conflict):
    code = "rule_exists"
    default_message = "An active rule for this target exists already."


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", extra={field: [message]})


def _strict_int(field: str, value: Any, *, low: int, high: int) -> None:
    if type(value) is not int:
        raise _invalid(field, "Must be an integer (no string, float or boolean).")
    if not low <= value <= high:
        raise _invalid(field, f"Must be between {low} and {high}.")


def _validate_rates(values: dict[str, Any]) -> None:
    for field in RATE_FIELDS:
        value = values.get(field)
        if value is not None:
            high = BPS_MAX if field.endswith("_bps") else FIXED_MAX_FEN
            _strict_int(field, value, low=0, high=high)
    for level in (1, 2):
        if values.get(f"level{level}_bps") is not None and values.get(f"level{level}_fixed_fen") is not None:
            raise _invalid(f"level{level}_bps", f"Set either level{level}_bps or level{level}_fixed_fen, not both.")
    if all(values.get(field) is None for field in RATE_FIELDS):
        raise _invalid("level1_bps", "Set a rate for at least one level.")
    l1, l2 = values.get("level1_bps"), values.get("level2_bps")
    if l1 is not None and l2 is not None and l1 + l2 > BPS_MAX:
        raise _invalid("level2_bps", "level1_bps + level2_bps may not exceed 10000 (100 %).")
    if type(values.get("is_active")) is not bool:
        raise _invalid("is_active", "Must be true or false.")


def _save(rule: CommissionRule) -> CommissionRule:
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:
        raise RuleExists(extra={"scope": str(rule.scope)}) from exc
    return rule


def commission_rule_create(
    *,
    scope: str,
    sku_id: int | None = None,
    product_id: int | None = None,
    tier_id: int | None = None,
    level1_bps: int | None = None,
    level2_bps: int | None = None,
    level1_fixed_fen: int | None = None,
    level2_fixed_fen: int | None = None,
    is_active: bool = True,
) -> CommissionRule:
    if not isinstance(scope, str) or scope not in RuleScope.values:
        raise _invalid("scope", f"Must be one of {', '.join(RuleScope.values)}.")
    scope = RuleScope(scope)
    targets = {"sku_id": sku_id, "product_id": product_id, "tier_id": tier_id}
    field, model = TARGETS[scope]
    for other, value in targets.items():
        if other != field and value is not None:
            raise _invalid(other, f"A {scope} rule takes {field} only.")
    target = targets[field]
    if target is None:
        raise _invalid(field, f"Required for a {scope} rule.")
    _strict_int(field, target, low=1, high=2**62)
    if not model.objects.filter(pk=target).exists():
        raise NotFound(f"{field} {target} does not exist.", extra={field: target})
    values = {"level1_bps": level1_bps, "level2_bps": level2_bps, "level1_fixed_fen": level1_fixed_fen,
              "level2_fixed_fen": level2_fixed_fen, "is_active": is_active}
    _validate_rates(values)
    return _save(CommissionRule(scope=scope, **{field: target}, **values))


def commission_rule_update(*, rule_id: int, **fields: Any) -> CommissionRule:
    """Change rates or is_active; the scope and target of a rule are fixed (create a new rule)."""
    unknown = sorted(set(fields) - UPDATABLE)
    if unknown:
        raise _invalid(unknown[0], "This field cannot be changed (scope and target are fixed).")
    with transaction.atomic():
        rule = CommissionRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            raise NotFound("No such commission rule.")
        values = {name: getattr(rule, name) for name in UPDATABLE}
        values.update(fields)
        _validate_rates(values)
        for name, value in fields.items():
            setattr(rule, name, value)
        return _save(rule)


def commission_rule_delete(*, rule_id: int) -> CommissionRule:
    """Deactivate (rules are kept for history); deactivating twice is harmless."""
    with transaction.atomic():
        rule = CommissionRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            raise NotFound("No such commission rule.")
        if rule.is_active:
            rule.is_active = False
            rule.save(update_fields=["is_active", "updated_at"])
        return rule
