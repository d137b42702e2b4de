"""The hooks distributors offers to higher apps (commissions, campaigns), which register in
their AppConfig.ready() — distributors never imports them.

* `distributors.share_target` (keyed by TargetType, one resolver each): what a share link can
  point at. `register_share_target(target_type, resolver, *, with_distributor=False)`;
  `resolver(target_id)` (or `resolver(target_id, distributor=...)` with `with_distributor`,
  for pages that depend on who shares them, like the recruitment invite) returns
  {"title", "image_url", "price_fen", "path"} or raises core.errors.NotFound. Called outside
  any transaction of ours, when a link is created, its poster drawn or its entry loaded.
  Distributors registers its own (product, store, recruit) in DistributorsConfig.ready();
  campaigns registers crowdfund and red_envelope:

      from distributors.hooks import register_share_target
      register_share_target("crowdfund", crowdfund_share_target)

* `distributors.commission_totals` (one provider): the commission figures on a
  distributor's stats page. `register_commission_totals(fn)`; `fn(*, distributor_id: int,
  day_from: date, day_to: date)` returns {"pending_fen", "frozen_fen", "settled_fen",
  "reversed_fen"} (integer fen) for the commissions accrued on those days (inclusive). Read
  by distributors.selectors.stats (no transaction; a read). Commissions registers it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.hooks import Hook

from .models import TargetType

share_target = Hook(
    "distributors.share_target", keyed=True, single=True,
    doc="What a share link can point at, keyed by target type; resolver(target_id[, distributor=]) -> "
        "{title, image_url, price_fen, path} or NotFound; outside any transaction.",
)
commission_totals = Hook(
    "distributors.commission_totals", single=True,
    doc="A distributor's commission figures for a day range; fn(*, distributor_id, day_from, day_to) -> "
        "{pending_fen, frozen_fen, settled_fen, reversed_fen}; a read, no transaction.",
)


@dataclass(frozen=True)
class ShareTargetResolver:
    """A registered resolver, called uniformly as `resolver(target_id, distributor)`."""

    fn: Callable[..., dict[str, Any]]
    with_distributor: bool = False

    def __call__(self, target_id: int, distributor=None) -> dict[str, Any]:
        if self.with_distributor:
            return self.fn(target_id, distributor=distributor)
        return self.fn(target_id)


def register_share_target(target_type: str, resolver: Callable[..., dict[str, Any]], *,
                          with_distributor: bool = False) -> Callable[..., dict[str, Any]]:
    """Register `resolver` for `target_type` (one of TargetType; replaces an earlier one)."""
    if target_type not in TargetType.values:
        raise ValueError(f"unknown target type {target_type!r}")
    share_target.register(ShareTargetResolver(resolver, with_distributor), key=target_type)
    return resolver


def unregister_share_target(target_type: str) -> None:
    share_target.unregister(key=target_type)


def register_commission_totals(fn: Callable[..., dict[str, int]]) -> None:
    commission_totals.register(fn)


def unregister_commission_totals(fn: Callable[..., dict[str, int]] | None = None) -> None:
    commission_totals.unregister(fn)
