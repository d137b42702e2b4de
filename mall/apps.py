from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = _("Mall")

    def ready(self):
        from core.jobs import register_job
        from wechat.hooks import register_payment_handler, register_refund_handler

        from .services import fulfilment
        from .services.orders import PAYMENT_PURPOSE
        from .services.payments import (
            on_wechat_payment_paid,
            on_wechat_refund_final,
            payments_reconcile,
            refunds_retry,
        )

        register_payment_handler(PAYMENT_PURPOSE, on_wechat_payment_paid)
        register_refund_handler(PAYMENT_PURPOSE, on_wechat_refund_final)

        register_job(
            name="mall.reconcile_payments",
            func=payments_reconcile,
            schedule_seconds=60,
            description="Ask WeChat about unpaid orders waiting > MALL_PAYMENT_QUERY_AFTER_MINUTES; "
            "close expired ones.",
        )
        register_job(
            name="mall.complete_shipped_orders",
            func=fulfilment.orders_complete_overdue,
            schedule_seconds=3600,
            description="Complete orders shipped more than MALL_AUTO_COMPLETE_DAYS ago.",
        )
        register_job(
            name="mall.retry_refunds",
            func=refunds_retry,
            schedule_seconds=300,
            description="Send approved refunds WeChat has not accepted yet; query refunds in progress.",
        )
