"""Helpers for the withdrawal review tests: the queue's addresses, a requested withdrawal, an
order attributed to one distributor (paid by default), a refund carried through."""
from __future__ import annotations

import itertools

from commissions.models import Withdrawal
from commissions.services.withdrawals import withdrawal_request
from mall.models import Order
from mall.services.orders import order_create, order_mark_paid
from mall.services.refunds import refund_approve, refund_finalize, refund_request
from tests.mall.orders_helpers import ADDRESS, make_sku

from .wallet_helpers import fund, funded_distributor

LIST = "/api/v1/ops/withdrawals/"
ADMIN = "/admin/commissions/withdrawal/"
_txn = itertools.count(1)


def make_withdrawal(amount_fen: int = 1_000, *, distributor=None, **user_fields) -> Withdrawal:
    distributor = distributor or funded_distributor(0, **user_fields)
    fund(distributor.user, amount_fen)
    return withdrawal_request(user=distributor.user, amount_fen=amount_fen)


def attributed_order(buyer, distributor, *, price_fen: int = 1_000, paid: bool = True, client_ip=None) -> Order:
    order = order_create(user=buyer, items=[{"sku_id": make_sku(price_fen=price_fen).pk, "quantity": 1}],
                         address=ADDRESS, client_ip=client_ip)
    Order.objects.filter(pk=order.pk).update(attribution={
        "source": "share_code", "distributor_id": distributor.pk, "level1_distributor_id": distributor.pk,
        "level2_distributor_id": None, "self_referral": False,
    })
    if paid:
        order_mark_paid(order_no=order.no, amount_fen=order.total_fen, transaction_id=f"42{next(_txn):026d}")
    return Order.objects.get(pk=order.pk)


def refund(order, amount_fen: int, operator) -> None:
    r = refund_request(user=order.user, order_no=order.no, amount_fen=amount_fen, reason="退货")
    refund_approve(operator=operator, refund_id=r.pk)
    refund_finalize(refund_no=r.no, succeeded=True)
