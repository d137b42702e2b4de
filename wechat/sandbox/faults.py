"""Told-to-fail support for the sandbox: tests arm a fault, the next call(s) act it out."""
from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction
from django.db.models import F

from .models.common import FaultMode, FaultOutcome, SandboxFault


def fault_arm(*, endpoint: str, mode: str, times: int = 1, err_code: str = "", outcome: str = "") -> SandboxFault:
    """Arm a fault. For mode "fail", `outcome` says what WeChat did behind the error: "" nothing,
    "executed" (it carried the request out: "SEND_FAILED, but the transfer went through"),
    "failed" (it recorded the transfer / red pack as failed: its query says FAILED)."""
    if mode not in FaultMode.values:
        raise ValueError(f"unknown fault mode {mode!r}")
    if outcome not in FaultOutcome.values:
        raise ValueError(f"unknown fault outcome {outcome!r}")
    if outcome and mode != FaultMode.FAIL:
        raise ValueError("an outcome goes with mode 'fail' only")
    return SandboxFault.objects.create(endpoint=endpoint, mode=mode, times=max(1, times), err_code=err_code,
                                       outcome=outcome)


def fault_clear() -> None:
    SandboxFault.objects.all().delete()


def fault_take(endpoint: str) -> SandboxFault | None:
    """The armed fault for `endpoint`, used up by one (atomic: a conditional UPDATE), or None."""
    with transaction.atomic():
        for fault in SandboxFault.objects.filter(endpoint=endpoint, times__gt=0).order_by("pk"):
            if SandboxFault.objects.filter(pk=fault.pk, times__gt=0).update(times=F("times") - 1):
                return fault
    return None


def sleep_past_client_timeout() -> None:
    """Act out a timeout: answer only after the client has given up."""
    time.sleep(float(settings.WECHAT_HTTP_TIMEOUT) + 0.5)
