"""Rows for the operators' red-envelope tests. Envelopes are filled, opened and grabbed through
the real services (so their books are the services'); WeChat backings (with their payments,
and refunds with their WeChat refunds) are added through the ORM with the postings the
payment and refund hooks would make, so the books still balance."""
from __future__ import annotations

import itertools
from datetime import datetime

from django.db.models import F
from django.utils import timezone

from campaigns.models import (
    ENVELOPE_PURPOSE,
    BackingStatus,
    CampaignRefund,
    CampaignRefundStatus,
    EnvelopeBacking,
    EnvelopeShare,
    RedEnvelope,
    RefundReason,
)
from campaigns.services import envelope_grabs as grabs
from campaigns.services import envelopes as env_services
from campaigns.services.envelope_posting import envelope_grabs_post
from campaigns.services.envelope_state import envelope_escrow_account, envelope_outside_account
from ledger.services import ledger_post
from tests.campaigns.envelope_helpers import owner_with
from tests.factories import UserFactory
from wechat.models import PaymentStatus, WechatPayment, WechatRefund
from wechat.models import RefundStatus as WechatRefundStatus

_seq = itertools.count(1)
B = BackingStatus


def funding(*, total_fen: int = 1_000, count: int = 5, owner=None, split: str = "random") -> RedEnvelope:
    """An envelope filled from its owner's wallet, not opened yet."""
    owner = owner or owner_with(total_fen)
    env, _ = env_services.envelope_create(owner=owner, total_fen=total_fen, count=count, split=split)
    return env


def open_it(env: RedEnvelope) -> RedEnvelope:
    import random

    return env_services.envelope_open(user=env.owner, envelope_id=env.pk, rng=random.Random(env.pk))


def grab(env: RedEnvelope, n: int) -> list:
    """`n` new people grab a share each (their grabs posted to the wallets)."""
    out = [grabs.envelope_grab(user_id=UserFactory().pk, envelope_id=env.pk) for _ in range(n)]
    envelope_grabs_post(envelope_id=env.pk)  # whether or not the queued poster ran already
    return out


def wechat_backing(env: RedEnvelope, amount_fen: int, *, user=None, status: str = B.PAID,
                   counted: bool = True) -> EnvelopeBacking:
    """A fan's top-up paid by WeChat (its WechatPayment; booked outside → escrow as the hook
    does). `counted`: it makes the pool fatter (a late one is not: it is given back)."""
    n = next(_seq)
    user = user or UserFactory()
    was_paid = status in (B.PAID, B.REFUNDING, B.REFUNDED)
    b = EnvelopeBacking.objects.create(
        no=f"REOPS{n:012d}", envelope=env, user=user, amount_fen=amount_fen, pay_with="wechat", status=status,
        transaction_id=f"42000{n:012d}" if was_paid else "", paid_at=timezone.now() if was_paid else None)
    WechatPayment.objects.create(
        out_trade_no=b.no, purpose=ENVELOPE_PURPOSE, ref=str(env.pk), amount_fen=amount_fen,
        openid=user.openid or "o-x", description="红包", client_ip="203.0.113.9",
        status=PaymentStatus.PAID if was_paid else PaymentStatus.PREPAID, transaction_id=b.transaction_id or None,
        paid_at=b.paid_at)
    if was_paid:
        ledger_post(kind="campaigns.envelope_paid", idempotency_key=f"campaigns.envelope_paid:{b.no}",
                    legs=[(envelope_outside_account(envelope_id=env.pk), -amount_fen),
                          (envelope_escrow_account(envelope_id=env.pk), amount_fen)],
                    cause_type="campaigns.red_envelope", cause_id=env.pk)
    if was_paid and counted:
        RedEnvelope.objects.filter(pk=env.pk).update(pool_fen=F("pool_fen") + amount_fen)
    return b


def backing_refund(b: EnvelopeBacking, *, status: str = CampaignRefundStatus.SUCCEEDED, attempt: int = 1,
                   reason: str = RefundReason.ENVELOPE_LATE,
                   wechat_status: str | None = WechatRefundStatus.SUCCEEDED) -> CampaignRefund:
    """A refund of a WeChat backing with its WeChat refund; a succeeded one leaves the escrow."""
    done = status != CampaignRefundStatus.REQUESTED
    r = CampaignRefund.objects.create(
        no=f"{b.no}-{attempt}", backing=b, amount_fen=b.amount_fen, reason=reason, attempt=attempt, status=status,
        finished_at=timezone.now() if done else None)
    if wechat_status is not None:
        WechatRefund.objects.create(out_refund_no=r.no, payment=WechatPayment.objects.get(out_trade_no=b.no),
                                    amount_fen=b.amount_fen, status=wechat_status, refund_id=f"50300{r.pk:010d}")
    if status == CampaignRefundStatus.SUCCEEDED:
        env_id = b.envelope_id
        ledger_post(kind="campaigns.envelope_refund", idempotency_key=f"campaigns.envelope_refund:{r.no}",
                    legs=[(envelope_escrow_account(envelope_id=env_id), -b.amount_fen),
                          (envelope_outside_account(envelope_id=env_id), b.amount_fen)],
                    cause_type="campaigns.red_envelope", cause_id=env_id)
    return r


def at(env: RedEnvelope, **moments: datetime) -> RedEnvelope:
    """Move an envelope's times (created_at, opened_at, closed_at…) for the period filters."""
    RedEnvelope.objects.filter(pk=env.pk).update(**moments)
    env.refresh_from_db()
    return env


def shares_at(env: RedEnvelope, moment: datetime) -> None:
    EnvelopeShare.objects.filter(envelope=env, user__isnull=False).update(grabbed_at=moment)


def backings_at(env: RedEnvelope, moment: datetime) -> None:
    EnvelopeBacking.objects.filter(envelope=env).update(paid_at=moment)
