"""Thin Celery tasks: numbers and ids in, a call, safe to run twice.

The services queue them with transaction.on_commit, importing them from here; the tasks call
campaigns/services/wechat_calls.py, which imports no other campaigns service (no cycle).
"""
import logging

from celery import shared_task

from core.errors import DomainError

from . import notifications  # noqa: F401  (registers the campaigns.notify task)
from .services.envelope_posting import envelope_grabs_post, envelope_post_marker_clear
from .services.wechat_calls import campaign_refund_send, contribution_payment_close

logger = logging.getLogger(__name__)


@shared_task(name="campaigns.contribution_close_payment", ignore_result=True, time_limit=60, soft_time_limit=50)
def contribution_close_payment_task(no: str) -> None:
    try:
        contribution_payment_close(no=no)
    except DomainError as exc:
        # Paid meanwhile (recorded through the query: counted or refunded), or WeChat is
        # unreachable (an unpaid JSAPI order expires on its own; a late payment is handled).
        logger.warning("campaigns.contribution_close_payment %s: %s %s", no, exc.code, exc.message)


@shared_task(name="campaigns.refund_send", ignore_result=True, time_limit=60, soft_time_limit=50)
def campaign_refund_send_task(refund_id: int) -> None:
    try:
        campaign_refund_send(refund_id=refund_id)
    except DomainError as exc:
        # A definite refusal was recorded (the refund failed; a new attempt follows); an
        # uncertain answer is asked about again by campaigns.retry_refunds.
        logger.warning("campaigns.refund_send %s: %s %s", refund_id, exc.code, exc.message)


@shared_task(name="campaigns.envelope_grabs_post", ignore_result=True, time_limit=120, soft_time_limit=100)
def envelope_grabs_post_task(envelope_id: int) -> None:
    """Post the grabbed money of one envelope (every unposted grab, in batches)."""
    envelope_post_marker_clear(envelope_id=envelope_id)
    while envelope_grabs_post(envelope_id=envelope_id):
        pass
