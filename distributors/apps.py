from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DistributorsConfig(AppConfig):
    name = "distributors"
    verbose_name = _("Distribution")

    def ready(self):
        """Every registration distributors makes, here and nowhere else (docs/architecture.md
        lists the hooks): the share targets it offers itself, the mall's order moments and
        attributor, the official account's handlers, the beat jobs, and the signals that keep
        the short-link entry cache fresh."""
        from django.db.models.signals import post_delete, post_save

        from core.jobs import register_job
        from mall.hooks import ORDER_STATS, OrderMoment, register_attributor, register_order_handler
        from wechat.hooks_mp import register_scene_handler, register_text_handler

        from . import mp, targets
        from .codes import ALPHABET
        from .hooks import register_share_target
        from .models import Distributor, ShareLink, TargetType
        from .services import distributors, stats
        from .services.attribution import order_attribute
        from .services.clicks.entries import on_distributor_saved, on_link_changed
        from .services.clicks.flush import click_counters_flush

        # What a share link can point at (campaigns adds crowdfund and red_envelope).
        register_share_target(TargetType.PRODUCT, targets.product_share_target)
        register_share_target(TargetType.STORE, targets.store_share_target)
        register_share_target(TargetType.RECRUIT, targets.recruit_share_target, with_distributor=True)

        # The mall: who gets credit for an order, and the order moments. ORDER_STATS runs
        # before commissions (ORDER_COMMISSIONS), so the figures see the order as the mall left it.
        register_attributor(order_attribute)
        register_order_handler(OrderMoment.PAID, stats.on_order_paid, order=ORDER_STATS)
        register_order_handler(OrderMoment.REFUNDED, stats.on_order_refunded, order=ORDER_STATS)
        register_order_handler(OrderMoment.COMPLETED, distributors.on_order_completed_recruit, order=ORDER_STATS)
        register_order_handler(OrderMoment.COMPLETED, distributors.on_order_completed_tiers, order=ORDER_STATS)

        # The official account: scanning a share or invite code binds; "海报" / "订单" answer.
        register_scene_handler(mp.SHARE_SCENE_PREFIX, mp.mp_scene_bind)
        register_scene_handler(mp.INVITE_SCENE_PREFIX, mp.mp_scene_bind)
        for char in ALPHABET:  # bare codes: a scene that is just the share or invite code
            register_scene_handler(char, mp.mp_scene_bind)
        register_text_handler("distributors", mp.mp_text_reply)

        # Cached short-link entries carry the link's target and the distributor's status. A
        # signal, not the services: operators edit links and distributors in the Django admin,
        # which saves the models without a service, and a stale entry would keep a frozen
        # distributor's link attributing for up to ENTRY_TTL.
        post_save.connect(on_link_changed, sender=ShareLink, dispatch_uid="distributors.clicks.link_saved")
        post_delete.connect(on_link_changed, sender=ShareLink, dispatch_uid="distributors.clicks.link_deleted")
        post_save.connect(on_distributor_saved, sender=Distributor, dispatch_uid="distributors.clicks.dist_saved")

        register_job(
            name="distributors.flush_click_counters",
            func=click_counters_flush,
            schedule_seconds=60,
            description="Move the Redis click counters (page views, unique visitors) into the daily stats.",
        )
        register_job(
            name="distributors.evaluate_tiers",
            func=distributors.tiers_evaluate_all,
            schedule_seconds=3600,
            description="Upgrade approved distributors whose figures meet a higher tier's conditions.",
        )
        register_job(
            name="distributors.stats_audit",
            func=stats.stats_audit_job,
            schedule_seconds=86400,
            description="Recount yesterday's and today's distributor/link orders and GMV from the orders and "
            "report any difference from the daily aggregates (read-only).",
        )
