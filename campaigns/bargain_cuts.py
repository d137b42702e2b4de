"""The cut plan of a bargain (砍价): pure functions, no database.

``cuts_plan(total_fen=start − floor, helps=helps_needed)`` returns ``helps`` integer cuts in
fen, in help order (position 0 is the first friend's cut), each at least 1 fen, summing
exactly to ``total_fen``. The plan is drawn once, when the bargain starts, and stored on it;
a help takes the cut of the position it claims, so the price after the last planned help is
exactly the floor and can never go below it (no overshoot, whatever the concurrency).

The algorithm: a front-loaded, bounded schedule with random jitter (big cuts first, the
classic bargain feel, but never "the last fen takes a hundred friends").

1. Every cut gets 1 fen; ``spare = total_fen − helps`` fen remain (≥ 0).
2. Position ``i`` gets the weight ``w_i = d_i × u_i``: ``d_i = DECAY_RATIO ** (−i / (helps − 1))``
   falls geometrically from 1 at the first position to 1 / DECAY_RATIO at the last (so the
   expected first cut is about DECAY_RATIO = 10 times the last, whatever the number of helps),
   and ``u_i`` is an independent integer jitter drawn uniformly from [JITTER_LOW, JITTER_HIGH]
   (0.5 to 1.5 times, in thousandths). The weights are turned into integers (``d_i`` scaled by
   10^9 and rounded) before any money is computed: the split below is exact integer arithmetic.
3. ``spare`` is apportioned by the largest-remainder method: position ``i`` gets
   ``floor(spare × w_i / W)`` (W = Σ w), and the fen left over (fewer than ``helps``) go one
   each to the positions with the largest remainders ``spare × w_i mod W`` (ties: the earlier
   position). The sum is therefore exactly ``spare``; each cut is 1 + its part.

What "fair" means here. The schedule is deliberately not exchangeable: the first friends cut
more than the last ones (that is the point of front-loading, and the page says so). Fair means:
* the cut depends only on the position a help claims, never on who the helper is: every helper
  who lands at position ``i`` draws from the same distribution (the plans of different bargains
  are independent draws of one law; the tests compare per-position means of disjoint streams);
* no cut is below 1 fen and none is above ``cut_bound(total_fen, helps, i)`` (the jitter at its
  top for ``i``, at its bottom everywhere else);
* the cuts sum exactly to ``total_fen``: the last planned help lands on the floor, none past it.

Randomness: ``secrets.SystemRandom()`` (the OS CSPRNG) unless the caller passes an ``rng``
(tests pass ``random.Random(seed)``).
"""
from __future__ import annotations

import random
import secrets

MAX_HELPS = 500
MAX_TOTAL_FEN = 10**10  # 100 million yuan: far above any bargain; bigger is a typo
DECAY_RATIO = 10
JITTER_LOW = 500
JITTER_HIGH = 1500
_SCALE = 10**9

_system_rng = secrets.SystemRandom()


def _check_int(name: str, value: object) -> int:
    # bool is an int subclass: True would quietly mean one fen / one help
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}.")
    return value


def _validate(*, total_fen: object, helps: object) -> tuple[int, int]:
    total_fen = _check_int("total_fen", total_fen)
    helps = _check_int("helps", helps)
    if not 1 <= helps <= MAX_HELPS:
        raise ValueError(f"helps must be from 1 to {MAX_HELPS}.")
    if total_fen < helps:
        raise ValueError(f"{total_fen} fen cannot be cut in {helps} cuts of at least 1 fen.")
    if total_fen > MAX_TOTAL_FEN:
        raise ValueError(f"total_fen must be at most {MAX_TOTAL_FEN}.")
    return total_fen, helps


def decay_weights(helps: int) -> list[int]:
    """The integer schedule d_i × 10^9 (before the jitter), position 0 first."""
    if helps == 1:
        return [_SCALE]
    return [round(_SCALE * DECAY_RATIO ** (-i / (helps - 1))) for i in range(helps)]


def _apportion(spare: int, weights: list[int]) -> list[int]:
    """Largest remainder: integer parts summing exactly to `spare`, proportional to `weights`."""
    total_weight = sum(weights)
    parts = [spare * w // total_weight for w in weights]
    left = spare - sum(parts)  # 0 ≤ left < len(weights)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(spare * weights[i] % total_weight), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts


def cuts_plan(*, total_fen: int, helps: int, rng: random.Random | None = None) -> list[int]:
    """``helps`` cuts in fen, position 0 first, each ≥ 1, summing exactly to ``total_fen``.

    Raises ValueError for ill-typed or impossible input (a bool or non-int number, helps
    outside 1..MAX_HELPS, total_fen < helps, total_fen > MAX_TOTAL_FEN)."""
    total_fen, helps = _validate(total_fen=total_fen, helps=helps)
    rng = _system_rng if rng is None else rng
    weights = [d * rng.randint(JITTER_LOW, JITTER_HIGH) for d in decay_weights(helps)]
    return [1 + part for part in _apportion(total_fen - helps, weights)]


def cut_bound(*, total_fen: int, helps: int, position: int) -> int:
    """The largest cut `cuts_plan` can ever give at `position`: 1 fen, plus the spare share of
    the weight with the jitter at its top there and at its bottom elsewhere, plus the one fen
    of the largest-remainder step."""
    total_fen, helps = _validate(total_fen=total_fen, helps=helps)
    if not 0 <= position < helps:
        raise ValueError("position out of range.")
    d = decay_weights(helps)
    top = d[position] * JITTER_HIGH
    rest = sum(d) - d[position]
    weight_sum = top + rest * JITTER_LOW
    return 1 + (total_fen - helps) * top // weight_sum + 1
