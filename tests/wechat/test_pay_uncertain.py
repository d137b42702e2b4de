"""Uncertain WeChat answers on money going out (transfers, red packs, refunds): only documented
refusals fail; everything else is queried with the same number, so a "SEND_FAILED / SYSTEMERROR,
but it went through" pays exactly once. (Issue 9, item 1.)"""
from __future__ import annotations

import pytest
import requests

from ledger.models import LedgerTransaction
from mall.models import Order, OrderStatus, Refund
from mall.models import RefundStatus as MallRefundStatus
from tests.mall.orders_helpers import make_sku, pay, place, sandbox_confirm, sandbox_refund_confirm
from wechat import services
from wechat.errors import WechatError
from wechat.models import (
    RedpackStatus,
    RefundStatus,
    TransferStatus,
    WechatRedpack,
    WechatRefund,
)
from wechat.sandbox.models.pay import SandboxRedpack, SandboxRefund, SandboxTransfer

from .pay_helpers import (
    OPENID,
    PURPOSE,
    confirm_refund,
    new_no,
)
from .pay_helpers import refund_for as _refund


def arm(server, endpoint: str, err_code: str, **extra) -> None:
    res = requests.post(f"{server.url}/wechat-sandbox/faults/",
                        json={"endpoint": endpoint, "mode": "fail", "err_code": err_code, **extra}, timeout=5)
    assert res.status_code == 201, res.text


def _transfer(partner_trade_no=None, amount_fen=5000):
    return services.transfer_create(partner_trade_no=partner_trade_no or new_no("P"), openid=OPENID,
                                    amount_fen=amount_fen, description="佣金提现", purpose=PURPOSE, ref="w-1")


def _redpack(mch_billno=None, amount_fen=888):
    return services.redpack_send(mch_billno=mch_billno or new_no("H")[:28], openid=OPENID, amount_fen=amount_fen,
                                 send_name="分销小店", act_name="新人红包", wishing="恭喜发财", purpose=PURPOSE,
                                 ref="e-1")


# --- the sandbox can say "error, but it happened" ----------------------------------------

def test_sandbox_fault_outcomes_are_checked(wechat_sandbox):
    url = f"{wechat_sandbox.url}/wechat-sandbox/faults/"
    bad = requests.post(url, json={"endpoint": "pay.transfer", "mode": "fail", "outcome": "maybe"}, timeout=5)
    assert bad.status_code == 400
    bad = requests.post(url, json={"endpoint": "pay.transfer", "mode": "timeout", "executed": True}, timeout=5)
    assert bad.status_code == 400
    ok = requests.post(url, json={"endpoint": "pay.transfer", "mode": "fail", "err_code": "SEND_FAILED",
                                  "executed": True}, timeout=5)
    assert (ok.status_code, ok.json()["outcome"]) == (201, "executed")


# --- transfers ------------------------------------------------------------------------------

def test_transfer_send_failed_but_paid_is_queried_at_once_and_succeeds_once(wechat_sandbox, transfer_hook):
    arm(wechat_sandbox, "pay.transfer", "SEND_FAILED", executed=True)

    transfer = _transfer()

    assert transfer.status == TransferStatus.SUCCEEDED, transfer.error_code
    assert transfer.payment_no == SandboxTransfer.objects.get().payment_no
    assert [c["status"] for c in transfer_hook.items] == [TransferStatus.SUCCEEDED]
    assert _transfer(transfer.partner_trade_no).attempts == 1
    assert SandboxTransfer.objects.count() == 1
    assert len(transfer_hook) == 1


def test_transfer_send_failed_recorded_as_failed_fails_through_the_query(wechat_sandbox, transfer_hook):
    arm(wechat_sandbox, "pay.transfer", "SEND_FAILED", outcome="failed")

    transfer = _transfer()

    assert (transfer.status, transfer.error_code) == (TransferStatus.FAILED, "FAILED")
    assert [c["status"] for c in transfer_hook.items] == [TransferStatus.FAILED]
    assert _transfer(transfer.partner_trade_no).status == TransferStatus.FAILED
    assert len(transfer_hook) == 1
    assert SandboxTransfer.objects.get().status == "FAILED"


def test_transfer_send_failed_unknown_to_wechat_is_sent_again_with_the_same_number(wechat_sandbox, transfer_hook):
    arm(wechat_sandbox, "pay.transfer", "SEND_FAILED")

    transfer = _transfer()

    assert (transfer.status, transfer.error_code) == (TransferStatus.UNKNOWN, "SEND_FAILED")
    assert len(transfer_hook) == 0
    assert not SandboxTransfer.objects.exists()

    transfer = _transfer(transfer.partner_trade_no)  # the retry: query says NOT_FOUND → same number again

    assert (transfer.status, transfer.attempts) == (TransferStatus.SUCCEEDED, 2)
    assert SandboxTransfer.objects.get().partner_trade_no == transfer.partner_trade_no
    assert [c["status"] for c in transfer_hook.items] == [TransferStatus.SUCCEEDED]


@pytest.mark.parametrize("err_code", ["NAME_MISMATCH", "AMOUNT_LIMIT", "OPENID_ERROR", "NO_AUTH", "PARAM_ERROR",
                                      "MONEY_LIMIT", "RECV_ACCOUNT_NOT_ALLOWED", "PAYER_ACCOUNT_ABNORMAL"])
def test_transfer_documented_refusals_fail_at_once(wechat_sandbox, transfer_hook, err_code):
    arm(wechat_sandbox, "pay.transfer", err_code)
    transfer = _transfer()
    assert (transfer.status, transfer.error_code) == (TransferStatus.FAILED, err_code)
    assert [c["status"] for c in transfer_hook.items] == [TransferStatus.FAILED]
    assert transfer.attempts == 1


# --- red packs -------------------------------------------------------------------------------

@pytest.mark.parametrize("err_code", ["SEND_FAILED", "SYSTEMERROR", "PROCESSING"])
def test_redpack_uncertain_but_sent_is_queried_and_sent_once(wechat_sandbox, err_code):
    arm(wechat_sandbox, "pay.sendredpack", err_code, executed=True)

    redpack = _redpack()

    assert redpack.status == RedpackStatus.SENT, f"{err_code}: {redpack.status} {redpack.error_code}"
    assert redpack.send_listid == SandboxRedpack.objects.get().send_listid
    assert _redpack(redpack.mch_billno).attempts == 1
    assert SandboxRedpack.objects.count() == 1


def test_redpack_failed_at_wechat_fails_through_the_query(wechat_sandbox):
    arm(wechat_sandbox, "pay.sendredpack", "SEND_FAILED", outcome="failed")
    redpack = _redpack()
    assert (redpack.status, redpack.error_code) == (RedpackStatus.FAILED, "FAILED")
    assert _redpack(redpack.mch_billno).status == RedpackStatus.FAILED


def test_redpack_unknown_to_wechat_is_sent_again_with_the_same_number(wechat_sandbox):
    arm(wechat_sandbox, "pay.sendredpack", "SYSTEMERROR")
    redpack = _redpack()
    assert (redpack.status, redpack.error_code) == (RedpackStatus.UNKNOWN, "SYSTEMERROR")
    assert not SandboxRedpack.objects.exists()
    redpack = _redpack(redpack.mch_billno)
    assert (redpack.status, redpack.attempts) == (RedpackStatus.SENT, 2)
    assert SandboxRedpack.objects.get().mch_billno == redpack.mch_billno


def test_redpack_refused_for_now_stays_requested_and_definite_refusals_fail(wechat_sandbox):
    arm(wechat_sandbox, "pay.sendredpack", "NOTENOUGH")
    later = _redpack()
    assert (later.status, later.error_code) == (RedpackStatus.REQUESTED, "NOTENOUGH")
    assert _redpack(later.mch_billno).status == RedpackStatus.SENT

    arm(wechat_sandbox, "pay.sendredpack", "OPENID_ERROR")
    refused = _redpack()
    assert (refused.status, refused.error_code) == (RedpackStatus.FAILED, "OPENID_ERROR")
    assert SandboxRedpack.objects.count() == 1


def test_redpack_query_reads_gethbinfo_with_its_hblist(wechat_sandbox):
    redpack = _redpack()
    WechatRedpack.objects.filter(pk=redpack.pk).update(status=RedpackStatus.UNKNOWN)
    assert services.redpack_query(mch_billno=redpack.mch_billno).status == RedpackStatus.SENT
    WechatRedpack.objects.create(mch_billno="HNEVER0SENT", openid=OPENID, amount_fen=100, send_name="a",
                                 act_name="b", wishing="c", purpose=PURPOSE, ref="x")
    with pytest.raises(WechatError) as exc:
        services.redpack_query(mch_billno="HNEVER0SENT")
    assert exc.value.extra["err_code"] == "NOT_FOUND"


# --- refunds ---------------------------------------------------------------------------------

@pytest.mark.parametrize("err_code", ["SYSTEMERROR", "BIZERR_NEED_RETRY", "A_CODE_WECHAT_ADDS_LATER"])
def test_refund_uncertain_but_accepted_is_queried_and_refunded_once(wechat_sandbox, paid, refund_hook, err_code):
    arm(wechat_sandbox, "pay.refund", err_code, executed=True)

    refund = _refund(paid, 600)  # no exception: the query found it accepted

    assert refund.status == RefundStatus.PROCESSING, f"{err_code}: {refund.status}"
    assert refund.refund_id == SandboxRefund.objects.get().refund_id
    assert len(refund_hook) == 0
    assert confirm_refund(wechat_sandbox, refund.out_refund_no)["return_code"] == "SUCCESS"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert [c["status"] for c in refund_hook.items] == [RefundStatus.SUCCEEDED]
    assert SandboxRefund.objects.count() == 1


def test_refund_system_error_unknown_to_wechat_is_sent_again_with_the_same_number(wechat_sandbox, paid,
                                                                                  refund_hook):
    out_refund_no = new_no("R")
    arm(wechat_sandbox, "pay.refund", "SYSTEMERROR")
    with pytest.raises(WechatError):
        _refund(paid, 600, out_refund_no)
    refund = WechatRefund.objects.get(out_refund_no=out_refund_no)
    assert (refund.status, refund.error_code) == (RefundStatus.REQUESTED, "SYSTEMERROR")
    assert len(refund_hook) == 0
    assert not SandboxRefund.objects.exists()

    refund = _refund(paid, 600, out_refund_no)  # query: REFUNDNOTEXIST → the same number again

    assert refund.status == RefundStatus.PROCESSING
    assert SandboxRefund.objects.get().out_refund_no == out_refund_no


def test_order_refund_with_system_error_that_happened_refunds_the_order_once(wechat_sandbox, user_client,
                                                                             operator_client):
    sku = make_sku(price_fen=1000, stock=10)
    no = place(user_client, sku, 3)
    sandbox_confirm(wechat_sandbox.url, pay(user_client, no)["prepay_id"])
    res = user_client.post(f"/api/v1/orders/{no}/refunds/", {"amount_fen": 3000, "reason": "不想要了"}, format="json")
    assert res.status_code == 201, res.json()
    refund = Refund.objects.get(pk=res.json()["id"])
    arm(wechat_sandbox, "pay.refund", "A_CODE_WECHAT_ADDS_LATER", executed=True)

    assert operator_client.post(f"/api/v1/ops/refunds/{refund.pk}/approve/", {}, format="json").status_code == 200

    assert WechatRefund.objects.get(out_refund_no=refund.no).status == RefundStatus.PROCESSING
    assert Order.objects.get(no=no).status == OrderStatus.REFUNDING  # not reopened: WeChat accepted it
    sandbox_refund_confirm(wechat_sandbox.url, refund.no, "SUCCESS")
    order = Order.objects.get(no=no)
    assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, 3000)
    assert Refund.objects.get(pk=refund.pk).status == MallRefundStatus.SUCCEEDED
    assert SandboxRefund.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="mall.refund").count() == 1
