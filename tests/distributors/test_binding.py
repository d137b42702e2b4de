"""Customer binding (锁粉): each mode with its protection period over simulated time, self and
inactive distributors, two simultaneous binds of one customer."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from distributors.models import BindingEvent, CustomerBinding, DistributorDailyStat
from distributors.selectors.bindings import binding_get_active, binding_list_for_distributor
from distributors.services.binding import Outcome, binding_bind
from tests.concurrency import run_at_once
from tests.factories import DistributorFactory, ShareLinkFactory, UserFactory, distribution_settings_set

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0)


def day(n: float):
    return T0 + timedelta(days=n)


def kinds(customer) -> list[tuple[str, int | None, int | None]]:
    return list(
        BindingEvent.objects.filter(customer=customer).order_by("id").values_list(
            "kind", "from_distributor_id", "to_distributor_id")
    )


def test_permanent_first_distributor_keeps_the_customer_forever():
    distribution_settings_set(binding_mode="permanent", binding_days=10, protection_days=3)
    a, b, customer = DistributorFactory(), DistributorFactory(), UserFactory()
    first = binding_bind(customer=customer, link=ShareLinkFactory(distributor=a), source="click", now=day(0))
    assert first.outcome == Outcome.BOUND and first.binding.expires_at is None
    for n in (1, 5, 400):
        assert binding_bind(customer=customer, link=ShareLinkFactory(distributor=b, channel=f"c{n}"), source="click",
                            now=day(n)).outcome == Outcome.HELD
    assert binding_bind(customer=customer, distributor=a, source="scan", now=day(500)).outcome == Outcome.UNCHANGED
    row = CustomerBinding.objects.get(customer=customer)
    assert row.distributor_id == a.pk and row.bound_at == day(0)
    assert kinds(customer) == [("bound", None, a.pk)]
    assert binding_get_active(customer=customer, now=day(1000)).distributor_id == a.pk


def test_days_mode_expires_then_the_next_click_binds_anew():
    distribution_settings_set(binding_mode="days", binding_days=10, protection_days=3)
    a, b, customer = DistributorFactory(), DistributorFactory(), UserFactory()
    la, lb = ShareLinkFactory(distributor=a), ShareLinkFactory(distributor=b)
    assert binding_bind(customer=customer, link=la, source="click", now=day(0)).outcome == Outcome.BOUND
    row = CustomerBinding.objects.get(customer=customer)
    assert row.expires_at == day(10) and row.protected_until == day(3)
    # Not expired yet: another distributor cannot take over, even after the protection period.
    assert binding_bind(customer=customer, link=lb, source="click", now=day(5)).outcome == Outcome.HELD
    assert binding_get_active(customer=customer, now=day(9.9)).distributor_id == a.pk
    assert binding_get_active(customer=customer, now=day(10.1)) is None  # expired: no active binding
    res = binding_bind(customer=customer, link=lb, source="click", now=day(11))
    assert res.outcome == Outcome.REBOUND
    row.refresh_from_db()
    assert (row.distributor_id, row.link_id, row.bound_at, row.expires_at) == (b.pk, lb.pk, day(11), day(21))
    assert binding_bind(customer=customer, link=la, source="click", now=day(12)).outcome == Outcome.HELD
    # The same distributor again renews the window.
    assert binding_bind(customer=customer, link=lb, source="click", now=day(15)).outcome == Outcome.KEPT
    row.refresh_from_db()
    assert row.expires_at == day(25) and row.distributor_id == b.pk
    assert kinds(customer) == [("bound", None, a.pk), ("rebound", a.pk, b.pk), ("kept", b.pk, b.pk)]
    assert CustomerBinding.objects.filter(customer=customer).count() == 1


def test_days_mode_protection_longer_than_the_binding_blocks_takeover_until_it_ends():
    distribution_settings_set(binding_mode="days", binding_days=2, protection_days=5)
    a, b, customer = DistributorFactory(), DistributorFactory(), UserFactory()
    binding_bind(customer=customer, distributor=a, source="scan", now=day(0))
    assert binding_bind(customer=customer, distributor=b, source="scan", now=day(3)).outcome == Outcome.HELD
    assert binding_bind(customer=customer, distributor=b, source="scan", now=day(5.01)).outcome == Outcome.REBOUND


def test_last_click_takes_over_only_after_the_protection_period():
    distribution_settings_set(binding_mode="last_click", binding_days=30, protection_days=3)
    a, b, customer = DistributorFactory(), DistributorFactory(), UserFactory()
    assert binding_bind(customer=customer, link=ShareLinkFactory(distributor=a), source="click",
                        now=day(0)).outcome == Outcome.BOUND
    assert binding_bind(customer=customer, link=ShareLinkFactory(distributor=b), source="click",
                        now=day(1)).outcome == Outcome.HELD
    assert binding_bind(customer=customer, link=ShareLinkFactory(distributor=b, channel="x"), source="click",
                        now=day(2.99)).outcome == Outcome.HELD
    assert binding_bind(customer=customer, distributor=b, source="click", now=day(4)).outcome == Outcome.REBOUND
    assert binding_bind(customer=customer, distributor=a, source="click", now=day(5)).outcome == Outcome.HELD
    assert binding_bind(customer=customer, distributor=a, source="order", now=day(8)).outcome == Outcome.REBOUND
    row = CustomerBinding.objects.get(customer=customer)
    assert (row.distributor_id, row.source, row.protected_until) == (a.pk, "order", day(11))
    assert kinds(customer) == [("bound", None, a.pk), ("rebound", a.pk, b.pk), ("rebound", b.pk, a.pk)]


def test_last_click_without_protection_takes_over_at_once():
    distribution_settings_set(binding_mode="last_click", binding_days=30, protection_days=0)
    a, b, customer = DistributorFactory(), DistributorFactory(), UserFactory()
    binding_bind(customer=customer, distributor=a, source="click", now=day(0))
    assert binding_bind(customer=customer, distributor=b, source="click", now=day(0)).outcome == Outcome.REBOUND
    assert CustomerBinding.objects.get(customer=customer).distributor_id == b.pk


def test_nobody_binds_to_themselves_and_inactive_distributors_bind_nobody():
    distribution_settings_set(binding_mode="last_click", protection_days=0)
    me = DistributorFactory()
    assert binding_bind(customer=me.user, link=ShareLinkFactory(distributor=me), source="click").outcome == Outcome.SELF
    customer = UserFactory()
    for status in ("pending", "frozen", "rejected"):
        other = DistributorFactory(status=status)
        assert binding_bind(customer=customer, link=ShareLinkFactory(distributor=other),
                            source="click").outcome == Outcome.INACTIVE
    assert not CustomerBinding.objects.exists()
    assert not BindingEvent.objects.exists()


def test_a_link_object_with_a_stale_status_does_not_bind():
    d = DistributorFactory()
    shared = ShareLinkFactory(distributor=d)
    d.status = "frozen"
    d.save(update_fields=["status"])
    assert binding_bind(customer=UserFactory(), link=shared, source="click").outcome == Outcome.INACTIVE
    assert not CustomerBinding.objects.exists()


def test_binding_lists_the_distributors_active_customers():
    distribution_settings_set(binding_mode="last_click", binding_days=30, protection_days=0)
    a, b = DistributorFactory(), DistributorFactory()
    customers = [UserFactory() for _ in range(3)]
    for c in customers:
        binding_bind(customer=c, distributor=a, source="click", now=day(0))
    binding_bind(customer=customers[1], distributor=b, source="click", now=day(0))  # taken over by b
    assert {x.customer_id for x in binding_list_for_distributor(distributor=a, now=day(0))} == {
        customers[0].pk, customers[2].pk}
    assert binding_list_for_distributor(distributor=a, now=day(31)).count() == 0  # expired
    assert binding_list_for_distributor(distributor=a, active_only=False, now=day(31)).count() == 2
    # Binding writes no daily figures: new_customers counts first paid orders (the stats hooks).
    assert not DistributorDailyStat.objects.exists()


def test_bad_arguments_are_refused():
    d = DistributorFactory()
    with pytest.raises(ValueError):
        binding_bind(customer=UserFactory(), source="click")
    with pytest.raises(ValueError):
        binding_bind(customer=UserFactory(), link=ShareLinkFactory(distributor=d), distributor=d, source="click")
    with pytest.raises(ValueError):
        binding_bind(customer=UserFactory(), distributor=d, source="telepathy")
    assert not CustomerBinding.objects.exists()


def _race(customer, targets, now):
    outcomes = run_at_once(lambda i: binding_bind(customer=customer, link=targets[i], source="click",
                                                  now=now).outcome, len(targets), domain_errors=False)
    return sorted(outcomes)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("protection_days", [3, 0])
def test_two_links_clicked_at_the_same_moment_make_one_binding(protection_days):
    distribution_settings_set(binding_mode="last_click", binding_days=30, protection_days=protection_days)
    a, b = DistributorFactory(), DistributorFactory()
    la, lb = ShareLinkFactory(distributor=a), ShareLinkFactory(distributor=b)
    for _ in range(5):
        customer = UserFactory()
        outcomes = _race(customer, [la, lb], day(0))
        assert CustomerBinding.objects.filter(customer=customer).count() == 1
        row = CustomerBinding.objects.get(customer=customer)
        events = kinds(customer)
        if protection_days:
            # Protected from the first moment: the loser is held off, one event.
            assert outcomes == ["bound", "held"]
            assert events == [("bound", None, row.distributor_id)]
        else:
            # No protection: the second takes over, and the row shows the last event's distributor.
            assert outcomes == ["bound", "rebound"]
            assert [k for k, _, _ in events] == ["bound", "rebound"]
            assert events[-1][2] == row.distributor_id and events[-1][1] == events[0][2]
