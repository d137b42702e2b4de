"""Rows for the operators' crowdfund tests, built straight through the ORM (no WeChat, no
services): a crowdfund in any status and at any time, contributions with their WeChat
payments, refunds with their WeChat refunds, and the ledger postings the services would
make (ledger_post on the crowdfund's escrow and outside accounts), so the books balance.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.contrib.auth.models import Permission
from django.utils import timezone

from campaigns.models import (
    CROWDFUND_PURPOSE,
    CampaignRefund,
    CampaignRefundStatus,
    Contribution,
    ContributionStatus,
    Crowdfund,
    CrowdfundEvent,
    CrowdfundStatus,
    RefundReason,
)
from campaigns.services.crowdfund_state import escrow_account, outside_account
from ledger.locks import account_get_or_create
from ledger.models import AccountKind
from ledger.services import ledger_post
from mall.models import OrderStatus
from tests.factories import UserFactory
from tests.mall.factories import ADDRESS, order_for
from tests.mall.orders_helpers import make_sku
from wechat.models import PaymentStatus, WechatPayment, WechatRefund
from wechat.models import RefundStatus as WechatRefundStatus

_seq = itertools.count(1)
K = ContributionStatus
S = CrowdfundStatus


def staff_with(*perms: str):
    """A staff user (not a superuser) holding exactly these "app.codename" permissions."""
    user = UserFactory(is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return user


def make_crowdfund(*, initiator=None, sku=None, price_fen: int = 1000, quantity: int = 1,
                   status: str = S.OPEN, created_at: datetime | None = None, **fields) -> Crowdfund:
    sku = sku or make_sku(price_fen=price_fen, stock=10)
    n = next(_seq)
    cf = Crowdfund.objects.create(
        initiator=initiator or UserFactory(), product=sku.product, sku=sku, quantity=quantity,
        price_fen=sku.price_fen, goal_fen=sku.price_fen * quantity, title=sku.product.title, sku_name=sku.name,
        address=dict(ADDRESS), share_code=f"OPS{n:08d}", deadline=timezone.now() + timedelta(hours=24),
        status=status, **fields)
    if created_at is not None:
        Crowdfund.objects.filter(pk=cf.pk).update(created_at=created_at)
        cf.created_at = created_at
    return cf


def event(cf: Crowdfund, kind: str, *, to: str = "", frm: str = "", subject: str = "crowdfund", **kw) -> CrowdfundEvent:
    return CrowdfundEvent.objects.create(crowdfund=cf, subject=subject, kind=kind, from_status=frm, to_status=to, **kw)


def contribute(cf: Crowdfund, amount_fen: int, *, user=None, status: str = K.PAID, paid_at: datetime | None = None,
               payment: bool = True, book: bool = True) -> Contribution:
    """A contribution with its WeChat payment (paid when the contribution was); a paid one is
    booked into the escrow (outside → escrow) like the payment hook does, and counted on the
    crowdfund when its status is `paid`."""
    n = next(_seq)
    was_paid = status in (K.PAID, K.REFUNDING, K.REFUNDED)
    paid_at = paid_at or (timezone.now() if was_paid else None)
    c = Contribution.objects.create(
        no=f"CFOPS{n:012d}", crowdfund=cf, user=user or UserFactory(), amount_fen=amount_fen, status=status,
        reserved_until=timezone.now() + timedelta(minutes=10), paid_at=paid_at,
        transaction_id=f"42000{n:012d}" if was_paid else "")
    if payment:
        WechatPayment.objects.create(
            out_trade_no=c.no, purpose=CROWDFUND_PURPOSE, ref=str(cf.pk), amount_fen=amount_fen,
            openid=c.user.openid or "o-x", description="众筹", client_ip="203.0.113.9",
            status=PaymentStatus.PAID if was_paid else PaymentStatus.PREPAID,
            transaction_id=c.transaction_id or None, paid_at=paid_at)
    if was_paid and book:
        ledger_post(kind="campaigns.contribution_paid", idempotency_key=f"campaigns.contribution:{c.no}",
                    legs=[(outside_account(crowdfund_id=cf.pk), -amount_fen),
                          (escrow_account(crowdfund_id=cf.pk), amount_fen)],
                    cause_type="campaigns.contribution", cause_id=c.no)
    if status == K.PAID:
        cf.raised_fen += amount_fen
        cf.contributors += 1
        Crowdfund.objects.filter(pk=cf.pk).update(raised_fen=cf.raised_fen, contributors=cf.contributors)
    elif status == K.PENDING_PAYMENT:
        cf.reserved_fen += amount_fen
        Crowdfund.objects.filter(pk=cf.pk).update(reserved_fen=cf.reserved_fen)
    return c


def refund(c: Contribution, *, amount_fen: int | None = None, status: str = CampaignRefundStatus.SUCCEEDED,
           reason: str = RefundReason.EXPIRED, attempt: int = 1,
           wechat_status: str | None = WechatRefundStatus.SUCCEEDED, finished_at: datetime | None = None,
           book: bool = True) -> CampaignRefund:
    """A refund of (part of) a contribution with its WeChat refund (`wechat_status` None: not
    asked yet); a succeeded one leaves the escrow (escrow → outside) as the refund hook does."""
    amount = amount_fen or c.amount_fen
    done = status != CampaignRefundStatus.REQUESTED
    r = CampaignRefund.objects.create(
        no=f"{c.no}-{reason[:2].upper()}-{attempt}", contribution=c, amount_fen=amount, reason=reason,
        attempt=attempt, status=status, finished_at=(finished_at or timezone.now()) if done else None,
        error_code="NOTENOUGH" if status == CampaignRefundStatus.FAILED else "")
    if wechat_status is not None:
        WechatRefund.objects.create(out_refund_no=r.no, payment=WechatPayment.objects.get(out_trade_no=c.no),
                                    amount_fen=amount, status=wechat_status, refund_id=f"50300{r.pk:010d}")
    if status == CampaignRefundStatus.SUCCEEDED:
        Contribution.objects.filter(pk=c.pk).update(refunded_fen=c.refunded_fen + amount)
        c.refunded_fen += amount
        if book:
            cf_id = c.crowdfund_id
            ledger_post(kind="campaigns.contribution_refund", idempotency_key=f"campaigns.refund:{r.no}",
                        legs=[(escrow_account(crowdfund_id=cf_id), -amount),
                              (outside_account(crowdfund_id=cf_id), amount)],
                        cause_type="campaigns.contribution", cause_id=c.no)
    return r


def fund(cf: Crowdfund) -> Crowdfund:
    """The crowdfund reached its goal: ordered, with its paid order and the postings the
    funding makes (escrow → outside, cause campaigns.crowdfund; the mall's payment, cause
    mall.order)."""
    cf.refresh_from_db()
    assert cf.raised_fen == cf.goal_fen, "fund() needs paid contributions that make the goal"
    order = order_for(cf.initiator, cf.sku, cf.quantity, status=OrderStatus.PAID)
    ledger_post(kind="campaigns.crowdfund_funded", idempotency_key=f"campaigns.funded:{cf.pk}",
                legs=[(escrow_account(crowdfund_id=cf.pk), -cf.goal_fen), (outside_account(crowdfund_id=cf.pk),
                                                                          cf.goal_fen)],
                cause_type="campaigns.crowdfund", cause_id=cf.pk)
    ledger_post(kind="mall.payment", idempotency_key=f"mall.payment:{order.no}",
                legs=[(account_get_or_create(kind=AccountKind.PLATFORM_CASH, ref="mall00"), cf.goal_fen),
                      (account_get_or_create(kind=AccountKind.SALES_REVENUE, ref="mall00"), -cf.goal_fen)],
                cause_type="mall.order", cause_id=order.no)
    now = timezone.now()
    Crowdfund.objects.filter(pk=cf.pk).update(status=S.ORDERED, order=order, funded_at=now, stock_held=False)
    event(cf, "funded", frm=S.OPEN, to=S.FUNDED)
    event(cf, "ordered", frm=S.FUNDED, to=S.ORDERED, data={"order": order.no})
    cf.refresh_from_db()
    return cf


def close(cf: Crowdfund, to: str, *, refunded: bool = False) -> Crowdfund:
    """open → expired / cancelled (→ refunded), with the events the services write."""
    Crowdfund.objects.filter(pk=cf.pk).update(status=S.REFUNDED if refunded else to, closed_at=timezone.now(),
                                              stock_held=False)
    event(cf, to, frm=S.OPEN, to=to)
    if refunded:
        event(cf, "refunded", frm=to, to=S.REFUNDED)
    cf.refresh_from_db()
    return cf
