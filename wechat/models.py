"""Our own record of what we asked WeChat Pay for, and what it answered.

`wechat` is the lowest layer: it knows nothing of orders, crowdfunds or withdrawals.
A payment names what it pays for with `purpose` (e.g. "mall.order") and `ref` (that
thing's id as a string); higher apps react to results through `wechat.hooks`.

Every status is a `TextChoices` with its transition table here (`PAYMENT_TRANSITIONS`, …,
checked at import by `core.transitions.transitions_check`); services change a status only
through `core.transitions.transition`, which locks the row, checks the table and writes a
`WechatEvent`.
"""
from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import yuan
from core.transitions import transitions_check


class PaymentStatus(models.TextChoices):
    CREATED = "created", "Created (unified order not confirmed yet)"
    PREPAID = "prepaid", "Prepaid (WeChat gave a prepay_id; waiting for the shopper)"
    PAID = "paid", "Paid (signed notification or order query said so)"
    CLOSED = "closed", "Closed (cannot be paid any more)"
    FAILED = "failed", "Failed (WeChat refused the unified order)"


PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    PaymentStatus.CREATED: frozenset({PaymentStatus.PREPAID, PaymentStatus.PAID, PaymentStatus.CLOSED,
                                      PaymentStatus.FAILED}),
    PaymentStatus.PREPAID: frozenset({PaymentStatus.PAID, PaymentStatus.CLOSED}),
    PaymentStatus.PAID: frozenset(),
    PaymentStatus.CLOSED: frozenset(),
    PaymentStatus.FAILED: frozenset({PaymentStatus.CLOSED}),
}
transitions_check(PAYMENT_TRANSITIONS, PaymentStatus)


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "Requested (WeChat has not confirmed it accepted the refund)"
    PROCESSING = "processing", "Processing (accepted by WeChat; waiting for the result)"
    SUCCEEDED = "succeeded", "Succeeded (money returned to the payer)"
    FAILED = "failed", "Failed (refused, or abnormal: needs an operator)"
    CLOSED = "closed", "Closed by WeChat"


REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    RefundStatus.REQUESTED: frozenset({RefundStatus.PROCESSING, RefundStatus.SUCCEEDED, RefundStatus.FAILED,
                                       RefundStatus.CLOSED}),
    RefundStatus.PROCESSING: frozenset({RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.CLOSED}),
    RefundStatus.SUCCEEDED: frozenset(),
    RefundStatus.FAILED: frozenset(),
    RefundStatus.CLOSED: frozenset(),
}
transitions_check(REFUND_TRANSITIONS, RefundStatus)
REFUND_FINAL = frozenset({RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.CLOSED})


class PayApi(models.TextChoices):
    V2 = "v2", "APIv2 (XML, MD5)"
    V3 = "v3", "APIv3 (JSON, RSA)"


class TransferApi(models.TextChoices):
    V2 = "v2", "企业付款到零钱 (v2 transfers)"
    V3_BILL = "v3_bill", "商家转账 (APIv3 transfer bill, the user confirms)"


class TransferStatus(models.TextChoices):
    REQUESTED = "requested", "Requested (not sent, or no answer yet)"
    WAITING = "waiting", "Waiting for the user's confirmation (transfer bill; package_info)"
    SUCCEEDED = "succeeded", "Succeeded (money in the user's WeChat balance)"
    FAILED = "failed", "Failed (WeChat refused it, or the user did not take it; no money moved)"
    CANCELLED = "cancelled", "Cancelled (transfer bill cancelled before the user confirmed; no money moved)"
    UNKNOWN = "unknown", "Unknown (timeout or untrusted answer; query or retry with the same number)"


TRANSFER_TRANSITIONS: dict[str, frozenset[str]] = {
    TransferStatus.REQUESTED: frozenset({TransferStatus.SUCCEEDED, TransferStatus.FAILED, TransferStatus.UNKNOWN,
                                         TransferStatus.WAITING, TransferStatus.CANCELLED}),
    TransferStatus.UNKNOWN: frozenset({TransferStatus.SUCCEEDED, TransferStatus.FAILED, TransferStatus.WAITING,
                                       TransferStatus.CANCELLED}),
    TransferStatus.WAITING: frozenset({TransferStatus.SUCCEEDED, TransferStatus.FAILED, TransferStatus.CANCELLED}),
    TransferStatus.SUCCEEDED: frozenset(),
    TransferStatus.FAILED: frozenset(),
    TransferStatus.CANCELLED: frozenset(),
}
transitions_check(TRANSFER_TRANSITIONS, TransferStatus)
TRANSFER_FINAL = frozenset({TransferStatus.SUCCEEDED, TransferStatus.FAILED, TransferStatus.CANCELLED})


class RedpackStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    SENT = "sent", "Sent (WeChat accepted it)"
    FAILED = "failed", "Failed (WeChat refused it; no money moved)"
    UNKNOWN = "unknown", "Unknown (timeout or untrusted answer; retry with the same mch_billno)"


REDPACK_TRANSITIONS: dict[str, frozenset[str]] = {
    RedpackStatus.REQUESTED: frozenset({RedpackStatus.SENT, RedpackStatus.FAILED, RedpackStatus.UNKNOWN}),
    RedpackStatus.UNKNOWN: frozenset({RedpackStatus.SENT, RedpackStatus.FAILED}),
    RedpackStatus.SENT: frozenset(),
    RedpackStatus.FAILED: frozenset(),
}
transitions_check(REDPACK_TRANSITIONS, RedpackStatus)


class WechatPayment(models.Model):
    """One JSAPI payment we asked WeChat for (one unified order)."""

    out_trade_no = models.CharField(max_length=32, unique=True)
    purpose = models.CharField(max_length=48, db_index=True, help_text='What is paid for, e.g. "mall.order"')
    ref = models.CharField(max_length=64, help_text="The id of the thing paid for")
    amount_fen = models.BigIntegerField()
    openid = models.CharField(max_length=64)
    description = models.CharField(max_length=128)
    client_ip = models.CharField(max_length=64)
    prepay_id = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.CREATED)
    transaction_id = models.CharField(max_length=32, unique=True, null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    notify_count = models.PositiveIntegerField(default=0, help_text="Valid notifications received")
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.CharField(max_length=255, blank=True, default="")
    api = models.CharField(max_length=4, choices=PayApi.choices, default=PayApi.V2,
                           help_text="The API it was ordered through (queried and closed through the same)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("WeChat payment")
        verbose_name_plural = _("WeChat payments")
        indexes = [models.Index(fields=["purpose", "ref"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="wechat_payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.out_trade_no} ¥{yuan(self.amount_fen)} ({self.status})"


class WechatRefund(models.Model):
    out_refund_no = models.CharField(max_length=64, unique=True)
    payment = models.ForeignKey(WechatPayment, on_delete=models.PROTECT, related_name="refunds")
    amount_fen = models.BigIntegerField()
    reason = models.CharField(max_length=80, blank=True, default="")
    status = models.CharField(max_length=16, choices=RefundStatus.choices, default=RefundStatus.REQUESTED)
    refund_id = models.CharField(max_length=32, blank=True, default="")
    refund_recv_account = models.CharField(max_length=64, blank=True, default="")
    succeeded_at = models.DateTimeField(null=True, blank=True)
    notify_count = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.CharField(max_length=255, blank=True, default="")
    api = models.CharField(max_length=4, choices=PayApi.choices, default=PayApi.V2,
                           help_text="The API it was applied for through (queried through the same)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("WeChat refund")
        verbose_name_plural = _("WeChat refunds")
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="wechat_refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.out_refund_no} ¥{yuan(self.amount_fen)} ({self.status})"


class WechatTransfer(models.Model):
    """A payout to a user's WeChat balance: a v2 transfer (企业付款到零钱, partner_trade_no) or an
    APIv3 merchant transfer bill (商家转账, out_bill_no = partner_trade_no) that the user
    confirms in WeChat with `package_info` before the money moves."""

    partner_trade_no = models.CharField(max_length=32, unique=True)
    openid = models.CharField(max_length=64)
    amount_fen = models.BigIntegerField()
    description = models.CharField(max_length=100)
    purpose = models.CharField(max_length=48, db_index=True)
    ref = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=TransferStatus.choices, default=TransferStatus.REQUESTED)
    payment_no = models.CharField(max_length=64, blank=True, default="")
    paid_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.CharField(max_length=255, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    api = models.CharField(max_length=8, choices=TransferApi.choices, default=TransferApi.V2)
    transfer_bill_no = models.CharField(max_length=64, blank=True, default="", help_text="WeChat's bill number (v3)")
    bill_state = models.CharField(max_length=20, blank=True, default="",
                                  help_text="WeChat's state of the bill as last heard (ACCEPTED … CANCELLED)")
    package_info = models.CharField(max_length=256, blank=True, default="",
                                    help_text="For wx.requestMerchantTransfer: the user confirms with it")
    scene_id = models.CharField(max_length=8, blank=True, default="")
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("WeChat transfer")
        verbose_name_plural = _("WeChat transfers")
        indexes = [models.Index(fields=["purpose", "ref"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="wechat_transfer_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_trade_no} ¥{yuan(self.amount_fen)} ({self.status})"


class WechatRedpack(models.Model):
    """A cash red pack (现金红包) sent to a user."""

    mch_billno = models.CharField(max_length=28, unique=True)
    openid = models.CharField(max_length=64)
    amount_fen = models.BigIntegerField()
    send_name = models.CharField(max_length=32)
    act_name = models.CharField(max_length=32)
    wishing = models.CharField(max_length=128)
    remark = models.CharField(max_length=256, blank=True, default="")
    purpose = models.CharField(max_length=48, db_index=True)
    ref = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=RedpackStatus.choices, default=RedpackStatus.REQUESTED)
    send_listid = models.CharField(max_length=64, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.CharField(max_length=255, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("WeChat cash red pack")
        verbose_name_plural = _("WeChat cash red packs")
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="wechat_redpack_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.mch_billno} ¥{yuan(self.amount_fen)} ({self.status})"


class EventSubject(models.TextChoices):
    PAYMENT = "payment", "Payment"
    REFUND = "refund", "Refund"
    TRANSFER = "transfer", "Transfer"
    REDPACK = "redpack", "Red pack"


class WechatEvent(models.Model):
    """One status change (or notable happening) of a payment, refund, transfer or red pack."""

    subject_type = models.CharField(max_length=16, choices=EventSubject.choices)
    subject_id = models.BigIntegerField()
    subject_key = models.CharField(max_length=64, help_text="out_trade_no, out_refund_no, partner_trade_no, ...")
    kind = models.CharField(max_length=32, help_text="status, notify_duplicate, paid_after_close, ...")
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, blank=True, default="")
    source = models.CharField(max_length=32, blank=True, default="", help_text="notify, query, api, ...")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("WeChat notification")
        verbose_name_plural = _("WeChat notifications")
        indexes = [models.Index(fields=["subject_type", "subject_id"])]
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.subject_type} {self.subject_key}: {self.from_status}->{self.to_status} ({self.kind})"


class MpNonce(models.Model):
    """A signed (timestamp, nonce) the official-account endpoint has accepted, and a digest of
    the message it came with: the replay store when the cache is not Redis (with Redis it
    lives there, with an expiry). A triple seen again with the same message is WeChat's
    redelivery; with another message it is a leaked triple reused, and refused. Rows older
    than the freshness window are useless (their timestamp is stale) and purged by the job
    `wechat.purge_mp_nonces`."""

    signature = models.CharField(max_length=40, unique=True, help_text="the key: re-splits sign alike")
    timestamp = models.CharField(max_length=12, help_text="WeChat's signed timestamp, as sent")
    nonce = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the (decrypted) message")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("official-account nonce")
        verbose_name_plural = _("official-account nonces")

    def __str__(self) -> str:
        return f"{self.timestamp}/{self.nonce}"
