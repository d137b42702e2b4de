"""Splitting a red envelope (红包) into shares: pure functions, no database.

``shares_split`` returns the shares in grab order (position 0 goes to the first grabber),
integer fen, summing exactly to the pool, each within [min_share_fen, max_share_fen].

* ``equal``: ``pool // count`` each; the ``pool % count`` remaining fen go one each to
  positions drawn uniformly at random (so no position is favoured, and shares differ by at
  most one fen).
* ``random`` (拼手气): WeChat's double-average draw, then a uniform shuffle. The draw alone
  gives every position the same mean but not the same distribution (the first share is
  uniform on [min, 2 × average]; later ones see more variance and win "best luck" more
  often). Storing the drawn shares in a uniformly random order (Fisher–Yates, same rng)
  makes the shares exchangeable: every grab position has exactly the same distribution,
  whatever the bounds. docs/campaigns.md, "Splitting an envelope fairly".

Randomness: ``secrets.SystemRandom()`` (the OS CSPRNG) unless the caller passes an ``rng``
(tests pass ``random.Random(seed)``).
"""
from __future__ import annotations

import random
import secrets

MODES = ("equal", "random")

_system_rng = secrets.SystemRandom()


def _check_int(name: str, value: object) -> int:
    # bool is an int subclass: True would quietly mean one fen / one share
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}.")
    return value


def _validate(*, pool_fen: object, count: object, mode: object, max_share_fen: object,
              min_share_fen: object) -> None:
    pool_fen = _check_int("pool_fen", pool_fen)
    count = _check_int("count", count)
    max_share_fen = _check_int("max_share_fen", max_share_fen)
    min_share_fen = _check_int("min_share_fen", min_share_fen)
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
    if count < 1:
        raise ValueError("count must be at least 1.")
    if min_share_fen < 1:
        raise ValueError("min_share_fen must be at least 1 fen.")
    if max_share_fen < min_share_fen:
        raise ValueError("max_share_fen must not be below min_share_fen.")
    if pool_fen < count * min_share_fen:
        raise ValueError(f"A pool of {pool_fen} fen cannot give {count} shares of at least {min_share_fen} fen.")
    if pool_fen > count * max_share_fen:
        raise ValueError(f"A pool of {pool_fen} fen cannot fit in {count} shares of at most {max_share_fen} fen.")


def _double_average(*, pool_fen: int, count: int, max_share_fen: int, min_share_fen: int,
                    rng: random.Random) -> list[int]:
    """WeChat's double-average draw, in draw order (NOT fair by position; see shares_split).

    With ``remaining`` fen for ``n`` shares left, the next share is uniform on the integers of
    [min, 2 × remaining // n] intersected with what keeps the rest feasible:
    at least ``remaining - (n - 1) × max`` (the others cannot take more than max each) and at
    most ``remaining - (n - 1) × min`` (each other needs min), and never above max. The
    intersection is never empty while min × n ≤ remaining ≤ max × n, and that invariant holds
    after every draw, so the last share (the remainder) is within the bounds too. The caller
    validates the input.
    """
    shares: list[int] = []
    remaining = pool_fen
    for n in range(count, 1, -1):
        low = max(min_share_fen, remaining - (n - 1) * max_share_fen)
        high = min(max_share_fen, remaining - (n - 1) * min_share_fen, 2 * remaining // n)
        share = rng.randint(low, high)
        shares.append(share)
        remaining -= share
    shares.append(remaining)
    return shares


def _shuffle(values: list[int], rng: random.Random) -> None:
    """Fisher–Yates in place: every one of the n! orders equally likely (given a fair rng)."""
    for i in range(len(values) - 1, 0, -1):
        j = rng.randrange(i + 1)
        values[i], values[j] = values[j], values[i]


def _equal(*, pool_fen: int, count: int, rng: random.Random) -> list[int]:
    base, extra = divmod(pool_fen, count)
    shares = [base] * count
    for position in rng.sample(range(count), extra):
        shares[position] += 1
    return shares


def shares_split(*, pool_fen: int, count: int, mode: str, max_share_fen: int, min_share_fen: int = 1,
                 rng: random.Random | None = None) -> list[int]:
    """``count`` shares in fen, in grab order, summing to ``pool_fen``, each within the bounds.

    Raises ValueError for impossible or ill-typed input (count < 1, min < 1, max < min,
    pool < count × min, pool > count × max, a non-int or bool number, an unknown mode).
    """
    _validate(pool_fen=pool_fen, count=count, mode=mode, max_share_fen=max_share_fen,
              min_share_fen=min_share_fen)
    rng = _system_rng if rng is None else rng
    if mode == "equal":
        # base ≥ min because pool ≥ count × min; base + 1 ≤ max when there is a remainder,
        # because then count × base < pool ≤ count × max.
        return _equal(pool_fen=pool_fen, count=count, rng=rng)
    shares = _double_average(pool_fen=pool_fen, count=count, max_share_fen=max_share_fen,
                             min_share_fen=min_share_fen, rng=rng)
    _shuffle(shares, rng)
    return shares


def best_luck_position(shares: list[int]) -> int:
    """The position (grab order, 0-based) of the largest share; on a tie, the earliest."""
    if not shares:
        raise ValueError("No shares.")
    best = 0
    for position, share in enumerate(shares):
        if share > shares[best]:
            best = position
    return best
