"""Helpers for the crowdfund tests: a crowdfund through the service, friends chipping in and
paying through the WeChat sandbox over real HTTP, and the money invariants every test checks."""
from __future__ import annotations

import requests
from django.db.models import Sum

from campaigns.models import CampaignRefund, CampaignRefundStatus, Contribution, ContributionStatus, Crowdfund
from campaigns.services import crowdfunds as cf_services
from campaigns.services.crowdfund_state import escrow_account
from ledger.models import Account
from tests.factories import UserFactory
from tests.mall.factories import ADDRESS
from tests.mall.orders_helpers import make_sku
from wechat.models import WechatPayment

IP = "203.0.113.9"
K = ContributionStatus


def start(initiator=None, *, price_fen: int = 1000, quantity: int = 1, stock: int = 10, sku=None, **kw) -> Crowdfund:
    """A crowdfund of `quantity` × a new SKU (or `sku`) started by `initiator` (a new user)."""
    sku = sku or make_sku(price_fen=price_fen, stock=stock)
    return cf_services.crowdfund_create(user=initiator or UserFactory(), sku_id=sku.pk, quantity=quantity,
                                        address=dict(ADDRESS), client_ip=IP, **kw)


def chip_in(cf: Crowdfund, amount_fen: int, *, user=None, **kw) -> tuple[Contribution, dict]:
    return cf_services.contribution_create(user=user or UserFactory(), crowdfund_id=cf.pk, amount_fen=amount_fen,
                                           client_ip=IP, **kw)


def sandbox_pay(server, pay: dict) -> dict:
    """The friend pays in WeChat: the sandbox sends the signed notification back to us."""
    res = requests.post(f"{server.url}/wechat-sandbox/pay/{pay['prepay_id']}/confirm/", timeout=30)
    assert res.status_code == 200, res.text
    return res.json()


def sandbox_refund_confirm(server, out_refund_no: str, status: str = "SUCCESS") -> dict:
    res = requests.post(f"{server.url}/wechat-sandbox/pay/refunds/{out_refund_no}/confirm/", json={"status": status},
                        timeout=30)
    assert res.status_code == 200, res.text
    return res.json()


def sandbox_fault(server, endpoint: str, mode: str, times: int = 1, err_code: str = "") -> None:
    res = requests.post(f"{server.url}/wechat-sandbox/faults/",
                        json={"endpoint": endpoint, "mode": mode, "times": times, "err_code": err_code}, timeout=10)
    assert res.status_code == 201, res.text


def confirm_refunds(server, cf: Crowdfund, status: str = "SUCCESS") -> int:
    """WeChat finishes every requested refund of the crowdfund's contributions."""
    nos = list(CampaignRefund.objects.filter(contribution__crowdfund=cf, status=CampaignRefundStatus.REQUESTED)
               .values_list("no", flat=True))
    for no in nos:
        sandbox_refund_confirm(server, no, status)
    return len(nos)


def paid_sum(cf: Crowdfund) -> int:
    """Every fen WeChat says was paid for the crowdfund's contributions."""
    nos = list(cf.contributions.values_list("no", flat=True))
    return WechatPayment.objects.filter(out_trade_no__in=nos, status="paid").aggregate(s=Sum("amount_fen"))["s"] or 0


def escrow_balance(cf: Crowdfund) -> int:
    return Account.objects.get(pk=escrow_account(crowdfund_id=cf.pk).pk).balance_fen


def assert_money_accounted(cf: Crowdfund) -> None:
    """Every paid fen is in the order, given back (by WeChat or settled by an operator), or waiting
    in the escrow to be given back;
    raised never exceeds the goal."""
    cf.refresh_from_db()
    assert cf.raised_fen + cf.reserved_fen <= cf.goal_fen
    in_order = cf.goal_fen if cf.order_id else 0
    back = [CampaignRefundStatus.SUCCEEDED, CampaignRefundStatus.SETTLED]  # by WeChat, or outside it (an operator)
    refunded = (CampaignRefund.objects.filter(contribution__crowdfund=cf, status__in=back)
                .exclude(reason="order_refund").aggregate(s=Sum("amount_fen"))["s"] or 0)
    assert paid_sum(cf) == in_order + refunded + escrow_balance(cf)
    counted = cf.contributions.filter(status=K.PAID).aggregate(s=Sum("amount_fen"))["s"] or 0
    if cf.order_id:
        assert counted == cf.goal_fen
