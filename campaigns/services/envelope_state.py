"""What every red-envelope service shares: row locks, status moves with their event rows, the
ledger accounts the envelope's money sits on, numbers and codes.

Lock order (docs/campaigns.md): WeChat's row (taken by the wechat app) → the envelope → its
backings → its shares → every ledger account of the transaction in one id-ordered statement.
Grabs lock only their share row, never the envelope (the hot row of a flood).
"""
from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.errors import NotFound
from core.transitions import transition
from ledger.locks import account_get_or_create, account_shard
from ledger.models import Account, AccountKind

from ..models import (
    BACKING_TRANSITIONS,
    ENVELOPE_TRANSITIONS,
    EnvelopeBacking,
    EnvelopeEvent,
    RedEnvelope,
    RedEnvelopeSettings,
    envelope_escrow_ref,
)


def envelope_settings_get() -> RedEnvelopeSettings:
    """The operator's limits (unsaved defaults until an operator first saves)."""
    return RedEnvelopeSettings.objects.filter(pk=1).first() or RedEnvelopeSettings(pk=1)


def envelope_lock(*, envelope_id: int) -> RedEnvelope:
    env = RedEnvelope.objects.select_for_update().filter(pk=envelope_id).first() if type(envelope_id) is int else None
    if env is None:
        raise NotFound("Red envelope not found.")
    return env


def backing_lock(*, no: str) -> EnvelopeBacking | None:
    return EnvelopeBacking.objects.select_for_update().filter(no=no).first()


def _recorder(env_id: int, *, kind: str, backing_id: int | None = None, actor=None, data: dict | None = None):
    def record(obj, prev: str, to: str) -> None:
        EnvelopeEvent.objects.create(envelope_id=env_id, backing_id=backing_id, kind=kind, from_status=prev,
                                     to_status=to, actor=actor, data=data or {})
    return record


def envelope_move(env: RedEnvelope, to: str, *, kind: str, actor=None, data: dict | None = None,
                  fields: dict | None = None, strict: bool = True) -> bool:
    """Move an envelope locked by `envelope_lock` (ENVELOPE_TRANSITIONS)."""
    return transition(env, to, table=ENVELOPE_TRANSITIONS, locked=True, what="red envelope", fields=fields,
                      strict=strict, record=_recorder(env.pk, kind=kind, actor=actor, data=data))


def backing_move(b: EnvelopeBacking, to: str, *, kind: str, data: dict | None = None,
                 fields: dict | None = None) -> None:
    transition(b, to, table=BACKING_TRANSITIONS, locked=True, what="backing", fields=fields,
               record=_recorder(b.envelope_id, kind=kind, backing_id=b.pk,
                                data={"no": b.no, "amount_fen": b.amount_fen, **(data or {})}))


def envelope_event(env_id: int, *, kind: str, actor=None, data: dict[str, Any] | None = None) -> None:
    EnvelopeEvent.objects.create(envelope_id=env_id, kind=kind, actor=actor, data=data or {})


# --- ledger accounts -------------------------------------------------------------------

def envelope_escrow_account(*, envelope_id: int) -> Account:
    """Where an envelope's money waits until it is grabbed or given back (≥ 0 by the CHECK)."""
    return account_get_or_create(kind=AccountKind.CAMPAIGN_ESCROW, ref=envelope_escrow_ref(envelope_id=envelope_id))


def envelope_outside_account(*, envelope_id: int) -> Account:
    """WeChat payers' own money outside the system, sharded like the mall's platform accounts."""
    return account_shard(kind=AccountKind.WECHAT_EXTERNAL, prefix="camp", key=str(envelope_id),
                         shards=settings.MALL_LEDGER_SHARDS)


# --- numbers and codes -----------------------------------------------------------------

def backing_no_generate() -> str:
    """out_trade_no: "RE" + YYMMDD + 12 random digits."""
    return "RE" + timezone.localtime().strftime("%y%m%d") + f"{secrets.randbelow(10**12):012d}"
