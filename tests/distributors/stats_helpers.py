"""Helpers for the distribution stats tests: the shop's day and an order's attribution snapshot."""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from distributors.models import Distributor, ShareLink

SHOP_TZ = ZoneInfo(settings.TIME_ZONE)


def today() -> date:
    return timezone.now().astimezone(SHOP_TZ).date()


def attribution(distributor: Distributor | None, link: ShareLink | None = None) -> dict:
    if distributor is None:
        return {}
    return {
        "source": "share_code" if link else "binding",
        "distributor_id": distributor.pk,
        "link_id": link.pk if link else None,
        "link_code": link.code if link else None,
        "binding_id": None,
        "level1_distributor_id": distributor.pk,
        "level2_distributor_id": None,
        "self_referral": False,
    }
