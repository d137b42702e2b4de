"""Reading red envelopes: the public page (what is left, the grabs with best luck, the top three
backers) and a person's envelopes. Related rows are loaded once per page, never per row."""
from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.db.models import Count, Min, QuerySet, Sum

from core.errors import NotFound
from distributors.selectors.links import share_link_url

from ..models import BackingStatus, EnvelopeBacking, EnvelopeShare, EnvelopeStatus, RedEnvelope

TOP = 3
GRABS_SHOWN = 100


def envelope_get(*, envelope_id: int) -> RedEnvelope:
    env = (RedEnvelope.objects.select_related("owner").filter(pk=envelope_id).first()
           if type(envelope_id) is int else None)
    if env is None:
        raise NotFound("Red envelope not found.")
    return env


def envelope_share_url(env: RedEnvelope) -> str:
    """The link to share: the owner's short link when they are a distributor (counted as their
    click, binding the friend), else the envelope's H5 page."""
    if env.share_link_id:
        return share_link_url(code=env.share_code)
    return f"{settings.H5_BASE_URL.rstrip('/')}/red-envelopes/{env.pk}"


def envelope_list_for_owner(*, owner_id: int) -> QuerySet[RedEnvelope]:
    """A person's envelopes, newest first (their page; not the ones still waiting for payment)."""
    return (RedEnvelope.objects.filter(owner_id=owner_id).exclude(status=EnvelopeStatus.PENDING_PAYMENT)
            .select_related("owner").order_by("-created_at", "-pk"))


def envelopes_top_backers(*, envelope_ids: list[int]) -> dict[int, list[dict]]:
    """The top three backers (fans' paid top-ups, summed per person; ties: who backed first) of
    each envelope, in ONE query for the whole page."""
    rows = (EnvelopeBacking.objects.filter(envelope_id__in=envelope_ids, is_owner=False, status=BackingStatus.PAID)
            .values("envelope_id", "user_id", "user__nickname", "user__avatar_url")
            .annotate(total=Sum("amount_fen"), first=Min("paid_at")).order_by("envelope_id", "-total", "first"))
    top: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        if len(top[r["envelope_id"]]) < TOP:
            top[r["envelope_id"]].append({"user_id": r["user_id"], "nickname": r["user__nickname"] or "",
                                          "avatar_url": r["user__avatar_url"] or "", "amount_fen": r["total"]})
    return top


def envelopes_remaining(*, envelope_ids: list[int]) -> dict[int, int]:
    """Shares nobody has grabbed yet, per envelope (one query)."""
    return dict(EnvelopeShare.objects.filter(envelope_id__in=envelope_ids, user__isnull=True, returned=False)
                .values("envelope_id").annotate(n=Count("pk")).values_list("envelope_id", "n"))


def envelope_grabs(*, env: RedEnvelope) -> list[dict]:
    """The grabs, newest first (at most GRABS_SHOWN), and which one had the best luck once the
    envelope is empty or over."""
    show_best = env.best_position is not None and env.status in (EnvelopeStatus.EMPTY, EnvelopeStatus.EXPIRED)
    rows = (EnvelopeShare.objects.filter(envelope=env, user__isnull=False).select_related("user")
            .order_by("-grabbed_at", "-pk")[:GRABS_SHOWN])
    return [{"user_id": s.user_id, "nickname": s.user.nickname or "", "avatar_url": s.user.avatar_url or "",
             "amount_fen": s.amount_fen, "rank": s.position + 1, "grabbed_at": s.grabbed_at,
             "is_best": (s.position == env.best_position) if show_best else None} for s in rows]
