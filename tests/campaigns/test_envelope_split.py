"""The red-envelope split (campaigns/envelope_split.py): exact to the fen, within the bounds, and
fair by grab position — every position has the same distribution, which plain double-average
does not give (shown here too, so the statistical tests can fail).

No database: pure functions. The statistics are done by hand (no scipy in the venv): the
two-sample Kolmogorov–Smirnov statistic with its asymptotic p-value, and Pearson's chi-square
with the Wilson–Hilferty approximation of its tail. Every sample comes from random.Random with
a fixed seed, so each figure is the same on every run (docs/campaigns.md quotes them).
"""
from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections import Counter
from statistics import NormalDist

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.envelope_split import _double_average, best_luck_position, shares_split

SEED = 20240612
ENVELOPES = 20_000
POOL = 10_000  # 100 yuan
COUNT = 10
MAX_DEFAULT = 20_000  # the operator's default per-share maximum, 200 yuan: not binding here
MAX_BINDING = 1_500  # 15 yuan: below 2 × the average (20 yuan), so the bound cuts the draws
ALPHA = 0.01
FIRST, MIDDLE, LAST = 0, COUNT // 2, COUNT - 1


# ---- statistics -------------------------------------------------------------------------------

def ks_2samp(a: list[int], b: list[int]) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov: (D = sup |F_a − F_b|, asymptotic p-value).

    Ties (integer fen) are handled by stepping over each distinct value at once. With ties the
    asymptotic p-value is conservative (too large), i.e. it errs towards "same distribution"
    — which only makes the test that the unshuffled draw is rejected harder to pass.
    """
    a, b = sorted(a), sorted(b)
    n, m = len(a), len(b)
    i = j = 0
    d = 0.0
    while i < n and j < m:
        x = min(a[i], b[j])
        while i < n and a[i] == x:
            i += 1
        while j < m and b[j] == x:
            j += 1
        d = max(d, abs(i / n - j / m))
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d  # Stephens' small-sample correction (Numerical Recipes)
    if lam < 0.3:
        return d, 1.0
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return d, min(1.0, max(0.0, p))


def ks_critical(n: int, m: int, alpha: float = ALPHA) -> float:
    """The asymptotic critical value of D at level alpha: c(α) · √((n + m) / (n · m))."""
    return math.sqrt(-0.5 * math.log(alpha / 2)) * math.sqrt((n + m) / (n * m))


def chi2_sf(x: float, df: int) -> float:
    """P(χ²_df ≥ x) by Wilson–Hilferty (χ²/df)^(1/3) ≈ normal; good to ~1e-3 for df ≥ 5."""
    mu = 1 - 2 / (9 * df)
    sigma = math.sqrt(2 / (9 * df))
    return 1 - NormalDist().cdf(((x / df) ** (1 / 3) - mu) / sigma)


def chi2_uniform(counts: list[int]) -> tuple[float, int, float]:
    """Goodness of fit to equal frequencies: (statistic, df, p)."""
    total = sum(counts)
    expected = total / len(counts)
    stat = sum((c - expected) ** 2 / expected for c in counts)
    df = len(counts) - 1
    return stat, df, chi2_sf(stat, df)


def chi2_homogeneity(samples: list[list[int]], bins: int = 20) -> tuple[float, int, float]:
    """Do these samples (one per position) share one distribution? Binned at the pooled
    sample's quantiles (ties kept in one bin), Pearson's test of homogeneity: (statistic, df, p)."""
    pooled = sorted(x for s in samples for x in s)
    edges = sorted({pooled[len(pooled) * k // bins] for k in range(1, bins)})
    table = [[0] * (len(edges) + 1) for _ in samples]
    for row, sample in zip(table, samples, strict=True):
        for x in sample:
            row[bisect_right(edges, x)] += 1
    grand = sum(map(sum, table))
    col_totals = [sum(col) for col in zip(*table, strict=True)]
    stat = 0.0
    for row in table:
        row_total = sum(row)
        for observed, col_total in zip(row, col_totals, strict=True):
            expected = row_total * col_total / grand
            if expected:
                stat += (observed - expected) ** 2 / expected
    df = (len(samples) - 1) * (len([c for c in col_totals if c]) - 1)
    return stat, df, chi2_sf(stat, df)


def test_the_statistics_can_tell_distributions_apart():
    """The hand-made tests themselves: same source → not rejected; shifted source → rejected."""
    rng = random.Random(SEED)
    a = [rng.randint(1, 2000) for _ in range(5000)]
    b = [rng.randint(1, 2000) for _ in range(5000)]
    c = [rng.randint(1, 2100) for _ in range(5000)]
    assert ks_2samp(a, b)[1] > ALPHA and ks_2samp(a, b)[0] < ks_critical(5000, 5000)
    assert ks_2samp(a, c)[1] < ALPHA and ks_2samp(a, c)[0] > ks_critical(5000, 5000)
    assert chi2_homogeneity([a, b])[2] > ALPHA
    assert chi2_homogeneity([a, c])[2] < ALPHA
    assert chi2_uniform([1000] * 10)[2] > 0.99
    assert chi2_uniform([1000] * 9 + [1200])[2] < ALPHA
    # Wilson–Hilferty against table quantiles: χ²_9 (0.99) = 21.666, χ²_10 (0.95) = 18.307,
    # χ²_100 (0.99) = 135.807
    assert chi2_sf(21.666, 9) == pytest.approx(0.01, abs=0.001)
    assert chi2_sf(18.307, 10) == pytest.approx(0.05, abs=0.002)
    assert chi2_sf(135.807, 100) == pytest.approx(0.01, abs=0.0005)


# ---- samples (one per module: pure and deterministic) -----------------------------------------

def _envelopes(*, shuffled: bool, max_share_fen: int, seed: int = SEED) -> list[list[int]]:
    rng = random.Random(seed)
    if shuffled:
        return [shares_split(pool_fen=POOL, count=COUNT, mode="random", max_share_fen=max_share_fen, rng=rng)
                for _ in range(ENVELOPES)]
    return [_double_average(pool_fen=POOL, count=COUNT, max_share_fen=max_share_fen, min_share_fen=1, rng=rng)
            for _ in range(ENVELOPES)]


def _by_position(envelopes: list[list[int]]) -> list[list[int]]:
    return [list(column) for column in zip(*envelopes, strict=True)]


@pytest.fixture(scope="module")
def fair():
    return _by_position(_envelopes(shuffled=True, max_share_fen=MAX_DEFAULT))


@pytest.fixture(scope="module")
def unfair():
    return _by_position(_envelopes(shuffled=False, max_share_fen=MAX_DEFAULT))


@pytest.fixture(scope="module")
def fair_bounded():
    return _by_position(_envelopes(shuffled=True, max_share_fen=MAX_BINDING))


@pytest.fixture(scope="module")
def unfair_bounded():
    return _by_position(_envelopes(shuffled=False, max_share_fen=MAX_BINDING))


def _best_luck_counts(positions: list[list[int]]) -> list[int]:
    counts = Counter(best_luck_position(list(envelope)) for envelope in zip(*positions, strict=True))
    return [counts[p] for p in range(COUNT)]


# ---- fairness by position ---------------------------------------------------------------------

@pytest.mark.parametrize("left, right", [(FIRST, MIDDLE), (FIRST, LAST), (MIDDLE, LAST)])
def test_positions_have_the_same_distribution(fair, left, right):
    d, p = ks_2samp(fair[left], fair[right])
    assert d < ks_critical(ENVELOPES, ENVELOPES)
    assert p > ALPHA


def test_all_positions_binned_are_homogeneous(fair):
    stat, df, p = chi2_homogeneity(fair)
    assert p > ALPHA, (stat, df)


def test_every_position_averages_the_pool_over_count(fair):
    for column in fair:
        assert sum(column) / ENVELOPES == pytest.approx(POOL / COUNT, rel=0.02)


def test_plain_double_average_is_not_fair_by_position(unfair):
    """The same draw without the shuffle: the first share is uniform on [1, 2000], the last
    is the leftover, far more spread — KS rejects, though the means agree."""
    for left, right in [(FIRST, LAST), (MIDDLE, LAST), (FIRST, MIDDLE)]:
        d, p = ks_2samp(unfair[left], unfair[right])
        assert d > ks_critical(ENVELOPES, ENVELOPES)
        assert p < 1e-6
    assert chi2_homogeneity(unfair)[2] < 1e-6
    assert sum(unfair[FIRST]) / ENVELOPES == pytest.approx(sum(unfair[LAST]) / ENVELOPES, rel=0.05)
    assert max(unfair[FIRST]) <= 2 * POOL // COUNT < max(unfair[LAST])


def test_best_luck_is_uniform_over_positions(fair):
    stat, df, p = chi2_uniform(_best_luck_counts(fair))
    assert p > ALPHA, (stat, df)


def test_best_luck_without_the_shuffle_favours_the_last_two(unfair):
    """Unshuffled, the last two shares (the second-last is uniform on what is left, the last
    is the rest) are the widest and win best luck most often."""
    counts = _best_luck_counts(unfair)
    assert chi2_uniform(counts)[2] < 1e-6
    assert max(counts[-2:]) == max(counts)
    assert sum(counts[-2:]) > 1.1 * sum(counts[:2])


def test_ties_at_a_binding_maximum_favour_early_best_luck(fair_bounded):
    """A known limit of the earliest-wins tie rule (docs/campaigns.md): when max binds, many
    envelopes have two or more shares at exactly max, and the earliest of them gets best luck,
    so best luck leans to early positions although the shares themselves are fair."""
    envelopes = list(zip(*fair_bounded, strict=True))
    tied = sum(1 for e in envelopes if e.count(max(e)) > 1)
    assert tied > ENVELOPES // 20
    counts = _best_luck_counts(fair_bounded)
    assert chi2_uniform(counts)[2] < ALPHA
    assert sum(counts[:3]) > sum(counts[-3:])
    untied = Counter(best_luck_position(list(e)) for e in envelopes if e.count(max(e)) == 1)
    assert chi2_uniform([untied[p] for p in range(COUNT)])[2] > ALPHA


def test_a_binding_maximum_keeps_positions_fair(fair_bounded, unfair_bounded):
    """max 15 yuan < 2 × the 10-yuan average: the draws are cut at max and the tail piles up on
    max, but the shuffle still makes every position alike; unshuffled, the later shares are
    forced up to max far more often."""
    for left, right in [(FIRST, MIDDLE), (FIRST, LAST), (MIDDLE, LAST)]:
        d, p = ks_2samp(fair_bounded[left], fair_bounded[right])
        assert d < ks_critical(ENVELOPES, ENVELOPES) and p > ALPHA
    assert chi2_homogeneity(fair_bounded)[2] > ALPHA
    assert all(max(column) <= MAX_BINDING for column in fair_bounded)
    d, p = ks_2samp(unfair_bounded[FIRST], unfair_bounded[LAST])
    assert d > ks_critical(ENVELOPES, ENVELOPES) and p < 1e-6
    # unshuffled, the bound even breaks equal means: early draws are uniform on [1, max], below
    # the average, so the money piles up for the last grabbers
    assert sum(unfair_bounded[LAST]) > 1.5 * sum(unfair_bounded[FIRST])
    at_max_first = unfair_bounded[FIRST].count(MAX_BINDING)
    at_max_last = unfair_bounded[LAST].count(MAX_BINDING)
    assert at_max_last > 3 * at_max_first


def test_equal_mode_spreads_the_remainder_uniformly():
    rng = random.Random(SEED)
    extra = Counter()
    for _ in range(ENVELOPES):
        shares = shares_split(pool_fen=10_003, count=COUNT, mode="equal", max_share_fen=MAX_DEFAULT, rng=rng)
        assert sorted(shares) == [1000] * 7 + [1001] * 3
        extra.update(p for p, s in enumerate(shares) if s == 1001)
    stat, df, p = chi2_uniform([extra[p] for p in range(COUNT)])
    assert p > ALPHA, (stat, df)


def test_best_luck_position_takes_the_earliest_of_a_tie():
    assert best_luck_position([5, 9, 3, 9]) == 1
    assert best_luck_position([7]) == 0
    assert best_luck_position([1, 1, 1]) == 0
    assert best_luck_position([1, 2, 3]) == 2
    with pytest.raises(ValueError):
        best_luck_position([])


def test_production_randomness_is_the_system_csprng(monkeypatch):
    import secrets

    from campaigns import envelope_split

    assert isinstance(envelope_split._system_rng, secrets.SystemRandom)
    calls = []

    class Spy(random.Random):
        def randint(self, a, b):
            calls.append((a, b))
            return super().randint(a, b)

    monkeypatch.setattr(envelope_split, "_system_rng", Spy(1))
    shares = shares_split(pool_fen=1000, count=5, mode="random", max_share_fen=1000)
    assert sum(shares) == 1000 and len(calls) == 4


# ---- properties -------------------------------------------------------------------------------

@st.composite
def valid_input(draw):
    count = draw(st.integers(min_value=1, max_value=120))
    min_share = draw(st.integers(min_value=1, max_value=500))
    max_share = draw(st.one_of(st.just(min_share), st.integers(min_value=min_share, max_value=min_share + 50_000)))
    pool = draw(st.one_of(st.sampled_from([count * min_share, count * max_share]),
                          st.integers(min_value=count * min_share, max_value=count * max_share)))
    mode = draw(st.sampled_from(["equal", "random"]))
    seed = draw(st.integers(min_value=0, max_value=2**32))
    return pool, count, max_share, min_share, mode, seed


@given(valid_input())
@settings(max_examples=600, deadline=None)
def test_shares_are_exact_and_within_bounds(case):
    pool, count, max_share, min_share, mode, seed = case
    shares = shares_split(pool_fen=pool, count=count, mode=mode, max_share_fen=max_share,
                          min_share_fen=min_share, rng=random.Random(seed))
    assert len(shares) == count
    assert sum(shares) == pool
    assert all(type(s) is int and min_share <= s <= max_share for s in shares)
    if mode == "equal":
        assert max(shares) - min(shares) <= 1
    assert 0 <= best_luck_position(shares) < count
    assert shares[best_luck_position(shares)] == max(shares)


@given(valid_input())
@settings(max_examples=300, deadline=None)
def test_the_unshuffled_draw_is_exact_and_within_bounds_too(case):
    pool, count, max_share, min_share, _mode, seed = case
    shares = _double_average(pool_fen=pool, count=count, max_share_fen=max_share, min_share_fen=min_share,
                             rng=random.Random(seed))
    assert len(shares) == count and sum(shares) == pool
    assert all(min_share <= s <= max_share for s in shares)


@given(count=st.integers(min_value=-5, max_value=50), min_share=st.integers(min_value=-3, max_value=100),
       max_share=st.integers(min_value=-3, max_value=1000), pool=st.integers(min_value=-10, max_value=60_000),
       mode=st.sampled_from(["equal", "random"]))
@settings(max_examples=600, deadline=None)
def test_impossible_numbers_are_refused(count, min_share, max_share, pool, mode):
    feasible = count >= 1 and 1 <= min_share <= max_share and count * min_share <= pool <= count * max_share
    if feasible:
        assert sum(shares_split(pool_fen=pool, count=count, mode=mode, max_share_fen=max_share,
                                min_share_fen=min_share, rng=random.Random(0))) == pool
    else:
        with pytest.raises(ValueError):
            shares_split(pool_fen=pool, count=count, mode=mode, max_share_fen=max_share, min_share_fen=min_share,
                         rng=random.Random(0))


NOT_INTS = [True, False, 10.0, 10.5, "10", None, 1j]


@pytest.mark.parametrize("field", ["pool_fen", "count", "max_share_fen", "min_share_fen"])
@pytest.mark.parametrize("bad", NOT_INTS)
def test_non_integers_and_bools_are_refused(field, bad):
    kwargs = {"pool_fen": 100, "count": 1, "mode": "random", "max_share_fen": 100, "min_share_fen": 1}
    kwargs[field] = bad
    with pytest.raises(ValueError):
        shares_split(**kwargs, rng=random.Random(0))


@pytest.mark.parametrize("mode", ["", "Random", "fair", None, 1, ["random"]])
def test_unknown_modes_are_refused(mode):
    with pytest.raises(ValueError):
        shares_split(pool_fen=100, count=2, mode=mode, max_share_fen=100, rng=random.Random(0))


@pytest.mark.parametrize("kwargs", [
    {"pool_fen": 100, "count": 0, "max_share_fen": 100},  # count 0
    {"pool_fen": 9, "count": 10, "max_share_fen": 100},  # less than a fen each
    {"pool_fen": 1001, "count": 10, "max_share_fen": 100},  # more than max each
    {"pool_fen": 100, "count": 10, "max_share_fen": 100, "min_share_fen": 0},  # zero shares
    {"pool_fen": 100, "count": 10, "max_share_fen": 5, "min_share_fen": 6},  # max < min
])
def test_the_issues_bad_inputs_are_refused(kwargs):
    for mode in ("equal", "random"):
        with pytest.raises(ValueError):
            shares_split(**kwargs, mode=mode, rng=random.Random(0))


def test_the_edges_are_deterministic():
    rng = random.Random(SEED)
    assert shares_split(pool_fen=1000, count=10, mode="random", max_share_fen=100, rng=rng) == [100] * 10
    assert shares_split(pool_fen=10, count=10, mode="random", max_share_fen=100, rng=rng) == [1] * 10
    assert shares_split(pool_fen=777, count=1, mode="random", max_share_fen=777, rng=rng) == [777]
    assert shares_split(pool_fen=20, count=10, mode="random", max_share_fen=2, min_share_fen=2, rng=rng) == [2] * 10
