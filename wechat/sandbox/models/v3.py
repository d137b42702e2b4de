from django.db import models

__all__ = ["SandboxTransferBill"]


class SandboxTransferBill(models.Model):
    """A merchant transfer bill (商家转账, APIv3 transfer-bills) as WeChat keeps it."""

    class State(models.TextChoices):
        ACCEPTED = "ACCEPTED", "Accepted"
        PROCESSING = "PROCESSING", "Processing"
        WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM", "Waiting for the user to confirm"
        TRANSFERING = "TRANSFERING", "Transferring"
        SUCCESS = "SUCCESS", "Succeeded"
        FAIL = "FAIL", "Failed"
        CANCELING = "CANCELING", "Cancelling"
        CANCELLED = "CANCELLED", "Cancelled"

    out_bill_no = models.CharField(max_length=32, unique=True)
    transfer_bill_no = models.CharField(max_length=64, unique=True)
    appid = models.CharField(max_length=32)
    mch_id = models.CharField(max_length=32)
    openid = models.CharField(max_length=64)
    user_name = models.CharField(max_length=64, blank=True, default="", help_text="decrypted")
    transfer_amount = models.BigIntegerField()
    transfer_remark = models.CharField(max_length=64)
    transfer_scene_id = models.CharField(max_length=8)
    user_recv_perception = models.CharField(max_length=32, blank=True, default="")
    report_infos = models.JSONField(default=list)
    notify_url = models.CharField(max_length=256, blank=True, default="")
    package_info = models.CharField(max_length=256)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=20, choices=State.choices, default=State.WAIT_USER_CONFIRM)
    fail_reason = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "wechat_sandbox"

    def __str__(self) -> str:
        return f"{self.out_bill_no} {self.transfer_amount} ({self.state})"
