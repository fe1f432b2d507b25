"""The fast statistics against the slow ones they replace, on seeded random inputs.

* ``WalshAverages`` (interpolated passes, one sort) against full enumeration and against the
  previous bisection-style selection (``stats_reference``), with ties, extremes, any guesses;
* ``wilcoxon_p``'s normal approximation from one sorted array against
  ``scipy.stats.wilcoxon`` (ties, zeros, one-signed samples);
* ``paired_shift_tests`` (one sort per candidate run for all its pairs) against
  ``paired_shift_test`` per pair and against the previous implementation;
* ``grouped_bootstrap_quantile_ratios`` (each run sorted once, int32 window) against the
  previous weighted quantiles, and the exact per-request bootstrap as before.

The selection's cost is asserted as a count of passes (deterministic), never as a time.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import stats_reference as old
from scipy import stats as sps

from gate import stats
from gate.judge import live_ab
from gate.stats import bootstrap, walsh, weighted


def brute(x: np.ndarray) -> np.ndarray:
    xs = np.sort(x)
    i, j = np.triu_indices(xs.size)
    return np.sort((xs[i] + xs[j]) / 2.0)


def samples(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Continuous, heavy-tailed, whole-microsecond log ratios (ties), a few distinct values
    (massive ties), a constant offset far from zero, and one-signed data."""
    a = np.round(500 * np.exp(rng.normal(0, 0.3, n)))
    b = np.round(500 * np.exp(rng.normal(0, 0.3, n)))
    return [
        rng.normal(0.01, 0.2, n) + (rng.random(n) < 0.02) * rng.exponential(1.0, n),
        rng.standard_t(2, n),
        np.log(a / b),
        rng.integers(-3, 4, n) * 0.25,
        1000.0 + rng.laplace(0.0, 0.01, n),
        np.abs(rng.normal(0, 1, n)) + 0.5,
    ]


@pytest.mark.parametrize("n", [1600, 2300, 3100])
def test_selection_equals_enumeration(n: int) -> None:
    rng = np.random.default_rng(n)
    for x in samples(rng, n):
        w = brute(x)
        m = w.size
        ks = [1, 2, m // 3, m // 2, m // 2 + 1, m - 1, m, *rng.integers(1, m + 1, 12)]
        got = stats.WalshAverages(x).select(ks)
        assert got == [w[k - 1] for k in ks]
        xs = np.sort(x)
        for v in (float(w[m // 2]), float(w[0]) - 1.0, float(np.median(x)) + 1e-9, 1e300):
            # counted as x_j <= 2v - x_i, like the previous implementation (the float average
            # (x_i + x_j)/2 <= v can differ at the last bit)
            sel = stats.WalshAverages(x)
            assert sel.count_le(v) == old._walsh_count_le(xs, v)
            assert sel.count_lt(v) == old._walsh_count_lt(xs, v)
            assert abs(sel.count_le(v) - int(np.sum(w <= v))) <= 2


@pytest.mark.parametrize("guess", ["previous", "far", "absurd"])
def test_guesses_change_the_work_not_the_result(guess: str) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 0.2, 3000)
    w = brute(x)
    m = w.size
    ks = [(m + 1) // 2, m // 2 + 1, 100_000, m - 100_000]
    hint = {
        "previous": [w[k - 1] * 1.001 for k in ks],
        "far": [5.0, -5.0, 0.0, 1e-12],
        "absurd": [1e300, -1e300, math.nan, math.inf],
    }[guess]
    assert stats.WalshAverages(x).select(ks, hint) == [w[k - 1] for k in ks]


@pytest.mark.parametrize("seed", [1, 2])
def test_selection_equals_previous_implementation_at_large_n(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 120_000
    for x in samples(rng, n)[:4]:
        xs = np.sort(x)
        m = n * (n + 1) // 2
        k = stats.signed_rank_critical(n, 0.05)
        ks = [k + 1, m // 2, m // 2 + 1, m - k, int(rng.integers(1, m))]
        assert stats.WalshAverages(xs, is_sorted=True).select(ks) == [
            old._walsh_select(xs, kk) for kk in ks
        ]
        assert stats.hodges_lehmann(x) == old.hodges_lehmann(x)


def test_selection_takes_few_passes() -> None:
    """The point of the rewrite: a handful of passes where bisection took ~17 per value."""
    rng = np.random.default_rng(8)
    n = 200_000
    for x in samples(rng, n)[:3]:
        sel = stats.WalshAverages(x)
        m = sel.m
        k = stats.signed_rank_critical(n, 0.05)
        sel.select([(m + 1) // 2, m // 2 + 1, k + 1, m - k])  # HL and its CI: 3 locations
        assert sel.passes <= 10
        one = stats.WalshAverages(x)
        one.select([(m + 1) // 2, m // 2 + 1])
        assert one.passes <= 5


def test_warm_start_from_a_shorter_prefix_is_cheaper_and_equal() -> None:
    """A sequential look: the previous look's values start the search."""
    rng = np.random.default_rng(9)
    r = rng.normal(0.03, 0.2, 220_000)
    first = stats.paired_shift_test(r[:200_000], 0.0488, 0.05, "greater")
    cold = stats.paired_shift_test(r, 0.0488, 0.05, "greater")
    warm = stats.paired_shift_test(r, 0.0488, 0.05, "greater", previous=first)
    assert warm == cold


# --------------------------------------------------------------------------------------
# Wilcoxon
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [51, 64, 300, 2500, 40_000])
@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_wilcoxon_equals_scipy(n: int, alternative: stats.Alternative) -> None:
    rng = np.random.default_rng(n)
    cases = samples(rng, n)
    cases += [
        np.where(rng.random(n) < 0.3, 0.0, rng.normal(0.1, 1, n)),  # many zeros
        np.round(rng.normal(0, 1, n), 1),  # ties, zeros, values equal in |d| across signs
        -np.abs(rng.normal(0, 1, n)),  # one-signed
        np.concatenate([[0.0] * (n - 3), [1.0, -1.0, 2.0]]),  # nearly all zero
    ]
    for d in cases:
        want = sps.wilcoxon(d, alternative=alternative, zero_method="wilcox").pvalue
        got = stats.wilcoxon_p(d, alternative)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-300), d[:5]
        assert stats.wilcoxon_p(np.sort(d), alternative, is_sorted=True) == got


# --------------------------------------------------------------------------------------
# Paired shift tests, K x M
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [60, 900, 4000])
@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_grid_equals_pair_by_pair(n: int, alternative: stats.Alternative) -> None:
    rng = np.random.default_rng(n + 1)
    payload = rng.normal(0, 0.3, n)
    runs = [payload + rng.normal(lvl, 0.15, n) for lvl in (0.0, 0.02, -0.03, 0.05, 0.06)]
    if n == 900:
        runs = [np.log(np.round(500 * np.exp(r))) for r in runs]  # whole µs: ties
    base, cand = runs[:3], runs[3:]
    margin = math.log1p(0.05)
    grid = stats.paired_shift_tests(cand, base, margin, 0.05, alternative)
    for c, row in zip(cand, grid, strict=True):
        for b, t in zip(base, row, strict=True):
            assert t == stats.paired_shift_test(c - b, margin, 0.05, alternative)
            if n > 1500:  # the previous implementation's large-n path
                est, lo, hi, p = old.shift_test(c - b, margin, 0.05, alternative)
                assert (t.estimate, t.ci_low, t.ci_high) == (est, lo, hi)
                assert t.p_value == pytest.approx(p, rel=1e-9, abs=1e-300)


# --------------------------------------------------------------------------------------
# Tails
# --------------------------------------------------------------------------------------


def test_weighted_quantiles_equal_previous_implementation() -> None:
    rng = np.random.default_rng(12)
    for n, g in ((9000, 7), (60_000, 30)):
        x = np.round(rng.lognormal(6, 0.4, n))  # ties
        gid = (np.arange(n) // g).astype(np.intp)
        groups = int(gid[-1]) + 1
        w = bootstrap._group_weights(groups, 300, seed=n)
        for q in (0.0, 50.0, 95.0, 99.9, 100.0):
            want = old._weighted_quantile_rows(x, gid, w, q)
            assert np.array_equal(stats._weighted_quantile_rows(x, gid, w, q), want)
            run = stats.SortedRun(x)
            assert np.array_equal(run.weighted_quantiles(g, w, q), want)
            dev = np.bincount(gid[run.order][: int(q / 100 * n)], minlength=groups)
            target = q / 100 * (w @ np.bincount(gid, minlength=groups))
            center = min(n - 1, int(q / 100 * n))
            wide = weighted._one_window(run.sorted, gid[run.order], w, target, center, dev * 0)
            assert np.array_equal(wide, want)  # the fallback alone, from a too-narrow window


def test_group_weights_are_the_previous_draws() -> None:
    rng = np.random.default_rng(99)
    draws = rng.integers(0, 500, size=(40, 500))
    draws += (np.arange(40) * 500)[:, None]
    want = np.bincount(draws.ravel(), minlength=40 * 500).reshape(40, 500)
    assert np.array_equal(bootstrap._group_weights(500, 40, seed=99), want)


def test_grouped_grid_equals_pair_by_pair() -> None:
    rng = np.random.default_rng(13)
    n = 12_000
    payload = rng.normal(0, 0.3, n)
    runs = [500 * np.exp(payload + rng.normal(0, 0.15, n)) for _ in range(4)]
    seeds = [[11, 12, 13]]
    grid = stats.grouped_bootstrap_quantile_ratios(
        runs[3:], runs[:3], 95, 1.1, 0.05, group=1, resamples=400, seeds=seeds
    )
    for y, b in enumerate(runs[:3]):
        one = stats.grouped_bootstrap_quantile_ratio(
            runs[3], b, 95, 1.1, 0.05, group=1, resamples=400, seed=seeds[0][y]
        )
        assert grid[0][y] == one


def test_batch_means_match_reshape() -> None:
    x = np.random.default_rng(1).normal(size=1000)
    assert np.allclose(stats.batch_means(x, 10), x.reshape(-1, 10).mean(axis=1))
    assert walsh.BRUTE_FORCE_MAX_N == stats._BRUTE_FORCE_MAX_N


@pytest.mark.parametrize("block", [1, 2, 7, 100])
def test_block_medians_and_percentiles_equal_numpy_per_block(block: int) -> None:
    rng = np.random.default_rng(block)
    for n in (1, 99, 100, 101, 2345):
        for x in (rng.normal(size=n), np.round(rng.normal(size=n), 1)):
            starts = range(0, n, block)
            want = [np.median(x[s : s + block]) for s in starts]
            assert np.array_equal(live_ab.block_medians(x, block), want)
            for q in (50.0, 95.0, 99.9):
                want = [np.percentile(x[s : s + block], q) for s in starts]
                assert np.array_equal(live_ab._block_percentiles(x, block, q), want)


def test_resample_percentiles_equal_numpy_on_the_resampled_values() -> None:
    rng = np.random.default_rng(21)
    for n in (1, 2, 3, 50, 777):
        for x in (rng.lognormal(size=n), np.round(rng.lognormal(3, 1, size=n))):
            run = stats.SortedRun(x)
            idx = rng.integers(0, n, size=(60, n))
            counts = bootstrap._row_counts(idx, n)
            for q in (0.0, 0.1, 37.3, 50.0, 95.0, 99.9, 100.0):
                want = np.percentile(x[idx], q, axis=1)
                assert np.array_equal(run.resample_percentiles(counts, q), want), (n, q)


def test_per_request_bootstrap_equals_previous_implementation() -> None:
    """Same seed, same draws, same ratios: only the way each resample's percentile is read
    changed."""
    rng = np.random.default_rng(22)
    for n in (40, 700, 2600):
        payload = rng.normal(0, 0.3, n)
        c = np.round(500 * np.exp(payload + rng.normal(0, 0.15, n)))
        b = 500 * np.exp(payload + rng.normal(0, 0.15, n))
        for alternative in ("greater", "less"):
            got = stats.bootstrap_quantile_ratio(
                c, b, 95, 1.1, 0.05, resamples=500, seed=n, alternative=alternative
            )
            want = old.bootstrap_quantile_ratio(
                c, b, 95, 1.1, 0.05, resamples=500, seed=n, alternative=alternative
            )
            assert vars(got) == vars(want)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_running_signed_rank_sum_equals_wilcoxon_on_every_prefix(seed: int) -> None:
    """Rounds added one by one (ties, zeros, d_i = -d_j across rounds, an empty round)."""
    rng = np.random.default_rng(seed)
    d = np.round(rng.normal(0.05, 1.0, 3000), 1) if seed != 2 else rng.normal(0.02, 1, 3000)
    d[rng.random(d.size) < 0.05] = 0.0
    cuts = [0, 7, 30, 30, 51, 400, 1000, 2999, 3000]
    state = stats.SignedRankSum()
    for a, b in itertools.pairwise(cuts):
        state = state.extend(d[a:b])
        for alternative in ("greater", "less"):
            want = stats.wilcoxon_p(d[:b], alternative) if b else 1.0
            assert state.p_value(alternative) == pytest.approx(want, rel=1e-9, abs=1e-300)
    assert state.zeros == int(np.sum(d == 0))


@pytest.mark.parametrize("seed", [1, 4])
def test_selection_converges_on_values_repeated_beyond_a_bracket(seed: int) -> None:
    """Latencies in whole units give log ratios repeated millions of times at large n (a
    value more frequent than a bracket can list). The previous selection did not converge
    on seed 1; now each answer is a value where the count crosses k (to one ulp: averages
    equal in exact arithmetic differ in the last bit), the criterion enumeration obeys."""
    rng = np.random.default_rng(seed)
    n = 110_000
    x = np.sort(np.round(rng.normal(size=n), 2))
    sel = stats.WalshAverages(x, is_sorted=True)
    m = sel.m
    ks = [m // 7, m // 2, m // 2 + 1, (5 * m) // 6]
    for k, v in zip(ks, sel.select(ks), strict=True):
        below, above = np.nextafter(v, -np.inf), np.nextafter(v, np.inf)
        assert sel.count_lt(below) < k <= sel.count_le(above), (k, v)
        assert abs(v - round(v * 200) / 200) < 1e-12  # a multiple of 0.005, as every average


@pytest.mark.parametrize(
    "make",
    [
        lambda rng, n: rng.integers(0, 2, n).astype(float),  # three distinct averages
        lambda rng, n: np.full(n, 3.7),  # one
        lambda rng, n: 1.0 + 1e-12 * rng.normal(size=n),  # a few thousand floats apart
        lambda rng, n: np.where(rng.random(n) < 0.5, 0.0, rng.normal(size=n)),
    ],
)
@pytest.mark.parametrize("n", [2064, 120_000])
def test_degenerate_samples_converge(make: object, n: int) -> None:
    """Found by fuzzing: every answer is a value where the count crosses its rank (to one
    ulp), and never a failure to converge."""
    rng = np.random.default_rng(n)
    x = make(rng, n)  # type: ignore[operator]
    sel = stats.WalshAverages(x)
    m = sel.m
    ks = sorted({1, m // 5, m // 2, m // 2 + 1, (4 * m) // 5, m})
    for k, v in zip(ks, sel.select(ks), strict=True):
        below, above = np.nextafter(v, -np.inf), np.nextafter(v, np.inf)
        assert sel.count_lt(below) < k <= sel.count_le(above), (k, v)
