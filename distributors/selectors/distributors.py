"""Reads about distributors, their team and customers."""
from __future__ import annotations

from django.db.models import Case, IntegerField, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from core.errors import NotFound
from mall.models import Order, OrderStatus

from ..models import CustomerBinding, Distributor, DistributorStatus, ShareLink, Tier


def distributor_for_user(*, user) -> Distributor | None:
    if user is None or not user.is_authenticated:
        return None
    return Distributor.objects.select_related("tier", "inviter__user").filter(user=user).first()


def distributor_brief_for_user(*, user) -> Distributor | None:
    """Just the distributor row and its tier (for /me): no user or inviter joins."""
    if user is None or not user.is_authenticated:
        return None
    return Distributor.objects.select_related("tier").filter(user=user).first()


def distributor_list(*, status: str | None = None) -> QuerySet[Distributor]:
    qs = Distributor.objects.select_related("user", "tier", "inviter__user")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-applied_at", "-pk")


def distributor_team(*, distributor: Distributor, level: int | None = None) -> QuerySet[Distributor]:
    """Level 1: those I invited; level 2: those they invited. Annotated with `level`."""
    level1 = Q(inviter=distributor)
    level2 = Q(inviter__inviter=distributor)
    where = level1 if level == 1 else level2 if level == 2 else (level1 | level2)
    return (
        Distributor.objects.filter(where)
        .select_related("user", "tier")
        .annotate(level=Case(When(inviter=distributor, then=Value(1)), default=Value(2), output_field=IntegerField()))
        .order_by("level", "-applied_at", "-pk")
    )


def distributor_team_size(*, distributor: Distributor) -> dict[str, int]:
    return {
        "level1": Distributor.objects.filter(inviter=distributor, status=DistributorStatus.APPROVED).count(),
        "level2": Distributor.objects.filter(inviter__inviter=distributor, status=DistributorStatus.APPROVED).count(),
    }


def distributor_customers(*, distributor: Distributor, include_expired: bool = False) -> QuerySet[CustomerBinding]:
    qs = CustomerBinding.objects.filter(distributor=distributor).select_related("customer", "link")
    if not include_expired:
        qs = qs.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
    return qs.order_by("-bound_at", "-pk")


def distributor_summary(*, distributor: Distributor) -> dict[str, int]:
    """Totals over all the distributor's links (kept by the counter flush and the order hooks)."""
    totals = ShareLink.objects.filter(distributor=distributor).aggregate(
        clicks=Sum("clicks"), unique_visitors=Sum("unique_visitors"), orders=Sum("orders"), gmv_fen=Sum("gmv_fen")
    )
    team = distributor_team_size(distributor=distributor)
    return {
        **{key: value or 0 for key, value in totals.items()},
        "team_level1": team["level1"],
        "team_level2": team["level2"],
        "bound_customers": distributor_customers(distributor=distributor).count(),
    }


def distributor_figures(*, distributor_id: int) -> dict[str, int]:
    """The figures tier conditions look at: own GMV and orders (orders the distributor brought,
    completed, net of refunds), team GMV (orders brought by level-1 invitees), invited count."""
    own = Order.objects.filter(attribution__distributor_id=distributor_id, completed_at__isnull=False).exclude(
        status=OrderStatus.REFUNDED
    )
    own_totals = own.aggregate(paid=Sum("paid_fen"), refunded=Sum("refunded_fen"))
    invitee_ids = list(
        Distributor.objects.filter(inviter_id=distributor_id, status=DistributorStatus.APPROVED)
        .values_list("pk", flat=True)
    )
    team_totals = (
        Order.objects.filter(attribution__distributor_id__in=invitee_ids, completed_at__isnull=False)
        .exclude(status=OrderStatus.REFUNDED)
        .aggregate(paid=Sum("paid_fen"), refunded=Sum("refunded_fen"))
        if invitee_ids
        else {"paid": 0, "refunded": 0}
    )
    return {
        "own_gmv_fen": (own_totals["paid"] or 0) - (own_totals["refunded"] or 0),
        "order_count": own.count(),
        "team_gmv_fen": (team_totals["paid"] or 0) - (team_totals["refunded"] or 0),
        "invited_count": len(invitee_ids),
    }


def tier_list() -> QuerySet:
    return Tier.objects.order_by("rank")


def tier_get(*, tier_id: int):
    tier = Tier.objects.filter(pk=tier_id).first()
    if tier is None:
        raise NotFound("Tier not found.")
    return tier
