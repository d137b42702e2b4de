"""Money going back to contributors: refunds of a failed crowdfund, of payments that found no
room (never over-funded), and of the funded order — pro rata, each a WeChat refund of the
contributor's own payment.

* `refund_open` makes a CampaignRefund row (its out_refund_no is derived from the
  contribution, the reason, the mall refund and the attempt, so opening it twice is one row)
  and queues the send after the commit. `campaigns.retry_refunds` sends again whatever is
  still `requested` (the same number: WeChat is idempotent by it) or asks WeChat about it.
* WeChat's final word arrives through the wechat refund hook (`on_wechat_refund_final`,
  purpose campaigns.crowdfund) in the transaction that records it: succeeded → the money
  leaves the escrow (refunds of the order's money leave through the mall's own refund
  posting instead) and the contribution and crowdfund move on; failed → a new attempt with a
  new number, up to CAMPAIGNS_REFUND_ATTEMPTS, then an operator (event
  `refund_needs_operator`, shown in the ops detail and the admin).
* A refund of the funded order (mall.Refund, approved by an operator) reaches us through the
  mall's refund sender hook (`crowdfund_order_refund_send`): it is split pro rata over what
  each counted contribution has not had back yet (largest remainder, exact to the fen, never
  more than a contribution paid); when every part succeeded the mall refund is finalised,
  which books it and fires the REFUNDED moment (commissions clawed back) like any refund.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ledger.locks import accounts_lock
from ledger.services import ledger_post
from mall.services.refunds import refund_finalize
from wechat.models import RefundStatus as WechatRefundStatus

from .. import notifications
from ..models import (
    CampaignRefund,
    CampaignRefundStatus,
    Contribution,
    ContributionStatus,
    Crowdfund,
    CrowdfundStatus,
    RefundReason,
)
from ..tasks import campaign_refund_send_task
from .crowdfund_state import (
    campaign_refund_move,
    campaign_refund_no,
    contribution_lock,
    contribution_move,
    crowdfund_event,
    crowdfund_lock,
    crowdfund_move,
    escrow_account,
    outside_account,
)
from .wechat_calls import campaign_refund_send

logger = logging.getLogger(__name__)

R = CampaignRefundStatus
K = ContributionStatus
BATCH = 200


def refund_attempts() -> int:
    return max(int(getattr(settings, "CAMPAIGNS_REFUND_ATTEMPTS", 3)), 1)


def refund_open(*, contribution: Contribution, amount_fen: int, reason: str, mall_refund_no: str = "",
                attempt: int = 1) -> CampaignRefund:
    """A refund of (part of) a contribution's payment, sent to WeChat after the commit.
    Idempotent: the same (contribution, reason, mall refund, attempt) is the same row."""
    refund, created = CampaignRefund.objects.get_or_create(
        contribution=contribution, reason=reason, mall_refund_no=mall_refund_no, attempt=attempt,
        defaults={"amount_fen": amount_fen,
                  "no": campaign_refund_no(contribution=contribution, reason=reason, attempt=attempt,
                                           mall_refund_no=mall_refund_no)},
    )
    if created:
        crowdfund_event(contribution.crowdfund_id, kind="refund_opened", contribution_id=contribution.pk,
                        data={"no": refund.no, "amount_fen": amount_fen, "reason": reason, "attempt": attempt})
        refund_id = refund.pk
        transaction.on_commit(lambda: campaign_refund_send_task.delay(refund_id))
    return refund


def pro_rata_split(total_fen: int, remaining: Mapping[int, int]) -> dict[int, int]:
    """Split `total_fen` over keys in proportion to `remaining` (what each may still get back):
    floor shares, then the leftover fen one by one to the largest remainders (ties: lower key),
    never more than a key's remaining. Sums exactly to total_fen; zero shares are left out.
    ValueError when the total is more than everything remaining."""
    if type(total_fen) is not int or total_fen < 0:
        raise ValueError("total_fen must be a non-negative int")
    pool = sum(remaining.values())
    if any(type(v) is not int or v < 0 for v in remaining.values()):
        raise ValueError("remaining amounts must be non-negative ints")
    if total_fen > pool:
        raise ValueError(f"cannot split {total_fen} over {pool}")
    if total_fen == 0:
        return {}
    shares = {key: total_fen * value // pool for key, value in remaining.items()}
    left = total_fen - sum(shares.values())
    order = sorted(remaining, key=lambda key: (-(total_fen * remaining[key] % pool), key))
    while left:
        for key in order:
            if left and shares[key] < remaining[key]:
                shares[key] += 1
                left -= 1
    return {key: share for key, share in shares.items() if share}


# --- WeChat's answer -------------------------------------------------------------------


def on_wechat_refund_final(wechat_refund) -> None:
    """The wechat refund hook (purpose campaigns.crowdfund), in the transaction that recorded
    the refund's final status (succeeded, failed or closed)."""
    row = CampaignRefund.objects.filter(no=wechat_refund.out_refund_no).values(
        "pk", "contribution__crowdfund_id", "contribution__no").first()
    if row is None:
        logger.error("campaigns: WeChat finalised refund %s that campaigns does not know", wechat_refund.out_refund_no)
        return
    cf = crowdfund_lock(crowdfund_id=row["contribution__crowdfund_id"])
    c = contribution_lock(no=row["contribution__no"])
    refund = CampaignRefund.objects.select_for_update().get(pk=row["pk"])
    if refund.status != R.REQUESTED:
        return
    if wechat_refund.status == WechatRefundStatus.SUCCEEDED:
        contribution_refund_done(cf, c, refund)
    else:
        _failed(cf, c, refund, code=wechat_refund.error_code or wechat_refund.status)


def contribution_refund_done(cf: Crowdfund, c: Contribution, refund: CampaignRefund, *, to: str = R.SUCCEEDED,
                             data: dict | None = None) -> None:
    """The money of `refund` went back (WeChat said so, or `to` SETTLED: an operator paid it back
    outside the API, refund_retries.campaign_refund_settle): the escrow pays it out, the
    contribution and the crowdfund move on. Locked: cf, c, refund."""
    campaign_refund_move(refund, to, cf_id=cf.pk, data=data)
    Contribution.objects.filter(pk=c.pk).update(refunded_fen=F("refunded_fen") + refund.amount_fen)
    c.refresh_from_db(fields=["refunded_fen"])
    notifications.notify_contribution_refunded(refund_id=refund.pk)
    if refund.reason == RefundReason.ORDER_REFUND:
        # The money left through the order (the mall books the refund when it is finalised).
        _order_refund_maybe_done(refund.mall_refund_no)
        return
    escrow, outside = escrow_account(crowdfund_id=cf.pk), outside_account(crowdfund_id=cf.pk)
    accounts_lock(accounts_or_ids=[escrow, outside])
    ledger_post(kind="campaigns.contribution_refund", idempotency_key=f"campaigns.refund:{refund.no}",
                legs=[(escrow, -refund.amount_fen), (outside, refund.amount_fen)],
                memo=f"contribution {c.no} refunded ({refund.reason})", cause_type="campaigns.contribution",
                cause_id=c.no)
    if c.status == K.REFUNDING and c.refunded_fen >= c.amount_fen:
        contribution_move(c, K.REFUNDED, kind="refunded")
    crowdfund_refunded_maybe(cf)


def crowdfund_refunded_maybe(cf: Crowdfund) -> bool:
    """An expired or cancelled crowdfund (locked) whose refunds are all done → refunded."""
    if cf.status not in (CrowdfundStatus.EXPIRED, CrowdfundStatus.CANCELLED):
        return False
    if Contribution.objects.filter(crowdfund=cf, status__in=[K.REFUNDING, K.PENDING_PAYMENT]).exists():
        return False
    crowdfund_move(cf, CrowdfundStatus.REFUNDED, kind="refunded")
    notifications.notify_crowdfund_result(crowdfund_id=cf.pk)
    return True


def _failed(cf: Crowdfund, c: Contribution, refund: CampaignRefund, *, code: str) -> None:
    campaign_refund_move(refund, R.FAILED, cf_id=cf.pk, fields={"error_code": (code or "failed")[:64]})
    if refund.attempt < refund_attempts():
        refund_open(contribution=c, amount_fen=refund.amount_fen, reason=refund.reason,
                    mall_refund_no=refund.mall_refund_no, attempt=refund.attempt + 1)
        return
    logger.error("campaigns: refund %s of contribution %s failed %s times (%s): an operator must pay it back",
                 refund.no, c.no, refund.attempt, code)
    crowdfund_event(cf.pk, kind="refund_needs_operator", contribution_id=c.pk,
                    data={"no": refund.no, "amount_fen": refund.amount_fen, "error_code": code})


def _order_refund_maybe_done(mall_refund_no: str) -> None:
    parts = CampaignRefund.objects.filter(mall_refund_no=mall_refund_no)
    if parts.filter(status=R.REQUESTED).exists():
        return
    wanted = set(parts.values_list("contribution_id", flat=True))
    done = set(parts.filter(status__in=[R.SUCCEEDED, R.SETTLED]).values_list("contribution_id", flat=True))
    if wanted and wanted == done:
        refund_finalize(refund_no=mall_refund_no, succeeded=True)


# --- refunds of the funded order (mall's refund sender) ----------------------------------


def crowdfund_order_refund_send(refund) -> None:
    """mall.hooks refund sender for orders paid via campaigns.crowdfund: split the approved
    mall refund over the contributions (once), then send (or ask about) every part."""
    cf_id = Crowdfund.objects.filter(order_id=refund.order_id).values_list("pk", flat=True).first()
    if cf_id is None:
        logger.error("campaigns: refund %s names order %s that no crowdfund paid", refund.no, refund.order_id)
        return
    with transaction.atomic():
        crowdfund_lock(crowdfund_id=cf_id)
        if not CampaignRefund.objects.filter(mall_refund_no=refund.no).exists():
            _order_refund_split(cf_id=cf_id, refund=refund)
            return  # the parts are sent after the commit
    for pk in CampaignRefund.objects.filter(mall_refund_no=refund.no, status=R.REQUESTED).values_list("pk", flat=True):
        campaign_refund_send(refund_id=pk)


def _order_refund_split(*, cf_id: int, refund) -> None:
    counted = list(Contribution.objects.select_for_update().filter(crowdfund_id=cf_id, status=K.PAID).order_by("pk"))
    in_flight: dict[int, int] = {}
    for contribution_id, amount in CampaignRefund.objects.filter(
        contribution__crowdfund_id=cf_id, reason=RefundReason.ORDER_REFUND, status=R.REQUESTED
    ).values_list("contribution_id", "amount_fen"):
        in_flight[contribution_id] = in_flight.get(contribution_id, 0) + amount
    remaining = {c.pk: c.amount_fen - c.refunded_fen - in_flight.get(c.pk, 0) for c in counted}
    split = pro_rata_split(refund.amount_fen, remaining)
    by_id = {c.pk: c for c in counted}
    for contribution_id, amount in sorted(split.items()):
        refund_open(contribution=by_id[contribution_id], amount_fen=amount, reason=RefundReason.ORDER_REFUND,
                    mall_refund_no=refund.no)
    crowdfund_event(cf_id, kind="order_refund_split", data={"refund": refund.no, "amount_fen": refund.amount_fen,
                                                            "parts": len(split)})


# --- beat job --------------------------------------------------------------------------


def campaign_refunds_retry() -> dict:
    """Send again (same number) refunds still requested a while after they were opened, or
    ask WeChat about the ones it is processing."""
    stale = timezone.now() - timedelta(minutes=2)
    sent = errors = 0
    for pk in CampaignRefund.objects.filter(status=R.REQUESTED, created_at__lte=stale).order_by(
            "created_at").values_list("pk", flat=True)[:BATCH]:
        try:
            campaign_refund_send(refund_id=pk)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - one refund's failure must not stop the others
            errors += 1
            logger.warning("campaigns retry refunds: %s: %s", pk, getattr(exc, "code", exc))
    return {"sent": sent, "errors": errors}
