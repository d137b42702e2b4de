"""A contribution's WeChat payment arrives, and the crowdfund it fills is funded.

`on_wechat_payment_paid` is the wechat payment hook for purpose campaigns.crowdfund; it runs
inside the transaction that marks the WechatPayment paid (once per payment: the wechat app
locks the payment row and moves it once). Every paid fen lands in the crowdfund's escrow
(`campaigns.contribution_paid`: outside → escrow) and then either

* counts — its reservation is still there (pending), or it expired but room is left and the
  crowdfund is still open — and moves reserved → raised; or
* is refunded automatically — the crowdfund closed, or it expired and the room went to
  others (never over-funded) — with an idempotent refund number.

When raised reaches the goal the crowdfund is `funded` and, in the same transaction, the
order is created for the initiator (the crowdfund's item, address, price and attribution)
and paid from the escrow (`campaigns.crowdfund_funded`: escrow → outside, and the mall's
ordinary payment posting platform cash / sales revenue), so the mall's PAID moment fires
(stats, commissions) exactly as for any paid order; then `ordered`. One id-ordered lock
takes every ledger account of that transaction (escrow, outside, the mall's, the
commission beneficiaries') before the first posting.
"""
from __future__ import annotations

import logging

from django.db.models import F
from django.utils import timezone

from ledger.locks import accounts_lock
from ledger.services import ledger_post
from mall.services.orders import order_create_paid_by

from .. import notifications
from ..models import CROWDFUND_PURPOSE, Contribution, ContributionStatus, Crowdfund, CrowdfundStatus, RefundReason
from .crowdfund_refunds import refund_open
from .crowdfund_state import (
    contribution_lock,
    contribution_move,
    crowdfund_lock,
    crowdfund_move,
    escrow_account,
    outside_account,
)

logger = logging.getLogger(__name__)

S = CrowdfundStatus
K = ContributionStatus


def on_wechat_payment_paid(payment) -> None:
    """Record a contribution's payment: counted (and maybe funding the crowdfund) or refunded."""
    cf_id = Contribution.objects.filter(no=payment.out_trade_no).values_list("crowdfund_id", flat=True).first()
    if cf_id is None:
        # Cannot happen (the payment row is made for a contribution); refuse loudly so WeChat retries.
        raise RuntimeError(f"payment {payment.out_trade_no} names no contribution")
    cf = crowdfund_lock(crowdfund_id=cf_id)
    c = contribution_lock(no=payment.out_trade_no)
    if c.transaction_id:
        return  # this payment is recorded already
    amount = c.amount_fen
    if amount != payment.amount_fen:
        raise RuntimeError(f"payment {payment.out_trade_no}: {payment.amount_fen} fen paid, {amount} reserved")
    fields = {"transaction_id": payment.transaction_id or "", "paid_at": payment.paid_at or timezone.now()}
    was_pending = c.status == K.PENDING_PAYMENT
    counted = cf.status == S.OPEN and (was_pending or (c.status == K.EXPIRED and cf.missing_fen >= amount))
    escrow, outside = escrow_account(crowdfund_id=cf.pk), outside_account(crowdfund_id=cf.pk)
    if counted:
        moved = {"raised_fen": F("raised_fen") + amount, "contributors": F("contributors") + 1,
                 "updated_at": timezone.now()}
        if was_pending:
            moved["reserved_fen"] = F("reserved_fen") - amount
        Crowdfund.objects.filter(pk=cf.pk).update(**moved)
        cf.refresh_from_db(fields=["raised_fen", "reserved_fen", "contributors"])
        contribution_move(c, K.PAID, kind="paid" if was_pending else "paid_late_counted", fields=fields)
        if cf.raised_fen == cf.goal_fen:
            order = _fund(cf, lock_with=(escrow, outside))
            _escrow_in(c, escrow=escrow, outside=outside)
            ledger_post(kind="campaigns.crowdfund_funded", idempotency_key=f"campaigns.funded:{cf.pk}",
                        legs=[(escrow, -cf.goal_fen), (outside, cf.goal_fen)],
                        memo=f"crowdfund {cf.pk} pays order {order.no}", cause_type="campaigns.crowdfund",
                        cause_id=cf.pk)
            crowdfund_move(cf, S.ORDERED, kind="ordered", data={"order": order.no},
                           fields={"order": order, "stock_held": False})
            notifications.notify_crowdfund_result(crowdfund_id=cf.pk)
            logger.info("crowdfund.ordered id=%s order=%s", cf.pk, order.no)
        else:
            accounts_lock(accounts_or_ids=[escrow, outside])
            _escrow_in(c, escrow=escrow, outside=outside)
        notifications.notify_contribution_paid(contribution_id=c.pk)
        return
    # Not counted: the money goes back (never over-funded, nothing taken after the end).
    reason = RefundReason.NO_ROOM if cf.status == S.OPEN else RefundReason.CLOSED
    if was_pending:  # a reservation of a closed crowdfund (released at close, so rare)
        Crowdfund.objects.filter(pk=cf.pk).update(reserved_fen=F("reserved_fen") - amount)
    contribution_move(c, K.REFUNDING, kind=f"paid_refund_{reason}", fields=fields,
                      data={"crowdfund_status": cf.status, "missing_fen": cf.missing_fen})
    accounts_lock(accounts_or_ids=[escrow, outside])
    _escrow_in(c, escrow=escrow, outside=outside)
    refund_open(contribution=c, amount_fen=amount, reason=reason)
    logger.info("crowdfund %s: contribution %s paid but not counted (%s): refunding", cf.pk, c.no, reason)


def _escrow_in(c: Contribution, *, escrow, outside) -> None:
    ledger_post(kind="campaigns.contribution_paid", idempotency_key=f"campaigns.contribution:{c.no}",
                legs=[(outside, -c.amount_fen), (escrow, c.amount_fen)],
                memo=f"contribution {c.no} to crowdfund {c.crowdfund_id}", cause_type="campaigns.contribution",
                cause_id=c.no)


def _fund(cf: Crowdfund, *, lock_with) -> object:
    """open → funded, and the initiator's order created and paid (mall), in this transaction."""
    crowdfund_move(cf, S.FUNDED, kind="funded", fields={"funded_at": timezone.now()},
                   data={"goal_fen": cf.goal_fen, "contributors": cf.contributors})
    return order_create_paid_by(
        user=cf.initiator, sku_id=cf.sku_id, quantity=cf.quantity, price_fen=cf.price_fen, address=cf.address,
        attribution=cf.attribution, paid_via=CROWDFUND_PURPOSE, paid_via_ref=str(cf.pk),
        buyer_note=f"好友众筹 #{cf.pk}", client_ip=cf.client_ip, lock_with=lock_with,
    )
