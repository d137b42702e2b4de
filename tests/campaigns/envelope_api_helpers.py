"""Helpers for the red-envelope HTTP bad-input tests (tests/campaigns/test_envelope_api_input.py):
the URLs, a valid body, and a snapshot of everything a refused request must leave alone. The
error shape is api_helpers.assert_error / assert_invalid."""
from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Follow
from campaigns.models import CampaignRefund, EnvelopeBacking, EnvelopeEvent, EnvelopeShare, RedEnvelope
from ledger.models import Account, LedgerTransaction
from wechat.models import WechatPayment

ENVELOPES = "/api/v1/red-envelopes/"


def detail_url(env_or_id) -> str:
    return f"{ENVELOPES}{getattr(env_or_id, 'pk', env_or_id)}/"


def top_ups_url(env_or_id) -> str:
    return f"{detail_url(env_or_id)}top-ups/"


def open_url(env_or_id) -> str:
    return f"{detail_url(env_or_id)}open/"


def grab_url(env_or_id) -> str:
    return f"{detail_url(env_or_id)}grab/"


def user_envelopes_url(user_or_id) -> str:
    return f"/api/v1/users/{getattr(user_or_id, 'pk', user_or_id)}/red-envelopes/"


def create_body(**over) -> dict:
    """A valid POST /red-envelopes/ body (10 yuan in 5 shares from the wallet); `over` replaces or adds."""
    return {"total_fen": 1_000, "count": 5, "split": "random", "pay_with": "wallet", **over}


@dataclass(frozen=True)
class EnvelopeWorld:
    """What a refused red-envelope request must not change."""

    envelopes: tuple
    shares: tuple
    backings: tuple
    payments: int
    ledger: int
    balances: tuple
    refunds: int
    events: int
    follows: int


def world() -> EnvelopeWorld:
    return EnvelopeWorld(
        envelopes=tuple(RedEnvelope.objects.order_by("pk").values_list(
            "pk", "owner_id", "status", "count", "total_fen", "pool_fen", "split", "greeting", "opened_at",
            "expires_at", "closed_at", "returned_fen", "best_position", "open_when_paid")),
        shares=tuple(EnvelopeShare.objects.order_by("pk").values_list(
            "pk", "envelope_id", "position", "amount_fen", "user_id", "posting_id", "returned")),
        backings=tuple(EnvelopeBacking.objects.order_by("pk").values_list(
            "pk", "envelope_id", "user_id", "amount_fen", "pay_with", "status")),
        payments=WechatPayment.objects.count(),
        ledger=LedgerTransaction.objects.count(),
        balances=tuple(Account.objects.order_by("pk").values_list("pk", "balance_fen")),
        refunds=CampaignRefund.objects.count(),
        events=EnvelopeEvent.objects.count(),
        follows=Follow.objects.count(),
    )
