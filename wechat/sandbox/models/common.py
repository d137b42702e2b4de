from django.db import models

__all__ = ["SandboxFault"]


class FaultMode(models.TextChoices):
    TIMEOUT = "timeout", "Answer only after the client's timeout"
    FAIL = "fail", "Answer with a FAIL result / WeChat error code"
    HTTP_ERROR = "http_error", "Answer HTTP 500"
    BAD_SIGNATURE = "bad_signature", "Sign the answer with a wrong key"
    DUPLICATE_NOTIFY = "duplicate_notify", "Send the payment notification several times, concurrently"


class FaultOutcome(models.TextChoices):
    NOTHING = "", "Nothing carried out"
    EXECUTED = "executed", "Carried out, then the error answered"
    FAILED = "failed", "Recorded as failed at WeChat, and the error answered"


class SandboxFault(models.Model):
    """A failure the sandbox should act out on its next `times` calls of `endpoint`."""

    endpoint = models.CharField(max_length=64, help_text="e.g. pay.unifiedorder, oauth.access_token")
    mode = models.CharField(max_length=24, choices=FaultMode.choices)
    times = models.PositiveIntegerField(default=1)
    err_code = models.CharField(max_length=64, blank=True, default="", help_text="WeChat error code for 'fail'")
    outcome = models.CharField(
        max_length=16, blank=True, default="",
        help_text="For 'fail': '' nothing carried out; 'executed' carried out, then the error answered; "
                  "'failed' recorded as failed at WeChat (a query says FAILED)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "wechat_sandbox"

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.mode} x{self.times}"
