from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self):
        from core.jobs import register_job
        from distributors.hooks import register_share_target
        from mall.hooks import register_refund_sender
        from wechat.hooks import register_payment_handler, register_refund_handler

        from .models import CROWDFUND_PURPOSE
        from .services import crowdfund_payments, crowdfund_refunds, crowdfunds
        from .targets import crowdfund_share_target

        register_payment_handler(CROWDFUND_PURPOSE, crowdfund_payments.on_wechat_payment_paid)
        register_refund_handler(CROWDFUND_PURPOSE, crowdfund_refunds.on_wechat_refund_final)
        # Refunds of an order a crowdfund paid go back to the contributors, pro rata.
        register_refund_sender(CROWDFUND_PURPOSE, crowdfund_refunds.crowdfund_order_refund_send)
        register_share_target("crowdfund", crowdfund_share_target)

        register_job(
            name="campaigns.expire_reservations",
            func=crowdfunds.contributions_expire_due,
            schedule_seconds=60,
            description="Close the WeChat order of contributions unpaid after the pay window and free their amount.",
        )
        register_job(
            name="campaigns.expire_crowdfunds",
            func=crowdfunds.crowdfunds_expire_due,
            schedule_seconds=60,
            description="Expire open crowdfunds past their deadline: stock back, every paid contribution refunded.",
        )
        register_job(
            name="campaigns.retry_refunds",
            func=crowdfund_refunds.campaign_refunds_retry,
            schedule_seconds=300,
            description="Send again (same number) contribution refunds WeChat has not confirmed; "
            "ask about ones in progress.",
        )
