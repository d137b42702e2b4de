"""Customer binding (锁粉): which distributor a customer belongs to, by the operator's rules.

One CustomerBinding row per customer (OneToOne); every change writes a BindingEvent.

Rules (DistributionSettings, read at the moment of the click / scan / order):

* The distributor must be approved; nobody binds to themselves.
* No binding yet → bind ("bound"). `expires_at` = now + binding_days for the `days` and
  `last_click` modes, None (never) for `permanent`; `protected_until` = now + protection_days.
* The same distributor again → in `days` and `last_click` the window is renewed from now
  (expiry and protection; "kept"); in `permanent` nothing changes.
* Another distributor takes the customer over ("rebound") only when the protection period
  is over AND either the binding has expired or the mode is `last_click`. So: `permanent`
  never (it never expires), `days` after expiry, `last_click` after the protection period.
  Otherwise nothing changes (no event: nothing changed).

Concurrency: the customer's row is locked (select_for_update); when there is no row yet, two
first binds race on the OneToOne unique constraint and the loser re-reads the winner's row
under the lock and applies the rules to it — two links clicked at the same moment end in one
binding, decided by the rules.

`now` is a parameter so tests can walk through time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import BindingEvent, BindingMode, CustomerBinding, Distributor, DistributorStatus, ShareLink
from .settings import distribution_settings_get

SOURCES = ("click", "scan", "order")


class Outcome:
    BOUND = "bound"  # first binding
    REBOUND = "rebound"  # taken over by another distributor (or after expiry)
    KEPT = "kept"  # same distributor: window renewed
    UNCHANGED = "unchanged"  # same distributor, permanent: nothing to do
    HELD = "held"  # another distributor holds the customer (permanent, not expired, or protected)
    SELF = "self"  # a distributor cannot bind themselves
    INACTIVE = "inactive"  # the distributor is not approved

    CHANGED = frozenset({BOUND, REBOUND, KEPT})


@dataclass(frozen=True)
class BindResult:
    binding: CustomerBinding | None
    outcome: str

    @property
    def changed(self) -> bool:
        return self.outcome in Outcome.CHANGED


def _window(settings, now: datetime) -> tuple[datetime | None, datetime]:
    expires = None if settings.binding_mode == BindingMode.PERMANENT else now + timedelta(days=settings.binding_days)
    return expires, now + timedelta(days=settings.protection_days)


def binding_is_active(*, binding: CustomerBinding, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return binding.expires_at is None or binding.expires_at > now


def _event(*, customer_id: int, kind: str, to: Distributor, frm_id: int | None, link: ShareLink | None) -> None:
    BindingEvent.objects.create(customer_id=customer_id, from_distributor_id=frm_id, to_distributor=to, kind=kind,
                                link=link)


def binding_bind(*, customer, link: ShareLink | None = None, distributor: Distributor | None = None,
                 source: str, now: datetime | None = None) -> BindResult:
    """Bind `customer` to the link's (or the given) distributor if the rules allow it."""
    if (link is None) == (distributor is None):
        raise ValueError("pass exactly one of link and distributor")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    now = now or timezone.now()
    distributor_id = link.distributor_id if link is not None else distributor.pk
    # The distributor's status as it is now, not as the caller's object remembers it.
    distributor = Distributor.objects.only("pk", "user_id", "status").filter(pk=distributor_id).first()
    if distributor is None or distributor.status != DistributorStatus.APPROVED:
        return BindResult(None, Outcome.INACTIVE)
    if distributor.user_id == customer.pk:
        return BindResult(None, Outcome.SELF)
    settings = distribution_settings_get()
    expires, protected = _window(settings, now)

    with transaction.atomic():
        row = CustomerBinding.objects.select_for_update().filter(customer_id=customer.pk).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = CustomerBinding.objects.create(
                        customer_id=customer.pk, distributor=distributor, link=link, source=source, bound_at=now,
                        expires_at=expires, protected_until=protected,
                    )
                    _event(customer_id=customer.pk, kind=Outcome.BOUND, to=distributor, frm_id=None, link=link)
                return BindResult(row, Outcome.BOUND)
            except IntegrityError:  # a simultaneous first bind won: apply the rules to its row
                row = CustomerBinding.objects.select_for_update().get(customer_id=customer.pk)

        if row.distributor_id == distributor.pk:
            if settings.binding_mode == BindingMode.PERMANENT and row.expires_at is None:
                return BindResult(row, Outcome.UNCHANGED)
            row.expires_at = expires
            row.protected_until = max(row.protected_until, protected)
            if link is not None:
                row.link = link
            row.save(update_fields=["expires_at", "protected_until", "link"])
            _event(customer_id=customer.pk, kind=Outcome.KEPT, to=distributor, frm_id=distributor.pk, link=link)
            return BindResult(row, Outcome.KEPT)

        expired = not binding_is_active(binding=row, now=now)
        may_take_over = now >= row.protected_until and (expired or settings.binding_mode == BindingMode.LAST_CLICK)
        if not may_take_over:
            return BindResult(row, Outcome.HELD)
        previous = row.distributor_id
        row.distributor = distributor
        row.link = link
        row.source = source
        row.bound_at = now
        row.expires_at = expires
        row.protected_until = protected
        row.save(update_fields=["distributor", "link", "source", "bound_at", "expires_at", "protected_until"])
        _event(customer_id=customer.pk, kind=Outcome.REBOUND, to=distributor, frm_id=previous, link=link)
        return BindResult(row, Outcome.REBOUND)
