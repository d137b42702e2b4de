from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = _("Ledger")

    def ready(self):
        from core.jobs import register_job

        from .selectors import ledger_audit

        register_job(
            name="ledger.audit",
            func=ledger_audit,
            schedule_seconds=3600,
            description="Recompute every balance from its entries and every transaction's sum; log a mismatch.",
        )
