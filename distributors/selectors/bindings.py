"""Reads for customer bindings (锁粉)."""
from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from ..models import BindingEvent, CustomerBinding, Distributor


def _active(now: datetime) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def binding_get_active(*, customer, now: datetime | None = None) -> CustomerBinding | None:
    """The customer's binding if it has not expired (with its distributor and link), else None."""
    now = now or timezone.now()
    return (
        CustomerBinding.objects.select_related("distributor", "link")
        .filter(_active(now), customer_id=customer.pk)
        .first()
    )


def binding_list_for_distributor(*, distributor: Distributor, active_only: bool = True,
                                 now: datetime | None = None) -> QuerySet[CustomerBinding]:
    """The distributor's bound customers, newest first."""
    qs = CustomerBinding.objects.filter(distributor=distributor).select_related("customer")
    if active_only:
        qs = qs.filter(_active(now or timezone.now()))
    return qs.order_by("-bound_at", "-id")


def binding_events_for_customer(*, customer) -> QuerySet[BindingEvent]:
    return BindingEvent.objects.filter(customer_id=customer.pk).order_by("-created_at", "-id")
