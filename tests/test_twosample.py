"""gate.stats.twosample against independent computations: brute force enumeration and scipy.

The Moses interval is checked where it must agree with scipy's Mann–Whitney U test: each
bound is the shift at which the one-sided test at level alpha flips between rejecting and
not rejecting. Welch's test is checked against ``scipy.stats.ttest_ind(equal_var=False)``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from gate.stats import twosample as ts


def brute_u_cdf(n: int, m: int) -> np.ndarray[Any, Any]:
    """Null CDF of U by enumerating every choice of the x ranks among n + m."""
    counts = np.zeros(n * m + 1)
    for ranks in itertools.combinations(range(1, n + m + 1), n):
        counts[sum(ranks) - n * (n + 1) // 2] += 1
    return np.cumsum(counts) / math.comb(n + m, n)


@pytest.mark.parametrize(("n", "m"), [(1, 1), (2, 3), (4, 4), (5, 7), (8, 3)])
def test_u_null_distribution_matches_enumeration(n: int, m: int) -> None:
    np.testing.assert_allclose(ts._u_null_cdf(n, m), brute_u_cdf(n, m), rtol=1e-12)


@pytest.mark.parametrize(("n", "m"), [(6, 9), (12, 10), (30, 25)])
def test_exact_u_critical_agrees_with_scipy_exact_p(n: int, m: int) -> None:
    """P(U <= k) from our table equals scipy's exact one-sided p for a sample with U = k."""
    alpha = 0.05
    k = ts.mwu_critical(n, m, alpha)
    cdf = ts._u_null_cdf(n, m)
    assert cdf[k] <= alpha < cdf[k + 1]
    # build untied samples with U(x > y) = k and k+1 and ask scipy
    for u in (k, k + 1):
        x, y = _samples_with_u(n, m, u)
        p = sps.mannwhitneyu(x, y, alternative="less", method="exact").pvalue
        assert p == pytest.approx(cdf[u], rel=1e-9)


def _samples_with_u(n: int, m: int, u: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """x of size n, y of size m, untied, with exactly u pairs x_i > y_j."""
    # start with every x below every y (U=0) and raise x values one y at a time
    per = [0] * n
    left = u
    for i in range(n - 1, -1, -1):
        per[i] = min(m, left)
        left -= per[i]
    assert left == 0
    ys = np.arange(m, dtype=float) * 2 + 1  # 1, 3, 5, ...
    xs = np.array([2.0 * p for p in per]) + np.linspace(0, 0.5, n)  # just above y_(p-1)
    return xs, ys


def test_pairdiff_kth_matches_enumeration_including_bisection_path() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(0.2, 1, 2200), rng.standard_t(3, 2000)  # 4.4M pairs: bisection
    d = np.sort((x[:, None] - y[None, :]).ravel())
    for k in (1, 17, d.size // 3, d.size // 2, d.size - 5, d.size):
        assert ts.pairdiff_kth(x, y, k) == d[k - 1]
    assert ts.hl_shift(x, y) == pytest.approx(float(np.median(d)), abs=0)
    x2, y2 = rng.normal(size=31), rng.normal(size=20)
    d2 = np.sort((x2[:, None] - y2[None, :]).ravel())
    assert ts.hl_shift(x2, y2) == float(np.median(d2))
    with pytest.raises(ValueError):
        ts.pairdiff_kth(x2, y2, 0)


def test_pairdiff_kth_with_heavy_ties() -> None:
    """Memory in pages: many equal values."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 5, 2100).astype(float) * 4096
    y = rng.integers(0, 4, 2100).astype(float) * 4096
    d = np.sort((x[:, None] - y[None, :]).ravel())
    for k in (1, 1000, d.size // 2, d.size):
        assert ts.pairdiff_kth(x, y, k) == d[k - 1]


@pytest.mark.parametrize(("n", "m", "method"), [(12, 9, "exact"), (300, 200, "asymptotic")])
def test_moses_bounds_are_where_scipy_mann_whitney_flips(n: int, m: int, method: str) -> None:
    rng = np.random.default_rng(n)
    x, y = rng.lognormal(0.3, 0.5, n), rng.lognormal(0.0, 0.5, m)
    alpha = 0.05
    lo, hi = ts.moses_ci(x, y, alpha)
    eps = 1e-9

    def p(shift: float, alt: str) -> float:
        return float(sps.mannwhitneyu(x - shift, y, alternative=alt, method=method).pvalue)

    # the lower bound is the largest shift that a one-sided test still rejects ("greater")
    assert p(lo - eps, "greater") <= alpha < p(lo + eps, "greater")
    assert p(hi + eps, "less") <= alpha < p(hi - eps, "less")


def test_moses_ci_covers_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(11)
    alpha, reps, shift = 0.05, 600, 0.7
    cover = 0
    for _ in range(reps):
        x = rng.gamma(2.0, 1.0, 25) + shift
        y = rng.gamma(2.0, 1.0, 30)
        lo, hi = ts.moses_ci(x, y, alpha)
        cover += lo <= shift <= hi
    # nominal >= 90% (two-sided 1 - 2 alpha); binomial sd at 600 reps ~ 1.2%
    assert cover / reps >= 0.90 - 3 * math.sqrt(0.09 / reps)


def test_mwu_p_is_scipys_and_constant_samples_are_no_evidence() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(0.3, 1, 40), rng.normal(0, 1, 50)
    for alt in ("greater", "less"):
        assert ts.mwu_p(x, y, alt) == sps.mannwhitneyu(x, y, alternative=alt).pvalue  # type: ignore[arg-type]
    assert ts.mwu_p([5.0, 5.0], [5.0, 5.0, 5.0], "greater") == 1.0


def test_shift_test_against_margin() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(10.0, 1.0, 200)
    y = rng.normal(0.0, 1.0, 300)
    far = ts.shift_test(x, y, margin=5.0, alpha=0.05, alternative="greater")
    assert far.p_value < 1e-6 and far.ci_low > 9.0
    near = ts.shift_test(x, y, margin=12.0, alpha=0.05, alternative="greater")
    assert near.p_value > 0.5
    shown_within = ts.shift_test(x, y, margin=12.0, alpha=0.05, alternative="less")
    assert shown_within.p_value < 1e-6
    assert near.n_x == 200 and near.n_y == 300 and math.isfinite(near.se)


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_welch_matches_scipy(alternative: str) -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(0.1, 0.2, 15), rng.normal(0.0, 0.05, 12)
    margin, alpha = -0.05, 0.05
    got = ts.welch_test(x, y, margin, alpha, alternative)  # type: ignore[arg-type]
    ref = sps.ttest_ind(x - margin, y, equal_var=False, alternative=alternative)
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert got.df == pytest.approx(ref.df, rel=1e-10)
    two = sps.ttest_ind(x, y, equal_var=False).confidence_interval(confidence_level=1 - 2 * alpha)
    assert (got.ci_low, got.ci_high) == pytest.approx((two.low, two.high), rel=1e-10)


def test_welch_zero_variance_and_too_small() -> None:
    assert ts.welch_test([2.0, 2.0], [1.0, 1.0], 0.5, 0.05, "greater").p_value == 0.0
    assert ts.welch_test([2.0, 2.0], [1.0, 1.0], 1.5, 0.05, "greater").p_value == 1.0
    with pytest.raises(ValueError):
        ts.welch_test([1.0], [1.0, 2.0], 0.0, 0.05, "greater")
    with pytest.raises(ValueError):
        ts.hl_shift([], [1.0])
    with pytest.raises(ValueError):
        ts.hl_shift([math.nan], [1.0])
