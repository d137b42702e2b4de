"""Thin Celery tasks: IDs in, a service call, safe to run twice.

Imports point one way: this module imports the services it runs; a service that queues a
task (services/withdrawals.py, after commit) imports it from here, and nothing imported here
imports this module back (services/payouts.py does not import the review)."""
import logging

from celery import shared_task

from . import notifications  # noqa: F401  (registers the notification tasks)
from .models import WithdrawalStatus
from .services.payouts import withdrawal_pay

logger = logging.getLogger(__name__)

# Backoff for a payout whose outcome WeChat has not told us yet: 1, 2, 4, … 30 minutes.
PAYOUT_RETRIES = 8


@shared_task(bind=True, name="commissions.withdrawal_pay", ignore_result=True, time_limit=120, soft_time_limit=100,
             max_retries=PAYOUT_RETRIES)
def withdrawal_pay_task(self, withdrawal_id: int) -> None:
    withdrawal = withdrawal_pay(withdrawal_id=withdrawal_id)
    if withdrawal.status == WithdrawalStatus.PAYING and not self.request.is_eager:
        # Unknown outcome (timeout, WeChat busy): ask again later; the beat job
        # commissions.resume_payouts catches whatever outlives the retries.
        raise self.retry(countdown=min(60 * 2 ** self.request.retries, 1800))
