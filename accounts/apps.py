from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from core.jobs import register_job

        from . import services

        register_job(
            name="accounts.purge_expired_tokens",
            func=lambda: {"deleted": services.token_purge_expired()},
            schedule_seconds=3600,
            description="Delete auth tokens that expired or were revoked more than a day ago.",
        )
