"""What an operator does with a campaign refund WeChat refused every time it was tried.

A refund of a crowdfund contribution or of a red-envelope backing that WeChat answers "failed" is
sent again automatically with a new number, up to CAMPAIGNS_REFUND_ATTEMPTS; after the last one
the money stays in the campaign's escrow and the campaign gets a `refund_needs_operator` event.
`campaign_refund_retry` is the operator's way out once the cause is fixed (the payer's account
restored, the merchant's balance topped up): ONE more attempt with a new number (the next
attempt of the same contribution or backing, reason and mall refund), sent after the commit
and finished by WeChat's answer through the same hooks as every attempt. Only the last attempt
may be retried, only once it failed: two operators at once (or one clicking twice) make one
new attempt — the campaign's row lock, then the unique constraint on the attempt.

A refund WeChat accepted and then could not deliver (its status CHANGE, "abnormal": the payer's
card or account is gone) cannot be sent again: WeChat counts that money as refunded and refuses
any new refund of it (the sandbox does the same). WeChat's merchant platform pays such a refund
out by other means (to a bank card); `campaign_refund_settle` then records that the money went
back — the operator's word, with a note — and the escrow pays it out exactly as for a WeChat
success (status `settled`). Retry refuses such a refund with `refund_abnormal`.
"""
from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from core.errors import Conflict, InvalidInput, NotFound
from wechat.models import RefundStatus as WechatRefundStatus
from wechat.models import WechatRefund

from ..models import CampaignRefund, CampaignRefundStatus
from .crowdfund_refunds import contribution_refund_done, refund_open
from .crowdfund_state import contribution_lock, crowdfund_event, crowdfund_lock
from .envelope_payments import backing_refund_done, backing_refund_open
from .envelope_state import backing_lock, envelope_event, envelope_lock

MAX_NOTE_CHARS = 200

R = CampaignRefundStatus


class RefundNotFailed(Conflict):
    code = "refund_not_failed"
    default_message = "Only a refund that WeChat refused can be sent again."


class RefundAbnormal(Conflict):
    code = "refund_abnormal"
    default_message = ("WeChat accepted this refund and could not deliver it (abnormal): it cannot be sent again. "
                       "Pay it out in the merchant platform, then record it as settled.")


class RefundRetriedAlready(Conflict):
    code = "refund_retried_already"
    default_message = "This refund has been sent again already: retry its latest attempt."


def _siblings(refund: CampaignRefund):
    if refund.contribution_id is not None:
        return CampaignRefund.objects.filter(contribution_id=refund.contribution_id, reason=refund.reason,
                                             mall_refund_no=refund.mall_refund_no)
    return CampaignRefund.objects.filter(backing_id=refund.backing_id, reason=refund.reason)


def _abnormal(refund: CampaignRefund) -> bool:
    """WeChat accepted the refund (it has WeChat's refund id) and it ended failed: CHANGE."""
    return WechatRefund.objects.filter(out_refund_no=refund.no, status=WechatRefundStatus.FAILED).exclude(
        refund_id="").exists()


def _locked_last_failed(refund_id):
    """In a transaction: (campaign, contribution or backing, refund) locked in the hooks' order —
    the campaign, then what was paid, then the refund — once it is checked to be the failed last
    attempt of its kind."""
    row = None
    if type(refund_id) is int:
        row = CampaignRefund.objects.filter(pk=refund_id).values(
            "contribution__crowdfund_id", "contribution__no", "backing__envelope_id", "backing__no").first()
    if row is None:
        raise NotFound("Campaign refund not found.")
    if row["contribution__no"] is not None:
        campaign = crowdfund_lock(crowdfund_id=row["contribution__crowdfund_id"])
        paid = contribution_lock(no=row["contribution__no"])
    else:
        campaign = envelope_lock(envelope_id=row["backing__envelope_id"])
        paid = backing_lock(no=row["backing__no"])
    refund = CampaignRefund.objects.select_for_update().get(pk=refund_id)
    if refund.status != R.FAILED:
        raise RefundNotFailed(extra={"status": refund.status})
    latest = _siblings(refund).aggregate(n=Max("attempt"))["n"]
    if latest != refund.attempt:
        raise RefundRetriedAlready(extra={"latest_attempt": latest})
    return campaign, paid, refund


def campaign_refund_retry(*, refund_id: int, operator) -> CampaignRefund:
    """Send the failed refund `refund_id` again as a new attempt; returns the new attempt's row.
    NotFound, RefundNotFailed (it is requested, succeeded or settled), RefundRetriedAlready (a
    later attempt exists: the automatic retry or another operator made it), RefundAbnormal."""
    with transaction.atomic():
        campaign, owner, refund = _locked_last_failed(refund_id)
        if _abnormal(refund):
            raise RefundAbnormal(extra={"no": refund.no})
        data = {"no": refund.no, "amount_fen": refund.amount_fen, "attempt": refund.attempt + 1,
                "error_code": refund.error_code}
        if refund.contribution_id is not None:
            new = refund_open(contribution=owner, amount_fen=refund.amount_fen, reason=refund.reason,
                              mall_refund_no=refund.mall_refund_no, attempt=refund.attempt + 1)
            crowdfund_event(campaign.pk, kind="refund_retried_by_operator", actor=operator,
                            contribution_id=owner.pk, data={**data, "new_no": new.no})
        else:
            new = backing_refund_open(backing=owner, reason=refund.reason, attempt=refund.attempt + 1)
            envelope_event(campaign.pk, kind="refund_retried_by_operator", actor=operator,
                           data={**data, "new_no": new.no})
    return new


def campaign_refund_settle(*, refund_id: int, operator, note: str) -> CampaignRefund:
    """Record that the failed refund `refund_id` (the last attempt) was paid back outside the API
    (WeChat's merchant platform, a bank transfer): `settled`, and the escrow pays it out as for a
    WeChat success. `note` (1–200 characters: how it was paid) is kept in the campaign's event.
    Refusals as for a retry; a second settle finds it settled (RefundNotFailed)."""
    note = note.strip() if isinstance(note, str) else ""
    if not note or len(note) > MAX_NOTE_CHARS:
        raise InvalidInput("Say how the money was paid back (1 to 200 characters).",  # MAX_NOTE_CHARS
                           code="invalid", extra={"fields": {"note": ["1 to 200 characters."]}})
    with transaction.atomic():
        campaign, paid, refund = _locked_last_failed(refund_id)
        data = {"by": operator.pk, "note": note, "abnormal": _abnormal(refund)}
        if refund.contribution_id is not None:
            contribution_refund_done(campaign, paid, refund, to=R.SETTLED, data=data)
            crowdfund_event(campaign.pk, kind="refund_settled_by_operator", actor=operator,
                            contribution_id=paid.pk, data={"no": refund.no, **data})
        else:
            backing_refund_done(campaign, paid, refund, to=R.SETTLED)
            envelope_event(campaign.pk, kind="refund_settled_by_operator", actor=operator,
                           data={"no": refund.no, "amount_fen": refund.amount_fen, **data})
        refund.refresh_from_db()
    return refund
