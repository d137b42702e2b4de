"""Helpers for the click, binding, attribution and official-account tests."""
from __future__ import annotations

from django.core.cache import cache
from django.utils import timezone

from distributors.codes import code_generate
from distributors.models import DistributionSettings, Distributor, ShareLink
from distributors.services import attribution
from distributors.services.settings import CACHE_KEY
from tests.factories import UserFactory


def settings_set(**fields) -> DistributionSettings:
    row, _ = DistributionSettings.objects.update_or_create(pk=1, defaults=fields)
    cache.delete(CACHE_KEY)
    attribution._max_age_memo = (0.0, 0)
    return row


def distributor(*, user=None, inviter=None, status: str = "approved") -> Distributor:
    user = user or UserFactory()
    return Distributor.objects.create(
        user=user, real_name="王五", phone="13700137000", status=status, invite_code=code_generate(),
        inviter=inviter, approved_at=timezone.now() if status == "approved" else None,
    )


def link(dist: Distributor, *, target_type: str = "store", target_id: int = 0, channel: str = "") -> ShareLink:
    return ShareLink.objects.create(code=code_generate(), distributor=dist, target_type=target_type,
                                    target_id=target_id, channel=channel)
