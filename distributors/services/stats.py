"""The order side of the distribution figures, kept incrementally (never recomputed from Order rows).

Every paid order attributed to a distributor (`Order.attribution["distributor_id"]`, whoever
*brought* the order, credited with commission or not) moves, in the payment's own transaction:

* DistributorDailyStat (distributor, day of payment): orders +1, gmv_fen +paid, new_customers
  +1 on the customer's first paid order brought by this distributor;
* LinkDailyStat (link, day of payment) and the ShareLink totals: orders +1, gmv_fen +paid, when
  the order came through a link (`attribution["link_id"]`);
* DistributorCustomerStat (distributor, customer): orders +1, gmv_fen +paid; and
  DistributorCustomerTotals (distributor): customers +1 when the customer's count goes 0 → 1,
  repeat_customers +1 when it goes 1 → 2 (and back down when a full refund takes one away).

Refunds (the REFUNDED moment, once per successful refund, partial or full) take the refunded
amount off the **same rows the payment went to**: the day is the day of `order.paid_at`, which
the order keeps, so nothing else needs storing. So a day's `gmv_fen` is the net GMV of the orders
paid that day, and a past day's figure can go down when one of its orders is refunded later.
When a refund makes the order fully refunded, its order is taken back too (orders −1 on the
same rows): `orders` counts paid orders that are not fully refunded. `new_customers` is not
taken back (the customer did come).

Days are calendar days in settings.TIME_ZONE.

Counters move with F() only: an UPDATE … SET col = col + n first; when no row is there yet, an
INSERT in a savepoint; if a concurrent transaction inserted the same (unique) row first, the
INSERT fails and the UPDATE is repeated (on PostgreSQL it then sees the committed row).

The clicks side (clicks, unique_visitors) is written by distributors/services/clicks/
(counts.py, flush.py).

The handlers are registered on mall.hooks (PAID, REFUNDED, order ORDER_STATS) and the audit
job on core.jobs by DistributorsConfig.ready(). The commission figures on the stats page
come from the `distributors.commission_totals` hook (distributors/hooks.py), read by
distributors.selectors.stats.
"""
from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, models, transaction
from django.db.models import F

from ..models import (
    Distributor,
    DistributorCustomerStat,
    DistributorCustomerTotals,
    DistributorDailyStat,
    LinkDailyStat,
    ShareLink,
)
from ..selectors.stats import stats_audit_recent, stats_day

logger = logging.getLogger(__name__)


def _bump(model: type[models.Model], *, keys: dict, create: dict | None = None, **deltas: int) -> bool:
    """Add `deltas` to the row of `model` named by `keys` (unique), creating it with the deltas
    as its values (plus `create`) when it is not there. Returns True when this call created it."""
    changes = {name: F(name) + value for name, value in deltas.items()}
    if model.objects.filter(**keys).update(**changes):
        return False
    try:
        with transaction.atomic():
            model.objects.create(**keys, **(create or {}), **deltas)
        return True
    except IntegrityError:  # a concurrent transaction created it first
        if not model.objects.filter(**keys).update(**changes):  # pragma: no cover - unique row vanished
            raise
        return False


def _attributed(order) -> tuple[int, int | None] | None:
    """(distributor_id, link_id) of an attributed order whose distributor exists, else None."""
    attribution = order.attribution or {}
    distributor_id = attribution.get("distributor_id")
    if not isinstance(distributor_id, int) or isinstance(distributor_id, bool):
        return None
    link_id = attribution.get("link_id")
    if not isinstance(link_id, int) or isinstance(link_id, bool):
        link_id = None
    return distributor_id, link_id


def _customer_move(*, distributor_id: int, customer_id: int, paid_at: datetime | None, orders: int,
                   gmv_fen: int) -> tuple[bool, int]:
    """Move one customer's row (locked) and the distributor's customer totals.

    Returns (created, orders before): `created` is the customer's first paid order brought by
    this distributor ever (a new customer). A customer counts in `customers` while their row
    has orders >= 1 and in `repeat_customers` while it has orders >= 2; the totals move when
    the count crosses 1 or 2 (read under the row lock, so concurrent payments see each other)."""
    keys = {"distributor_id": distributor_id, "customer_id": customer_id}
    created = False
    before = DistributorCustomerStat.objects.select_for_update().filter(**keys).values_list("orders", flat=True).first()
    if before is None:
        if paid_at is None:
            return False, 0  # a refund for a customer never counted
        try:
            with transaction.atomic():
                DistributorCustomerStat.objects.create(**keys, orders=orders, gmv_fen=gmv_fen, first_paid_at=paid_at,
                                                       last_paid_at=paid_at)
            created, before = True, 0
        except IntegrityError:  # a concurrent payment of the same customer created it first
            before = DistributorCustomerStat.objects.select_for_update().filter(**keys).values_list(
                "orders", flat=True).get()
    if not created:
        changes = {"orders": F("orders") + orders, "gmv_fen": F("gmv_fen") + gmv_fen}
        if paid_at is not None:
            changes["last_paid_at"] = paid_at
        DistributorCustomerStat.objects.filter(**keys).update(**changes)
    after = before + orders
    customers = (after >= 1) - (before >= 1)
    repeat = (after >= 2) - (before >= 2)
    if customers or repeat:
        _bump(DistributorCustomerTotals, keys={"distributor_id": distributor_id}, customers=customers,
              repeat_customers=repeat)
    return created, before


def stats_order_paid(*, order) -> None:
    """Count a paid order for the distributor who brought it (call in the payment's transaction)."""
    found = _attributed(order)
    if found is None or order.paid_at is None:
        return
    distributor_id, link_id = found
    if not Distributor.objects.filter(pk=distributor_id).exists():
        logger.warning("stats: order %s names distributor %s, who does not exist", order.no, distributor_id)
        return
    amount = order.paid_fen
    day = stats_day(order.paid_at)
    # Rows are always taken in the same order — customer, customer totals, link day,
    # distributor day, link — which is also the click flush's order (link days, distributor
    # days, links), so concurrent payments and flushes wait for each other, never deadlock.
    is_new, _ = _customer_move(distributor_id=distributor_id, customer_id=order.user_id, paid_at=order.paid_at,
                               orders=1, gmv_fen=amount)
    if link_id is not None and not ShareLink.objects.filter(pk=link_id).exists():
        link_id = None
    if link_id is not None:
        _bump(LinkDailyStat, keys={"link_id": link_id, "day": day}, create={"distributor_id": distributor_id},
              orders=1, gmv_fen=amount)
    _bump(DistributorDailyStat, keys={"distributor_id": distributor_id, "day": day},
          orders=1, gmv_fen=amount, new_customers=int(is_new))
    if link_id is not None:
        ShareLink.objects.filter(pk=link_id).update(orders=F("orders") + 1, gmv_fen=F("gmv_fen") + amount)


def stats_order_refunded(*, order, amount_fen: int) -> None:
    """Take a successful refund off the rows its order's payment went to (same day, link, customer)."""
    found = _attributed(order)
    if found is None or order.paid_at is None or amount_fen <= 0:
        return  # not attributed, or never counted (paid after it had closed: PAID never fired)
    distributor_id, link_id = found
    day = stats_day(order.paid_at)
    # This refund made the order fully refunded: its order goes too.
    orders = -1 if order.refunded_fen >= order.paid_fen > order.refunded_fen - amount_fen else 0
    changes = {"gmv_fen": F("gmv_fen") - amount_fen, "orders": F("orders") + orders}
    # Only rows the payment created are touched: no row, nothing was counted.
    _customer_move(distributor_id=distributor_id, customer_id=order.user_id, paid_at=None, orders=orders,
                   gmv_fen=-amount_fen)
    if link_id is not None:
        LinkDailyStat.objects.filter(link_id=link_id, day=day).update(**changes)
    DistributorDailyStat.objects.filter(distributor_id=distributor_id, day=day).update(**changes)
    if link_id is not None:
        ShareLink.objects.filter(pk=link_id).update(**changes)


# --- mall hooks ----------------------------------------------------------------------------------


def on_order_paid(order, **data) -> None:
    stats_order_paid(order=order)


def on_order_refunded(order, *, amount_fen: int, **data) -> None:
    stats_order_refunded(order=order, amount_fen=amount_fen)


def stats_audit_job() -> dict:
    """The daily check of yesterday's and today's aggregates against the Order rows
    (beat job `distributors.stats_audit`)."""
    report = stats_audit_recent()
    if not report["ok"]:
        logger.error("distribution stats differ from the orders: %s", report)
    return report
