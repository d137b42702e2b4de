"""core.transitions: the one status-change primitive, on a real model (Distributor) and
PostgreSQL/SQLite. Each test names the side effect that must (not) happen."""
from __future__ import annotations

import pytest
from django.db import models

from core.errors import InvalidTransition
from core.transitions import transition, transition_set, transition_sources, transitions_check
from distributors.models import Distributor, DistributorEvent, DistributorStatus
from tests.concurrency import run_at_once
from tests.factories import DistributorFactory

S = DistributorStatus
TABLE = {
    S.PENDING: frozenset({S.APPROVED, S.REJECTED}),
    S.APPROVED: frozenset({S.FROZEN}),
    S.FROZEN: frozenset({S.APPROVED}),
    S.REJECTED: frozenset({S.PENDING}),
}


def record(d: Distributor, prev: str, to: str) -> None:
    DistributorEvent.objects.create(distributor=d, kind="status", from_value=prev, to_value=to)


def make(status: str = S.PENDING) -> Distributor:
    return DistributorFactory(status=status, approved_at=None, real_name="张三", phone="13800000000")


@pytest.mark.django_db
def test_a_legal_move_updates_the_row_writes_the_event_and_runs_then():
    d = make()
    followed: list[str] = []
    moved = transition(d, S.APPROVED, table=TABLE, record=record, fields={"reason": "ok"},
                       then=lambda obj: followed.append(obj.status))
    assert moved is True
    assert d.status == S.APPROVED and d.reason == "ok"
    assert Distributor.objects.values_list("status", "reason").get(pk=d.pk) == (S.APPROVED, "ok")
    assert list(DistributorEvent.objects.values_list("from_value", "to_value")) == [(S.PENDING, S.APPROVED)]
    assert followed == [S.APPROVED]


@pytest.mark.django_db
def test_an_illegal_move_raises_with_from_and_to_and_changes_nothing():
    d = make(S.APPROVED)
    with pytest.raises(InvalidTransition) as exc:
        transition(d, S.REJECTED, table=TABLE, record=record, what="distributor")
    assert exc.value.extra == {"from": S.APPROVED, "to": S.REJECTED}
    assert "distributor that is approved cannot become rejected" in exc.value.message
    assert Distributor.objects.get(pk=d.pk).status == S.APPROVED
    assert not DistributorEvent.objects.exists()


@pytest.mark.django_db
def test_not_strict_returns_false_and_changes_nothing():
    d = make(S.APPROVED)
    assert transition(d, S.PENDING, table=TABLE, record=record, strict=False) is False
    assert Distributor.objects.get(pk=d.pk).status == S.APPROVED
    assert not DistributorEvent.objects.exists()


@pytest.mark.django_db
def test_the_status_is_read_from_the_database_not_the_stale_instance():
    d = make()
    Distributor.objects.filter(pk=d.pk).update(status=S.REJECTED)  # someone else moved it
    assert d.status == S.PENDING
    with pytest.raises(InvalidTransition) as exc:
        transition(d, S.APPROVED, table=TABLE, record=record)
    assert exc.value.extra["from"] == S.REJECTED
    assert Distributor.objects.get(pk=d.pk).status == S.REJECTED


@pytest.mark.django_db
def test_allow_refuses_what_the_table_cannot_say():
    d = make()
    with pytest.raises(InvalidTransition):
        transition(d, S.APPROVED, table=TABLE, record=record, allow=lambda prev, to: False)
    assert Distributor.objects.get(pk=d.pk).status == S.PENDING


@pytest.mark.django_db
def test_a_failing_then_rolls_back_the_move_and_the_event():
    d = make()

    def boom(obj):
        raise RuntimeError("posting failed")

    with pytest.raises(RuntimeError):
        transition(d, S.APPROVED, table=TABLE, record=record, then=boom)
    assert Distributor.objects.get(pk=d.pk).status == S.PENDING
    assert not DistributorEvent.objects.exists()


@pytest.mark.django_db
def test_locked_true_still_updates_conditionally():
    """A caller that claims to hold the lock but holds a stale instance cannot move a row
    that moved meanwhile: the conditional UPDATE finds nothing."""
    d = make()
    Distributor.objects.filter(pk=d.pk).update(status=S.REJECTED)
    with pytest.raises(InvalidTransition):
        transition(d, S.APPROVED, table=TABLE, record=record, locked=True)
    assert Distributor.objects.get(pk=d.pk).status == S.REJECTED
    assert not DistributorEvent.objects.exists()


@pytest.mark.django_db
def test_expression_fields_are_read_back():
    d = make()
    transition(d, S.APPROVED, table=TABLE, record=None, fields={"phone": models.Value("13900000000")})
    assert d.phone == "13900000000"


@pytest.mark.django_db(transaction=True)
def test_sixteen_threads_approving_and_rejecting_at_once_move_it_once():
    d = make()

    def attempt(i: int) -> str:
        target = S.APPROVED if i % 2 else S.REJECTED
        try:
            transition(Distributor.objects.get(pk=d.pk), target, table=TABLE, record=record)
        except InvalidTransition:
            return "refused"
        return target

    results = run_at_once(attempt, 16)
    assert results.count("refused") == 15
    final = Distributor.objects.get(pk=d.pk).status
    assert [r for r in results if r != "refused"] == [final]
    assert DistributorEvent.objects.count() == 1


def test_transitions_check_catches_a_missing_or_unknown_status():
    transitions_check(TABLE, DistributorStatus)
    with pytest.raises(ValueError, match="keys"):
        transitions_check({k: v for k, v in TABLE.items() if k != S.FROZEN}, DistributorStatus)
    with pytest.raises(ValueError, match="unknown"):
        transitions_check({**TABLE, S.FROZEN: frozenset({"deleted"})}, DistributorStatus)
    with pytest.raises(ValueError, match="itself"):
        transitions_check({**TABLE, S.FROZEN: frozenset({S.FROZEN})}, DistributorStatus)


@pytest.mark.django_db
def test_transition_set_moves_only_the_rows_the_table_allows():
    pending, rejected, approved = make(), make(S.REJECTED), make(S.APPROVED)
    assert transition_sources(TABLE, S.APPROVED) == {S.PENDING, S.FROZEN}
    moved = transition_set(Distributor.objects.all(), S.APPROVED, table=TABLE, fields={"reason": "bulk"})
    assert moved == 1
    statuses = dict(Distributor.objects.values_list("pk", "status"))
    assert statuses == {pending.pk: S.APPROVED, rejected.pk: S.REJECTED, approved.pk: S.APPROVED}
    assert Distributor.objects.get(pk=pending.pk).reason == "bulk"
    assert Distributor.objects.get(pk=approved.pk).reason == ""  # not touched
    with pytest.raises(ValueError):
        transition_set(Distributor.objects.all(), "deleted", table=TABLE)
