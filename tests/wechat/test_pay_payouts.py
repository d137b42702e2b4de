"""Refunds (and their encrypted notifications), transfers to balance and red packs, via the sandbox."""
from __future__ import annotations

import logging

import pytest

from core.errors import Conflict, InvalidInput
from wechat import services
from wechat.errors import WechatError
from wechat.models import (
    RedpackStatus,
    RefundStatus,
    TransferStatus,
    WechatRedpack,
    WechatRefund,
    WechatTransfer,
)
from wechat.pay import to_xml
from wechat.sandbox.models.pay import SandboxRedpack, SandboxRefund, SandboxTransfer
from wechat.sandbox.pay_views import refund_notification

from .pay_helpers import (
    OPENID,
    PURPOSE,
    arm,
    confirm_refund,
    create_payment,
    new_no,
    post_xml,
)
from .pay_helpers import refund_for as _refund

# --- refunds ----------------------------------------------------------------------------

def test_refund_notification_and_query(wechat_sandbox, paid, refund_hook):
    refund = _refund(paid, 300)

    assert refund.status == RefundStatus.PROCESSING
    assert refund.refund_id == SandboxRefund.objects.get(out_refund_no=refund.out_refund_no).refund_id
    assert len(refund_hook) == 0
    assert _refund(paid, 300, refund.out_refund_no).pk == refund.pk  # idempotent
    assert SandboxRefund.objects.count() == 1

    answer = confirm_refund(wechat_sandbox, refund.out_refund_no)

    assert answer["return_code"] == "SUCCESS"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.succeeded_at is not None
    assert len(refund_hook) == 1
    assert refund_hook.items[0]["in_atomic"]

    # A repeated notification changes nothing; the query agrees.
    assert confirm_refund(wechat_sandbox, refund.out_refund_no)["return_code"] == "SUCCESS"
    assert services.refund_query(out_refund_no=refund.out_refund_no).status == RefundStatus.SUCCEEDED
    refund.refresh_from_db()
    assert refund.notify_count == 2
    assert len(refund_hook) == 1


def test_refund_query_finds_a_result_whose_notification_was_lost(wechat_sandbox, paid, refund_hook):
    refund = _refund(paid, 1000)
    arm(wechat_sandbox, "refund.notify", "bad_signature")
    assert confirm_refund(wechat_sandbox, refund.out_refund_no)["return_code"] == "FAIL"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PROCESSING
    assert len(refund_hook) == 0

    refund = services.refund_query(out_refund_no=refund.out_refund_no)

    assert refund.status == RefundStatus.SUCCEEDED
    assert len(refund_hook) == 1


def test_abnormal_refund_is_failed_and_hooked(wechat_sandbox, paid, refund_hook):
    refund = _refund(paid, 200)
    assert confirm_refund(wechat_sandbox, refund.out_refund_no, status="CHANGE")["return_code"] == "SUCCESS"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    assert [c["status"] for c in refund_hook.items] == [RefundStatus.FAILED]


def test_refunds_cannot_exceed_the_payment_or_touch_unpaid_ones(wechat_sandbox, paid, refund_hook):
    _refund(paid, 600)
    with pytest.raises(InvalidInput) as exc:
        _refund(paid, 401)
    assert exc.value.code == "amount_too_large"

    unpaid, _ = create_payment()
    with pytest.raises(Conflict) as exc:
        _refund(unpaid, 100)
    assert exc.value.code == "payment_not_paid"

    other = new_no("R")
    _refund(paid, 100, other)
    with pytest.raises(Conflict) as exc:
        _refund(paid, 101, other)
    assert exc.value.code == "out_refund_no_reused"

    assert WechatRefund.objects.count() == 2
    assert SandboxRefund.objects.count() == 2
    assert len(refund_hook) == 0


def test_refund_refused_for_lack_of_funds_can_be_retried(wechat_sandbox, paid, refund_hook):
    out_refund_no = new_no("R")
    arm(wechat_sandbox, "pay.refund", "fail", err_code="NOTENOUGH")

    with pytest.raises(WechatError) as exc:
        _refund(paid, 500, out_refund_no)

    assert exc.value.code == "merchant_insufficient_funds"
    assert exc.value.extra["err_code"] == "NOTENOUGH"
    refund = WechatRefund.objects.get(out_refund_no=out_refund_no)
    assert refund.status == RefundStatus.REQUESTED
    assert refund.error_code == "NOTENOUGH"
    assert SandboxRefund.objects.count() == 0
    assert len(refund_hook) == 0

    refund = _refund(paid, 500, out_refund_no)
    assert refund.status == RefundStatus.PROCESSING


def test_definite_refund_refusal_fails_the_refund(wechat_sandbox, paid, refund_hook):
    out_refund_no = new_no("R")
    arm(wechat_sandbox, "pay.refund", "fail", err_code="USER_ACCOUNT_ABNORMAL")

    with pytest.raises(WechatError) as exc:
        _refund(paid, 500, out_refund_no)

    assert exc.value.extra["err_code"] == "USER_ACCOUNT_ABNORMAL"
    refund = WechatRefund.objects.get(out_refund_no=out_refund_no)
    assert refund.status == RefundStatus.FAILED
    assert [c["status"] for c in refund_hook.items] == [RefundStatus.FAILED]
    # A failed refund does not count against the payment: the full amount can be refunded anew.
    assert _refund(paid, 1000).status == RefundStatus.PROCESSING


def test_forged_refund_notifications_are_refused_and_change_nothing(wechat_sandbox, paid, refund_hook, caplog,
                                                                    settings):
    caplog.set_level(logging.WARNING)
    refund = _refund(paid, 400)
    row = SandboxRefund.objects.select_related("prepay").get(out_refund_no=refund.out_refund_no)
    row.refund_status, row.success_time = "SUCCESS", "2024-01-01 12:00:00"
    xml = lambda f: to_xml(f, signed=False).encode()  # noqa: E731
    good = refund_notification(row)
    cases = [
        ("encrypted with another key", xml(refund_notification(row, api_key="another-key-0000000000000000000")),
         "invalid_signature"),
        ("garbage req_info", xml(dict(good, req_info="bm90IGVuY3J5cHRlZA==")), "invalid_signature"),
        ("no req_info", xml({k: v for k, v in good.items() if k != "req_info"}), "invalid_signature"),
        ("wrong refund amount", xml(refund_notification(row, refund_fee=401)), "amount_mismatch"),
        ("wrong total", xml(refund_notification(row, total_fee=999)), "amount_mismatch"),
        ("other appid", xml(dict(good, appid="wx0ther0app0000001")), "merchant_mismatch"),
        ("unknown out_refund_no", xml(refund_notification(row, out_refund_no="R-NOT-OURS")), "unknown_out_refund_no"),
        ("another payment", xml(refund_notification(row, out_trade_no="T-OTHER")), "invalid_notification"),
        ("not XML", b"hello", "invalid_xml"),
    ]
    for name, body, code in cases:
        caplog.clear()
        res, answer = post_xml(wechat_sandbox, "/api/v1/wechat/refund/notify/", body)
        assert res.status_code == 400, f"{name}: {res.status_code} {res.text[:200]}"
        assert answer["return_code"] == "FAIL", name
        assert answer["return_msg"].startswith(f"{code}:"), f"{name}: {answer['return_msg']}"
        assert code in caplog.text, f"{name}: not logged"
        refund.refresh_from_db()
        assert (refund.status, refund.notify_count) == (RefundStatus.PROCESSING, 0), name
        assert len(refund_hook) == 0, name

    res, answer = post_xml(wechat_sandbox, "/api/v1/wechat/refund/notify/", xml(good))
    assert (res.status_code, answer["return_code"]) == (200, "SUCCESS")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED


# --- transfers --------------------------------------------------------------------------

def _transfer(amount_fen=5000, partner_trade_no=None):
    return services.transfer_create(partner_trade_no=partner_trade_no or new_no("P"), openid=OPENID,
                                    amount_fen=amount_fen, description="佣金提现", purpose=PURPOSE, ref="w-1")


def test_transfer_succeeds_once(wechat_sandbox, transfer_hook):
    transfer = _transfer()

    assert transfer.status == TransferStatus.SUCCEEDED
    sandbox = SandboxTransfer.objects.get(partner_trade_no=transfer.partner_trade_no)
    assert (transfer.payment_no, sandbox.amount, sandbox.openid) == (sandbox.payment_no, 5000, OPENID)
    assert [c["status"] for c in transfer_hook.items] == [TransferStatus.SUCCEEDED]

    again = _transfer(partner_trade_no=transfer.partner_trade_no)
    assert again.pk == transfer.pk
    assert again.attempts == 1
    assert SandboxTransfer.objects.count() == 1
    assert len(transfer_hook) == 1
    with pytest.raises(Conflict):
        _transfer(amount_fen=5001, partner_trade_no=transfer.partner_trade_no)


def test_transfer_refused_by_wechat_fails(wechat_sandbox, transfer_hook):
    transfer = _transfer(amount_fen=10)  # below WeChat's minimum

    assert transfer.status == TransferStatus.FAILED
    assert transfer.error_code == "AMOUNT_LIMIT"
    assert SandboxTransfer.objects.count() == 0
    assert [c["status"] for c in transfer_hook.items] == [TransferStatus.FAILED]


def test_transfer_timeout_is_unknown_then_query_settles_it(wechat_sandbox, transfer_hook, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.3
    arm(wechat_sandbox, "pay.transfer", "timeout")

    transfer = _transfer()

    assert transfer.status == TransferStatus.UNKNOWN
    assert transfer.error_code == "wechat_timeout"
    assert len(transfer_hook) == 0

    transfer = services.transfer_query(partner_trade_no=transfer.partner_trade_no)
    assert transfer.status == TransferStatus.SUCCEEDED
    assert len(transfer_hook) == 1


def test_transfer_answer_with_a_bad_signature_is_not_believed(wechat_sandbox, transfer_hook):
    arm(wechat_sandbox, "pay.transfer", "bad_signature")
    transfer = _transfer()
    assert transfer.status == TransferStatus.UNKNOWN
    assert transfer.error_code == "invalid_signature"
    assert len(transfer_hook) == 0
    # Retrying with the same number is safe: WeChat pays a partner_trade_no once.
    transfer = _transfer(partner_trade_no=transfer.partner_trade_no)
    assert transfer.status == TransferStatus.SUCCEEDED
    assert SandboxTransfer.objects.count() == 1
    assert len(transfer_hook) == 1


def test_transfer_refused_for_lack_of_funds_stays_requested_and_can_be_retried(wechat_sandbox, transfer_hook):
    arm(wechat_sandbox, "pay.transfer", "fail", err_code="NOTENOUGH")
    transfer = _transfer()
    assert (transfer.status, transfer.error_code) == (TransferStatus.REQUESTED, "NOTENOUGH")
    assert SandboxTransfer.objects.count() == 0
    assert len(transfer_hook) == 0
    transfer = _transfer(partner_trade_no=transfer.partner_trade_no)  # topped up: the same number again
    assert transfer.status == TransferStatus.SUCCEEDED
    assert SandboxTransfer.objects.count() == 1
    assert len(transfer_hook) == 1


def test_transfer_system_error_is_unknown(wechat_sandbox, transfer_hook):
    arm(wechat_sandbox, "pay.transfer", "fail", err_code="SYSTEMERROR")
    transfer = _transfer()
    assert transfer.status == TransferStatus.UNKNOWN
    assert transfer.error_code == "SYSTEMERROR"
    assert len(transfer_hook) == 0
    assert WechatTransfer.objects.count() == 1


# --- red packs --------------------------------------------------------------------------

def _redpack(amount_fen=888, mch_billno=None):
    return services.redpack_send(mch_billno=mch_billno or new_no("H")[:28], openid=OPENID, amount_fen=amount_fen,
                                 send_name="分销小店", act_name="新人红包", wishing="恭喜发财", purpose=PURPOSE,
                                 ref="e-1")


def test_redpack_sent_failed_and_untrusted(wechat_sandbox):
    sent = _redpack()
    assert sent.status == RedpackStatus.SENT
    assert sent.send_listid == SandboxRedpack.objects.get(mch_billno=sent.mch_billno).send_listid
    assert _redpack(mch_billno=sent.mch_billno).pk == sent.pk

    refused = _redpack(amount_fen=50)  # below 1 yuan
    assert refused.status == RedpackStatus.FAILED
    assert refused.error_code == "MONEY_LIMIT"

    arm(wechat_sandbox, "pay.sendredpack", "bad_signature")
    untrusted = _redpack()
    assert untrusted.status == RedpackStatus.UNKNOWN
    assert untrusted.error_code == "invalid_signature"

    assert SandboxRedpack.objects.count() == 2  # the untrusted one was carried out by the sandbox
    assert WechatRedpack.objects.count() == 3
