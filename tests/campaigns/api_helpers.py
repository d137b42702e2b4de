"""Helpers for the crowdfund HTTP tests (tests/campaigns/test_crowdfund_api*.py): the request
bodies, the error shape, and a snapshot of everything a refused request must leave alone."""
from __future__ import annotations

from dataclasses import dataclass

from campaigns.models import CampaignRefund, Contribution, Crowdfund, CrowdfundEvent
from ledger.models import LedgerTransaction
from mall.models import Order, Sku
from tests.campaigns.crowdfund_helpers import chip_in, sandbox_pay
from tests.mall.factories import ADDRESS
from wechat.models import WechatPayment

CROWDFUNDS = "/api/v1/crowdfunds/"


def detail_url(cf_or_id) -> str:
    return f"{CROWDFUNDS}{getattr(cf_or_id, 'pk', cf_or_id)}/"


def contributions_url(cf_or_id) -> str:
    return f"{detail_url(cf_or_id)}contributions/"


def finish_url(cf_or_id) -> str:
    return f"{detail_url(cf_or_id)}finish/"


def create_body(sku, **over) -> dict:
    """A valid POST /crowdfunds/ body for one of `sku`; `over` replaces or adds fields."""
    return {"sku_id": sku.pk, "quantity": 1, "address": dict(ADDRESS), **over}


def assert_error(res, status: int, code: str) -> dict:
    """The API's error shape, exactly: {"code", "message", "extra"} with this status and code."""
    assert res.status_code == status, (res.status_code, res.content[:500])
    body = res.json()
    assert set(body) == {"code", "message", "extra"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["extra"], dict), body
    return body


def assert_invalid(res, field: str) -> dict:
    """400 `invalid` naming `field` in extra.fields."""
    body = assert_error(res, 400, "invalid")
    assert field in body["extra"].get("fields", {}), body
    return body


@dataclass(frozen=True)
class World:
    """What a refused request must not change."""

    crowdfunds: tuple
    contributions: int
    payments: int
    ledger: int
    refunds: int
    orders: int
    events: int
    stock: tuple


def world() -> World:
    return World(
        crowdfunds=tuple(Crowdfund.objects.order_by("pk").values_list(
            "pk", "status", "raised_fen", "reserved_fen", "contributors", "stock_held", "order_id")),
        contributions=Contribution.objects.count(),
        payments=WechatPayment.objects.count(),
        ledger=LedgerTransaction.objects.count(),
        refunds=CampaignRefund.objects.count(),
        orders=Order.objects.count(),
        events=CrowdfundEvent.objects.count(),
        stock=tuple(Sku.objects.order_by("pk").values_list("pk", "stock")),
    )


def paid(server, cf, amount_fen: int, *, user=None, **kw) -> Contribution:
    """A contribution of `amount_fen` made through the service and paid in the sandbox."""
    c, pay = chip_in(cf, amount_fen, user=user, **kw)
    sandbox_pay(server, pay)
    c.refresh_from_db()
    return c
