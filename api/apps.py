from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("HTTP API")

    def ready(self):
        from core.jobs import register_job

        from .idempotency import idempotency_purge_expired

        register_job(
            name="api.purge_idempotency_records",
            func=lambda: {"deleted": idempotency_purge_expired()},
            schedule_seconds=3600,
            description="Forget Idempotency-Key responses older than 24 hours.",
        )
