"""Reads of commission rules for the operators."""
from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound

from ..models import CommissionRule


def commission_rule_list(*, scope: str | None = None, is_active: bool | None = None) -> QuerySet[CommissionRule]:
    qs = CommissionRule.objects.all()
    if scope is not None:
        qs = qs.filter(scope=scope)
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    return qs.order_by("-id")


def commission_rule_get(*, rule_id: int) -> CommissionRule:
    rule = CommissionRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("No such commission rule.")
    return rule
