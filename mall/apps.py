from django.apps import AppConfig


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = "Mall"

    def ready(self):
        from wechat.hooks import register_payment_handler, register_refund_handler

        from . import jobs  # noqa: F401  (registers the mall's periodic jobs)
        from .services.orders import PAYMENT_PURPOSE
        from .services.payments import on_wechat_payment_paid, on_wechat_refund_final

        register_payment_handler(PAYMENT_PURPOSE, on_wechat_payment_paid)
        register_refund_handler(PAYMENT_PURPOSE, on_wechat_refund_final)
