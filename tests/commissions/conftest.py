"""Commissions fixtures."""
from __future__ import annotations

import pytest

from tests.factories import DistributorFactory, distribution_settings_set


@pytest.fixture
def chain():
    """Two levels: `mid` (level 1) recruited by `top` (level 2); 10 % and 5 %, frozen for 7 days."""
    distribution_settings_set(default_level1_bps=1000, default_level2_bps=500, levels=2, freeze_days=7)
    top = DistributorFactory()
    mid = DistributorFactory(inviter=top)
    return mid, top


@pytest.fixture
def bills(wechat_sandbox, settings):
    """Payouts through merchant transfer bills (WECHAT_PAYOUT_API=v3_transfer_bills), the
    sandbox over HTTP (returns the live server). tests/commissions/bill_helpers.py has the rest."""
    from .wallet_helpers import withdrawal_settings

    settings.WECHAT_PAYOUT_API = "v3_transfer_bills"
    withdrawal_settings()
    return wechat_sandbox
