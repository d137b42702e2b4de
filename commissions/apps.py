from django.apps import AppConfig


class CommissionsConfig(AppConfig):
    name = "commissions"
    verbose_name = "Commissions"

    def ready(self):
        from distributors.services.stats import commission_totals_register
        from mall.hooks import OrderMoment, register_order_handler

        from .selectors.commissions import commission_totals
        from .services import accrual

        register_order_handler(OrderMoment.PAID, accrual.on_order_paid)
        register_order_handler(OrderMoment.COMPLETED, accrual.on_order_completed)
        register_order_handler(OrderMoment.REFUNDED, accrual.on_order_refunded)
        commission_totals_register(commission_totals)
