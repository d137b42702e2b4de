from django.apps import AppConfig


class DistributorsConfig(AppConfig):
    name = "distributors"
    verbose_name = "Distribution"

    def ready(self):
        from core.jobs import register_job
        from mall.hooks import OrderMoment, register_order_handler

        from .services import distributors
        from .services.clicks import register_hooks as register_click_hooks

        register_click_hooks()  # /s/{code} counters flush, binding, order attribution, official account

        register_order_handler(OrderMoment.COMPLETED, distributors.on_order_completed_recruit)
        register_order_handler(OrderMoment.COMPLETED, distributors.on_order_completed_tiers)
        register_job(
            name="distributors.evaluate_tiers",
            func=distributors.tiers_evaluate_all,
            schedule_seconds=3600,
            description="Upgrade approved distributors whose figures meet a higher tier's conditions.",
        )
        from .services.stats import register_hooks as register_stats_hooks

        register_stats_hooks()  # order-side daily aggregates: paid and refunded orders
