"""What every crowdfund service shares: row locks, status moves with their event rows, the
ledger accounts a crowdfund's money sits on, and numbers.

Lock order (docs/campaigns.md): contribution row, then crowdfund row, then every ledger
account of the transaction in one id-ordered statement (ledger/locks.py).
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
    CAMPAIGN_REFUND_TRANSITIONS,
    CONTRIBUTION_TRANSITIONS,
    CROWDFUND_TRANSITIONS,
    CampaignRefund,
    Contribution,
    Crowdfund,
    CrowdfundEvent,
    escrow_ref,
)


def crowdfund_lock(*, crowdfund_id: int) -> Crowdfund:
    cf = Crowdfund.objects.select_for_update().filter(pk=crowdfund_id).first()
    if cf is None:
        raise NotFound("Crowdfund not found.")
    return cf


def contribution_lock(*, no: str) -> Contribution | None:
    return Contribution.objects.select_for_update().filter(no=no).first()


def _recorder(cf_id: int, *, subject: str, kind: str, contribution_id: int | None = None, actor=None,
              data: dict[str, Any] | None = None):
    def record(obj, prev: str, to: str) -> None:
        CrowdfundEvent.objects.create(crowdfund_id=cf_id, contribution_id=contribution_id, subject=subject,
                                      kind=kind, from_status=prev, to_status=to, actor=actor, data=data or {})
    return record


def crowdfund_move(cf: Crowdfund, to: str, *, kind: str, actor=None, data: dict | None = None,
                   fields: dict | None = None) -> None:
    """Move a crowdfund locked by `crowdfund_lock` (CROWDFUND_TRANSITIONS; InvalidTransition otherwise)."""
    transition(cf, to, table=CROWDFUND_TRANSITIONS, locked=True, what="crowdfund", fields=fields,
               record=_recorder(cf.pk, subject="crowdfund", kind=kind, actor=actor, data=data))


def contribution_move(c: Contribution, to: str, *, kind: str, data: dict | None = None,
                      fields: dict | None = None) -> None:
    transition(c, to, table=CONTRIBUTION_TRANSITIONS, locked=True, what="contribution", fields=fields,
               record=_recorder(c.crowdfund_id, subject="contribution", kind=kind, contribution_id=c.pk,
                                data={"no": c.no, "amount_fen": c.amount_fen, **(data or {})}))


def campaign_refund_move(r: CampaignRefund, to: str, *, cf_id: int, data: dict | None = None,
                         fields: dict | None = None) -> bool:
    return transition(r, to, table=CAMPAIGN_REFUND_TRANSITIONS, strict=False, what="campaign refund",
                      fields={"finished_at": timezone.now(), **(fields or {})},
                      record=_recorder(cf_id, subject="refund", kind=f"refund_{to}",
                                       contribution_id=r.contribution_id,
                                       data={"no": r.no, "amount_fen": r.amount_fen, "reason": r.reason,
                                             **(data or {})}))


def crowdfund_event(cf_id: int, *, kind: str, actor=None, data: dict | None = None,
                    contribution_id: int | None = None) -> None:
    CrowdfundEvent.objects.create(crowdfund_id=cf_id, kind=kind, actor=actor, data=data or {},
                                  contribution_id=contribution_id,
                                  subject="contribution" if contribution_id else "crowdfund")


# --- ledger accounts -------------------------------------------------------------------

def escrow_account(*, crowdfund_id: int) -> Account:
    """Where a crowdfund's paid contributions wait (≥ 0 by the ledger's CHECK)."""
    return account_get_or_create(kind=AccountKind.CAMPAIGN_ESCROW, ref=escrow_ref(crowdfund_id=crowdfund_id))


def outside_account(*, crowdfund_id: int) -> Account:
    """The contributors' own money outside the system (wechat_external), sharded like the mall's
    platform accounts so that payments of many crowdfunds do not queue on one row."""
    return account_shard(kind=AccountKind.WECHAT_EXTERNAL, prefix="camp", key=str(crowdfund_id),
                         shards=settings.MALL_LEDGER_SHARDS)


# --- numbers ---------------------------------------------------------------------------

def contribution_no_generate() -> str:
    """out_trade_no: "CF" + YYMMDD + 12 random digits (20 characters, WeChat allows 32)."""
    return "CF" + timezone.localtime().strftime("%y%m%d") + f"{secrets.randbelow(10**12):012d}"


def campaign_refund_no(*, contribution: Contribution, reason: str, attempt: int, mall_refund_no: str = "") -> str:
    """out_refund_no, derived (not drawn) so that creating it twice names the same refund."""
    base = f"{mall_refund_no}-{contribution.pk}" if mall_refund_no else f"{contribution.no}-{reason[:2].upper()}"
    return f"{base}-{attempt}"
