"""One way to change a status, for every model that has a status machine.

Each app keeps its table next to its model (`ORDER_TRANSITIONS` in mall/models.py,
`WITHDRAWAL_TRANSITIONS` in commissions/models.py, ...): a dict from each status to the
frozenset of statuses it may move to. Every status change goes through `transition`,
which in one transaction

1. locks the row (SELECT ... FOR UPDATE; skipped with `locked=True` when the caller
   already holds the lock in this transaction, e.g. after `order_lock`) and reads the
   current status from the database, not from a possibly stale instance;
2. checks the move against the table (and the optional `allow(from, to)` rule for what
   a table cannot say, e.g. "only a rejected refund reopens an order");
3. updates conditionally (`UPDATE ... WHERE pk = ? AND status = <from>`), with any other
   fields that change with it (auto_now fields are stamped);
4. writes the app's event row through `record(obj, from, to)`;
5. runs `then(obj)`, what must follow in the same transaction (a ledger posting, a hook).

An illegal move raises `InvalidTransition` with `extra={"from": ..., "to": ...}`; with
`strict=False` it returns False instead and changes nothing (for idempotent callers such
as payment notifications, where "already there" is normal).

Set-based moves (commissions: a settlement batch moves up to 100,000 rows in one statement)
use `transition_set(queryset, to, table=...)`: one conditional UPDATE of the rows whose
status may reach `to` by the table (`transition_sources`); a raw SQL path takes its
allowed from-statuses from `transition_sources` too, so the table stays the one rule. Such
rows have no per-row event: their history is the ledger transaction the same database
transaction writes.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.db import models, transaction
from django.utils import timezone

from .errors import InvalidTransition

M = TypeVar("M", bound=models.Model)
Table = Mapping[str, frozenset[str]]


def transitions_check(table: Table, choices: type[models.TextChoices]) -> None:
    """Raise ValueError unless `table` names every status of `choices` exactly once, and
    only statuses of `choices` (called at import time next to each table)."""
    statuses = set(choices.values)
    if set(table) != statuses:
        raise ValueError(f"transition table keys {sorted(table)} != statuses {sorted(statuses)}")
    for src, targets in table.items():
        unknown = set(targets) - statuses
        if unknown:
            raise ValueError(f"transition table: {src} -> unknown {sorted(unknown)}")
        if src in targets:
            raise ValueError(f"transition table: {src} -> itself")


def transition(
    obj: M,
    to: str,
    *,
    table: Table,
    record: Callable[[M, str, str], Any] | None,
    fields: Mapping[str, Any] | None = None,
    then: Callable[[M], Any] | None = None,
    allow: Callable[[str, str], bool] | None = None,
    strict: bool = True,
    locked: bool = False,
    status_field: str = "status",
    what: str = "",
) -> bool:
    """Move `obj` to status `to` (see the module docstring). Returns True when it moved;
    False only with `strict=False` and a move the table (or `allow`) refuses. `obj` is
    updated in place: its status and `fields` are what the database now holds."""
    model = type(obj)
    manager = model._default_manager
    fields = dict(fields or {})
    with transaction.atomic():
        if locked:
            prev = getattr(obj, status_field)
        else:
            prev = manager.select_for_update().filter(pk=obj.pk).values_list(status_field, flat=True).get()
            setattr(obj, status_field, prev)
        if to not in table.get(prev, ()) or (allow is not None and not allow(prev, to)):
            if not strict:
                return False
            name = what or model._meta.verbose_name_raw  # English (the message is); verbose_name is translated
            article = "An" if name[:1].lower() in "aeiou" else "A"
            raise InvalidTransition(f"{article} {name} that is {prev} cannot become {to}.",
                                    extra={"from": prev, "to": to})
        for field in model._meta.concrete_fields:
            if getattr(field, "auto_now", False) and field.name not in fields:
                fields[field.name] = timezone.now()
        if not manager.filter(pk=obj.pk, **{status_field: prev}).update(**{status_field: to}, **fields):
            # Unreachable while the row is locked; kept so a caller that forgot the lock
            # (locked=True without holding it) cannot move a row that moved meanwhile.
            raise InvalidTransition(
                f"The {what or model._meta.verbose_name_raw} changed meanwhile; try again.",
                extra={"from": prev, "to": to},
            )
        setattr(obj, status_field, to)
        computed = [name for name, value in fields.items() if hasattr(value, "resolve_expression")]
        for name, value in fields.items():
            if name not in computed:
                setattr(obj, name, value)
        if computed:  # F() and the like: read back what the database made of them
            obj.refresh_from_db(fields=computed)
        if record is not None:
            record(obj, prev, to)
        if then is not None:
            then(obj)
    return True


def transition_sources(table: Table, to: str) -> frozenset[str]:
    """The statuses from which the table allows a move to `to`."""
    return frozenset(src for src, targets in table.items() if to in targets)


def transition_set(
    queryset: models.QuerySet, to: str, *, table: Table, fields: Mapping[str, Any] | None = None,
    status_field: str = "status",
) -> int:
    """Move every row of `queryset` whose status may reach `to` (by the table) in ONE
    conditional UPDATE; rows in any other status are left alone. Returns how many moved."""
    sources = transition_sources(table, to)
    if not sources:
        raise ValueError(f"no status may move to {to!r}")
    return queryset.filter(**{f"{status_field}__in": sorted(sources)}).update(**{status_field: to}, **(fields or {}))
