"""The operators' read of campaign refunds (crowdfund contributions and red-envelope backings
paid back by WeChat): filtered by status, or those waiting for an operator — the last attempt
of a contribution's or backing's refund failed, so nothing will send it again by itself
(services/refund_retries.py sends it once more). One query per page: the refunds with their
contribution or backing and its campaign (`select_related`), the "waiting" flag computed by
the database (`NOT EXISTS` a later attempt)."""
from __future__ import annotations

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet

from ..models import CampaignRefund, CampaignRefundStatus


def _later_attempt() -> Exists:
    later = CampaignRefund.objects.filter(attempt__gt=OuterRef("attempt"), reason=OuterRef("reason")).filter(
        Q(contribution__isnull=False, contribution_id=OuterRef("contribution_id"),
          mall_refund_no=OuterRef("mall_refund_no"))
        | Q(backing__isnull=False, backing_id=OuterRef("backing_id")))
    return Exists(later)


def campaign_refund_list_for_ops(*, status: str | None = None, needs_operator: bool | None = None,
                                 campaign: str | None = None) -> QuerySet[CampaignRefund]:
    """Newest first; each row's `needs_operator` is True when it failed and no later attempt exists."""
    qs = (CampaignRefund.objects.select_related("contribution", "backing")
          .annotate(retried=_later_attempt())
          .annotate(needs_operator=ExpressionWrapper(Q(status=CampaignRefundStatus.FAILED, retried=False),
                                                     output_field=BooleanField()))
          .order_by("-created_at", "-id"))
    if status:
        qs = qs.filter(status=status)
    if needs_operator is not None:
        qs = qs.filter(needs_operator=needs_operator)
    if campaign == "crowdfund":
        qs = qs.filter(contribution__isnull=False)
    elif campaign == "red_envelope":
        qs = qs.filter(backing__isnull=False)
    return qs
