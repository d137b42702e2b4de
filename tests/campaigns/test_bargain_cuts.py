"""campaigns/bargain_cuts.py: the cut plan of a bargain (pure; no database)."""
from __future__ import annotations

import bisect
import random
import statistics
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.bargain_cuts import (
    DECAY_RATIO,
    JITTER_HIGH,
    JITTER_LOW,
    MAX_HELPS,
    MAX_TOTAL_FEN,
    _apportion,
    cut_bound,
    cuts_plan,
    decay_weights,
)


@st.composite
def plans(draw):
    helps = draw(st.integers(min_value=1, max_value=MAX_HELPS))
    total = draw(st.one_of(st.integers(min_value=helps, max_value=helps + 50),
                           st.integers(min_value=helps, max_value=MAX_TOTAL_FEN)))
    seed = draw(st.integers(min_value=0, max_value=2**32))
    return total, helps, seed


@settings(max_examples=300, deadline=None)
@given(plans())
def test_the_cuts_sum_exactly_each_at_least_one_fen_within_the_bound(plan):
    total, helps, seed = plan
    cuts = cuts_plan(total_fen=total, helps=helps, rng=random.Random(seed))
    assert len(cuts) == helps
    assert sum(cuts) == total
    assert all(type(c) is int and c >= 1 for c in cuts)
    assert all(c <= cut_bound(total_fen=total, helps=helps, position=i) for i, c in enumerate(cuts))


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=MAX_HELPS))
def test_the_smallest_total_is_one_fen_per_help(helps):
    assert cuts_plan(total_fen=helps, helps=helps, rng=random.Random(helps)) == [1] * helps


def test_the_system_rng_is_used_by_default_and_draws_differ():
    a = cuts_plan(total_fen=100_000, helps=20)
    b = cuts_plan(total_fen=100_000, helps=20)
    assert sum(a) == sum(b) == 100_000 and a != b


def test_a_seeded_rng_makes_the_plan_reproducible():
    assert cuts_plan(total_fen=9_999, helps=7, rng=random.Random(5)) == cuts_plan(
        total_fen=9_999, helps=7, rng=random.Random(5))


def _means(seed: int, runs: int, *, total: int, helps: int) -> tuple[list[float], list[list[int]]]:
    rng = random.Random(seed)
    draws = [cuts_plan(total_fen=total, helps=helps, rng=rng) for _ in range(runs)]
    return [statistics.fmean(d[i] for d in draws) for i in range(helps)], draws


def test_front_loaded_every_position_has_one_law_whoever_lands_there():
    total, helps, runs = 10_000, 8, 3_000
    means_a, draws_a = _means(1, runs, total=total, helps=helps)
    means_b, draws_b = _means(2, runs, total=total, helps=helps)
    # big cuts first: the mean falls position by position, first ≈ DECAY_RATIO × last
    assert all(means_a[i] > means_a[i + 1] for i in range(helps - 1))
    assert DECAY_RATIO / 2 < means_a[0] / means_a[-1] < DECAY_RATIO * 2
    assert sum(means_a) == pytest.approx(total)
    # two disjoint streams (two sets of bargains, two sets of friends): the same law per position,
    # the means agree within 4 standard errors
    for i in range(helps):
        sd = statistics.pstdev([d[i] for d in draws_a] + [d[i] for d in draws_b])
        se = sd * (2 / runs) ** 0.5
        assert abs(means_a[i] - means_b[i]) < 4 * se + 1, (i, means_a[i], means_b[i])


def test_chi_square_of_the_first_cut_against_its_exact_law():
    """With 2 helps the plan depends on the two jitters only (1001 × 1001 equally likely pairs):
    the exact law of the first cut is enumerated from the module's own steps, cut in 10 bins of
    about equal probability, and 5,000 seeded draws are compared with it: the chi-square (9
    degrees of freedom) stays below its 0.1% critical value 27.9. A biased or stuck jitter,
    or a draw that ignored it, would be far above."""
    total, helps = 1_000_000, 2
    d = decay_weights(helps)
    law = Counter(1 + _apportion(total - helps, [d[0] * u0, d[1] * u1])[0]
                  for u0 in range(JITTER_LOW, JITTER_HIGH + 1) for u1 in range(JITTER_LOW, JITTER_HIGH + 1))
    pairs = sum(law.values())
    edges, acc = [], 0
    for value in sorted(law):
        acc += law[value]
        if acc >= pairs * (len(edges) + 1) / 10 and len(edges) < 9:
            edges.append(value)  # bin k holds the values ≤ edges[k]
    probability = [0.0] * 10
    for value, n in law.items():
        probability[bisect.bisect_left(edges, value)] += n / pairs
    rng = random.Random(3)
    draws = 5_000
    counts = [0] * 10
    for _ in range(draws):
        counts[bisect.bisect_left(edges, cuts_plan(total_fen=total, helps=helps, rng=rng)[0])] += 1
    chi2 = sum((c - draws * p) ** 2 / (draws * p) for c, p in zip(counts, probability, strict=True))
    assert chi2 < 27.9, (counts, probability)


@pytest.mark.parametrize("kwargs", [
    {"total_fen": True, "helps": 1},
    {"total_fen": 10, "helps": True},
    {"total_fen": 10.0, "helps": 2},
    {"total_fen": "10", "helps": 2},
    {"total_fen": 10, "helps": None},
    {"total_fen": -5, "helps": 1},
    {"total_fen": 10, "helps": 0},
    {"total_fen": 10, "helps": -1},
    {"total_fen": 4, "helps": 5},
    {"total_fen": 10_000, "helps": MAX_HELPS + 1},
    {"total_fen": MAX_TOTAL_FEN + 1, "helps": 5},
    {"total_fen": 10**30, "helps": 5},
])
def test_bad_input_is_a_value_error(kwargs):
    with pytest.raises(ValueError):
        cuts_plan(**kwargs, rng=random.Random(0))


def test_cut_bound_refuses_a_position_outside_the_plan():
    with pytest.raises(ValueError):
        cut_bound(total_fen=100, helps=5, position=5)
    assert cut_bound(total_fen=100, helps=1, position=0) == 101  # 1 + spare + the remainder fen (loose by 1)
