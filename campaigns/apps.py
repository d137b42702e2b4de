from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from core.jobs import register_job
        from distributors.hooks import register_share_target
        from mall.hooks import register_refund_sender
        from wechat.hooks import register_payment_handler, register_refund_handler

        from .models import CROWDFUND_PURPOSE, ENVELOPE_PURPOSE
        from .services import (
            bargains,
            crowdfund_payments,
            crowdfund_refunds,
            crowdfunds,
            envelope_grabs,
            envelope_payments,
            envelope_posting,
            envelopes,
        )
        from .targets import crowdfund_share_target, envelope_share_target

        register_payment_handler(CROWDFUND_PURPOSE, crowdfund_payments.on_wechat_payment_paid)
        register_refund_handler(CROWDFUND_PURPOSE, crowdfund_refunds.on_wechat_refund_final)
        # Refunds of an order a crowdfund paid go back to the contributors, pro rata.
        register_refund_sender(CROWDFUND_PURPOSE, crowdfund_refunds.crowdfund_order_refund_send)
        register_share_target("crowdfund", crowdfund_share_target)
        register_payment_handler(ENVELOPE_PURPOSE, envelope_payments.on_wechat_payment_paid)
        register_refund_handler(ENVELOPE_PURPOSE, envelope_payments.on_wechat_refund_final)
        register_share_target("red_envelope", envelope_share_target)

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
        register_job(
            name="campaigns.expire_envelopes",
            func=envelopes.envelopes_expire_due,
            schedule_seconds=60,
            description="Expire red envelopes past their lifetime: what nobody grabbed back to the owner.",
        )
        register_job(
            name="campaigns.post_envelope_grabs",
            func=envelope_posting.envelopes_grabs_post_due,
            schedule_seconds=60,
            description="Move grabbed red-envelope money from the escrow to the wallets (what the per-grab "
            "poster left).",
        )
        register_job(
            name="campaigns.reconcile_envelope_gates",
            func=envelope_grabs.envelope_gates_reconcile_due,
            schedule_seconds=60,
            description="Forget red-envelope grabs Redis recorded but the database never committed (a web "
            "process killed mid-grab) and give their shares back to the grabbable ones.",
        )
        register_job(
            name="campaigns.cancel_envelopes",
            func=envelope_payments.envelopes_cancel_due,
            schedule_seconds=300,
            description="Cancel red envelopes never opened (or never paid) and give every backer back.",
        )
        register_job(
            name="campaigns.expire_bargains",
            func=bargains.bargains_expire,
            schedule_seconds=60,
            description="Expire bargains past their time limit that were not ordered: their stock back to the offer.",
        )
