"""Reading crowdfunds: the public page (progress, contributors newest first, the top three),
the initiator's own figures and list. Related rows are loaded once per page, never per row."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Max, QuerySet, Sum
from django.utils import timezone

from core.errors import NotFound
from distributors.selectors.links import share_link_url

from ..models import ContributionStatus, Crowdfund, CrowdfundStatus

K = ContributionStatus
CONTRIBUTORS_SHOWN = 50
TOP = 3


def crowdfund_share_url(cf: Crowdfund) -> str:
    """The link to share: the distributor's short link when one is credited (counted as their
    click), else the crowdfund's H5 page."""
    if cf.share_link_id:
        return share_link_url(code=cf.share_code)
    return f"{settings.H5_BASE_URL.rstrip('/')}/crowdfunds/{cf.pk}"


def crowdfund_get(*, crowdfund_id: int) -> Crowdfund:
    cf = (Crowdfund.objects.select_related("initiator", "order").filter(pk=crowdfund_id).first()
          if type(crowdfund_id) is int else None)
    if cf is None:
        raise NotFound("Crowdfund not found.")
    return cf


def crowdfund_list_for_user(*, user, status: str | None = None) -> QuerySet[Crowdfund]:
    qs = Crowdfund.objects.filter(initiator=user).select_related("order").order_by("-created_at", "-pk")
    return qs.filter(status=status) if status else qs


@dataclass(frozen=True)
class Backer:
    user_id: int | None
    nickname: str
    avatar_url: str
    amount_fen: int
    message: str
    anonymous: bool
    paid_at: object


def _backer(c, *, amount_fen: int | None = None, message: str | None = None) -> Backer:
    hidden = c.anonymous
    return Backer(user_id=None if hidden else c.user_id, nickname="匿名好友" if hidden else (c.user.nickname or ""),
                  avatar_url="" if hidden else (c.user.avatar_url or ""),
                  amount_fen=c.amount_fen if amount_fen is None else amount_fen,
                  message=c.message if message is None else message, anonymous=hidden, paid_at=c.paid_at)


def crowdfund_backers(*, cf: Crowdfund) -> dict:
    """Counted contributions newest first (at most CONTRIBUTORS_SHOWN) and the top three
    contributors by their total (ties: who got there first). Anonymous gifts are never added
    to a friend's named ones (a named total including them would disclose them): a friend's
    anonymous and named gifts are two entries, the anonymous one without name or avatar."""
    counted = cf.contributions.filter(status=K.PAID)
    recent = [_backer(c) for c in counted.select_related("user").order_by("-paid_at", "-pk")[:CONTRIBUTORS_SHOWN]]
    totals = list(counted.values("user_id", "anonymous").annotate(total=Sum("amount_fen"), last=Max("paid_at"),
                                                                   n=Count("pk")).order_by("-total", "last")[:TOP])
    top = []
    if totals:
        latest = {}
        for c in counted.select_related("user").filter(user_id__in=[t["user_id"] for t in totals]).order_by("paid_at"):
            latest[(c.user_id, c.anonymous)] = c  # their newest gift of that kind: name and message shown
        top = [_backer(latest[(t["user_id"], t["anonymous"])], amount_fen=t["total"]) for t in totals
               if (t["user_id"], t["anonymous"]) in latest]
    return {"recent": recent, "top": top}


def crowdfund_initiator_figures(*, cf: Crowdfund) -> dict:
    """What only the initiator sees: pending payments, own part, refunds under way, the order."""
    rows = cf.contributions.values("status").annotate(n=Count("pk"), fen=Sum("amount_fen"))
    by_status = {r["status"]: (r["n"], r["fen"] or 0) for r in rows}
    own = cf.contributions.filter(user_id=cf.initiator_id, status=K.PAID).aggregate(fen=Sum("amount_fen"))["fen"] or 0
    return {
        "pending_count": by_status.get(K.PENDING_PAYMENT, (0, 0))[0],
        "pending_fen": by_status.get(K.PENDING_PAYMENT, (0, 0))[1],
        "refunding_fen": by_status.get(K.REFUNDING, (0, 0))[1],
        "refunded_fen": by_status.get(K.REFUNDED, (0, 0))[1],
        "own_fen": own,
        "address": cf.address,
        "order_no": cf.order.no if cf.order_id else None,
        "can_cancel": cf.status == CrowdfundStatus.OPEN,
        "can_pay_rest": cf.status == CrowdfundStatus.OPEN and cf.missing_fen > 0 and cf.deadline > timezone.now(),
    }


def progress_bps(cf: Crowdfund) -> int:
    return cf.raised_fen * 10000 // cf.goal_fen if cf.goal_fen else 0
