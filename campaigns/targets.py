"""The `crowdfund` share-link target (distributors.hooks.register_share_target, set in
CampaignsConfig.ready()): what a link to a crowdfund, its poster and its redirect show."""
from __future__ import annotations

from typing import Any

from core.errors import NotFound

from .models import Crowdfund, RedEnvelope

TITLE = "帮我众筹：{title}"


def crowdfund_share_target(target_id: int) -> dict[str, Any]:
    """Any crowdfund can be shared, open or ended (the page shows the result); unknown: 404."""
    cf = Crowdfund.objects.filter(pk=target_id).only("pk", "title", "image", "goal_fen").first() if target_id else None
    if cf is None:
        raise NotFound("Crowdfund not found.")
    return {
        "title": TITLE.format(title=cf.title),
        "image_url": cf.image,
        "price_fen": cf.goal_fen,
        "path": f"/crowdfunds/{cf.pk}",
    }


ENVELOPE_TITLE = "恭喜发财，大吉大利"


def envelope_share_target(target_id: int) -> dict[str, Any]:
    """Any red envelope can be shared (the page shows what is left, or the result); unknown: 404."""
    env = RedEnvelope.objects.filter(pk=target_id).only("pk", "greeting").first() if target_id else None
    if env is None:
        raise NotFound("Red envelope not found.")
    return {"title": env.greeting or ENVELOPE_TITLE, "image_url": "", "price_fen": None,
            "path": f"/red-envelopes/{env.pk}"}
