from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WechatConfig(AppConfig):
    name = "wechat"
    verbose_name = _("WeChat")

    def ready(self):
        from core.jobs import register_job

        from .mp import mp_nonces_purge

        register_job(
            name="wechat.purge_mp_nonces",
            func=mp_nonces_purge,
            schedule_seconds=3600,
            description="Delete official-account nonces whose timestamps can no longer pass (database replay store).",
        )
