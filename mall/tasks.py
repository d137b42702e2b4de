"""Thin Celery tasks: IDs in, a service call, safe to run twice.

The services queue them with transaction.on_commit, importing them from here; the tasks call
mall/services/wechat_calls.py, which imports no other mall service (so no import cycle).
"""
import logging

from celery import shared_task

from core.errors import DomainError

from .services.wechat_calls import order_payment_close, refund_send

logger = logging.getLogger(__name__)


@shared_task(name="mall.refund_send", ignore_result=True, time_limit=60, soft_time_limit=50)
def refund_send_task(refund_id: int) -> None:
    try:
        refund_send(refund_id=refund_id)
    except DomainError as exc:
        logger.warning("mall.refund_send %s: %s %s", refund_id, exc.code, exc.message)
        # WeChat refused or did not answer: a definite refusal was recorded (the refund
        # failed and the order reopened); an uncertain one is retried by mall.retry_refunds.
        pass


@shared_task(name="mall.order_close_wechat_payment", ignore_result=True, time_limit=60, soft_time_limit=50)
def order_close_wechat_payment(order_no: str) -> None:
    try:
        order_payment_close(order_no=order_no)
    except DomainError as exc:
        logger.warning("mall.order_close_wechat_payment %s: %s %s", order_no, exc.code, exc.message)
        # paid meanwhile (handled as paid-after-close) or WeChat unreachable (it expires on its own)
