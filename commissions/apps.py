from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

REFUND_WINDOW_GRACE_DAYS = 7


def refund_window_default_days() -> int:
    """Days after completion a buyer may ask for a refund: the freeze period plus a week."""
    from distributors.services.settings import distribution_settings_get

    return distribution_settings_get().freeze_days + REFUND_WINDOW_GRACE_DAYS


class CommissionsConfig(AppConfig):
    name = "commissions"
    verbose_name = _("Commissions")

    def ready(self):
        from core.jobs import register_job
        from distributors.hooks import register_commission_totals
        from mall.hooks import (
            ORDER_COMMISSIONS,
            OrderMoment,
            register_order_accounts,
            register_order_handler,
            register_refund_window_default,
        )
        from wechat.hooks import register_transfer_handler, register_transfer_waiting_handler

        from .selectors.commissions import commission_totals
        from .services import accrual
        from .services.payouts import TRANSFER_PURPOSE, on_transfer_final, withdrawals_resume
        from .services.settlement import commissions_settle

        # After distributors' figures (ORDER_STATS); mall/hooks.py keeps the numbers.
        register_order_handler(OrderMoment.PAID, accrual.on_order_paid, order=ORDER_COMMISSIONS)
        register_order_handler(OrderMoment.COMPLETED, accrual.on_order_completed, order=ORDER_COMMISSIONS)
        register_order_handler(OrderMoment.REFUNDED, accrual.on_order_refunded, order=ORDER_COMMISSIONS)
        # The accounts those handlers post to, so the mall locks them with its own up front,
        # in one id-ordered statement (no payment/refund deadlock; ledger/locks.py).
        register_order_accounts(accrual.order_accounts, order=ORDER_COMMISSIONS)
        register_commission_totals(commission_totals)

        # The buyer's refund window defaults to the commission freeze period plus 7 days
        # (mall.hooks; an operator's MallSettings.refund_window_days overrides it).
        register_refund_window_default(refund_window_default_days)

        register_transfer_handler(TRANSFER_PURPOSE, on_transfer_final)
        register_transfer_waiting_handler(TRANSFER_PURPOSE, on_transfer_final)
        register_job(
            name="commissions.resume_payouts",
            func=withdrawals_resume,
            schedule_seconds=300,
            description="Re-drive approved withdrawals whose payout never started and paying ones left unknown.",
        )
        register_job(
            name="commissions.settle",
            func=commissions_settle,
            schedule_seconds=600,
            description="Settle frozen commissions past their settles_at into the wallets (paying debt first).",
        )
