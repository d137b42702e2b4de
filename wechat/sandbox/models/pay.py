"""The sandbox's WeChat Pay state: what WeChat itself would remember."""
from django.db import models

__all__ = ["SandboxPrepay", "SandboxRefund", "SandboxTransfer", "SandboxRedpack"]


class SandboxPrepay(models.Model):
    """A unified order (and, once the user pays, the payment)."""

    class State(models.TextChoices):
        NOTPAY = "NOTPAY", "Not paid"
        SUCCESS = "SUCCESS", "Paid"
        CLOSED = "CLOSED", "Closed"
        REFUND = "REFUND", "Refund requested"

    prepay_id = models.CharField(max_length=64, unique=True)
    appid = models.CharField(max_length=32)
    mch_id = models.CharField(max_length=32)
    out_trade_no = models.CharField(max_length=32, unique=True)
    body = models.CharField(max_length=128)
    attach = models.CharField(max_length=127, blank=True, default="")
    total_fee = models.BigIntegerField()
    openid = models.CharField(max_length=64)
    trade_type = models.CharField(max_length=16)
    spbill_create_ip = models.CharField(max_length=64)
    notify_url = models.CharField(max_length=256)
    fingerprint = models.CharField(max_length=64, help_text="hash of the order's parameters")
    trade_state = models.CharField(max_length=16, choices=State.choices, default=State.NOTPAY)
    transaction_id = models.CharField(max_length=32, blank=True, default="")
    time_end = models.CharField(max_length=14, blank=True, default="")
    api = models.CharField(max_length=4, default="v2", help_text="v2 (XML) or v3 (APIv3 JSON): how it was ordered "
                           "and how its notification is sent")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "wechat_sandbox"

    def __str__(self) -> str:
        return f"{self.out_trade_no} {self.total_fee} ({self.trade_state})"


class SandboxRefund(models.Model):
    class State(models.TextChoices):
        PROCESSING = "PROCESSING", "Processing"
        SUCCESS = "SUCCESS", "Succeeded"
        CHANGE = "CHANGE", "Abnormal"
        REFUNDCLOSE = "REFUNDCLOSE", "Closed"

    prepay = models.ForeignKey(SandboxPrepay, on_delete=models.CASCADE, related_name="refunds")
    out_refund_no = models.CharField(max_length=64, unique=True)
    refund_id = models.CharField(max_length=32, unique=True)
    refund_fee = models.BigIntegerField()
    notify_url = models.CharField(max_length=256, blank=True, default="")
    refund_status = models.CharField(max_length=16, choices=State.choices, default=State.PROCESSING)
    success_time = models.CharField(max_length=19, blank=True, default="")
    reason = models.CharField(max_length=80, blank=True, default="")
    api = models.CharField(max_length=4, default="v2", help_text="v2 or v3: how its notification is sent")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "wechat_sandbox"

    def __str__(self) -> str:
        return f"{self.out_refund_no} {self.refund_fee} ({self.refund_status})"


class SandboxTransfer(models.Model):
    partner_trade_no = models.CharField(max_length=32, unique=True)
    payment_no = models.CharField(max_length=64, unique=True)
    openid = models.CharField(max_length=64)
    amount = models.BigIntegerField()
    desc = models.CharField(max_length=100)
    re_user_name = models.CharField(max_length=64, blank=True, default="")
    payment_time = models.CharField(max_length=19)
    status = models.CharField(max_length=16, default="SUCCESS", help_text="gettransferinfo's status")
    reason = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "wechat_sandbox"

    def __str__(self) -> str:
        return f"{self.partner_trade_no} {self.amount} -> {self.openid}"


class SandboxRedpack(models.Model):
    mch_billno = models.CharField(max_length=28, unique=True)
    send_listid = models.CharField(max_length=64, unique=True)
    re_openid = models.CharField(max_length=64)
    total_amount = models.BigIntegerField()
    send_name = models.CharField(max_length=32)
    act_name = models.CharField(max_length=32)
    wishing = models.CharField(max_length=128)
    status = models.CharField(max_length=16, default="SENT", help_text="gethbinfo's status")
    reason = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "wechat_sandbox"

    def __str__(self) -> str:
        return f"{self.mch_billno} {self.total_amount} -> {self.re_openid}"
