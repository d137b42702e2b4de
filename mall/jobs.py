"""The mall's periodic jobs (registered with core.jobs at start-up; see MallConfig.ready)."""
from core.jobs import register_job

from .services import fulfilment, payments

register_job(
    name="mall.reconcile_payments",
    func=payments.payments_reconcile,
    schedule_seconds=60,
    description="Ask WeChat about unpaid orders waiting > MALL_PAYMENT_QUERY_AFTER_MINUTES; close expired ones.",
)
register_job(
    name="mall.complete_shipped_orders",
    func=fulfilment.orders_complete_overdue,
    schedule_seconds=3600,
    description="Complete orders shipped more than MALL_AUTO_COMPLETE_DAYS ago.",
)
register_job(
    name="mall.retry_refunds",
    func=payments.refunds_retry,
    schedule_seconds=300,
    description="Send approved refunds WeChat has not accepted yet; query refunds in progress.",
)
