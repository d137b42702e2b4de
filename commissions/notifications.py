"""Template messages (模板消息) to distributors: commission accrued, commissions settled,
withdrawal paid / rejected / failed.

The `notify_*` functions are called inside the transaction of the state change; they only
schedule the Celery task `commissions.notify` with `transaction.on_commit`, so nothing is
sent for a change that rolls back, and nothing they do can fail the change itself.
"""
from __future__ import annotations

import logging
import uuid

from celery import shared_task
from django.db import transaction

logger = logging.getLogger(__name__)

TASK_NAME = "commissions.notify"


class Kind:
    COMMISSION_ACCRUED = "commission_accrued"
    COMMISSIONS_SETTLED = "commissions_settled"
    WITHDRAWAL_PAID = "withdrawal_paid"
    WITHDRAWAL_REJECTED = "withdrawal_rejected"
    WITHDRAWAL_FAILED = "withdrawal_failed"


def _schedule(**kwargs) -> None:
    """Queue the task once the surrounding transaction commits; a broker failure is logged."""

    def send() -> None:
        try:
            notify_task.delay(**kwargs)
        except Exception:  # noqa: BLE001 - a notification must never break the state change
            logger.exception("commissions.notify could not be queued: %s", kwargs)

    transaction.on_commit(send, robust=True)


def notify_commission_accrued(*, order_id: int) -> None:
    _schedule(kind=Kind.COMMISSION_ACCRUED, subject_id=int(order_id))


def notify_commissions_settled(*, user_amounts: dict[int, int]) -> None:
    batch = uuid.uuid4().hex[:16]
    for user_id, amount_fen in sorted(user_amounts.items()):
        if amount_fen > 0:
            _schedule(kind=Kind.COMMISSIONS_SETTLED, subject_id=int(user_id), amount_fen=int(amount_fen), batch=batch)


def notify_withdrawal_paid(*, withdrawal_id: int) -> None:
    _schedule(kind=Kind.WITHDRAWAL_PAID, subject_id=int(withdrawal_id))


def notify_withdrawal_rejected(*, withdrawal_id: int) -> None:
    _schedule(kind=Kind.WITHDRAWAL_REJECTED, subject_id=int(withdrawal_id))


def notify_withdrawal_failed(*, withdrawal_id: int) -> None:
    _schedule(kind=Kind.WITHDRAWAL_FAILED, subject_id=int(withdrawal_id))


@shared_task(name=TASK_NAME, bind=True, ignore_result=True, time_limit=60, soft_time_limit=50)
def notify_task(self, kind: str, subject_id: int, amount_fen: int | None = None, batch: str = "") -> None:
    logger.info("commissions.notify %s %s (not wired yet)", kind, subject_id)
