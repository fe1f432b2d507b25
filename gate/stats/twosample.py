"""Unpaired two-sample statistics for memory series and throughput windows. Pure functions.

Memory samples and throughput windows do not pair by index the way replayed requests do,
so these checks compare two samples:

* **Mann–Whitney U** (scipy) on the memory series against a margin, with the two-sample
  Hodges–Lehmann shift (median of all pairwise differences) and its distribution-free
  Moses confidence interval, the interval the U test is consistent with;
* **Welch's t** on log throughput per window, whose difference of means is the log of the
  ratio of geometric-mean throughputs, with its CI.

Both treat the samples of a run as independent, which successive memory samples and
windows are not quite; the checks therefore pair them with a run-level test whose noise is
the spread between freshly started servers (``gate.stats.pairwise_run_test``) and block
only when both agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from gate.stats.common import Alternative, FloatArray, as_1d

#: pairwise differences are enumerated up to this many; beyond, found by bisection
_BRUTE_FORCE_MAX_PAIRS = 4_000_000
#: exact null distribution of U when both samples are at most this large
_EXACT_MAX = 50


# --------------------------------------------------------------------------------------
# Pairwise differences: Hodges–Lehmann shift and Moses CI
# --------------------------------------------------------------------------------------


def _count_le(xs: FloatArray, ys: FloatArray, v: float) -> int:
    """Number of pairs with x_i - y_j <= v (both sorted)."""
    # x_i - y_j <= v  <=>  y_j >= x_i - v
    idx = np.searchsorted(ys, xs - v, side="left")
    return int(np.sum(ys.size - idx))


def pairdiff_kth(x: ArrayLike, y: ArrayLike, k: int) -> float:
    """The k-th smallest (1-based) of the n·m differences x_i − y_j.

    Enumerated when n·m is small; otherwise bisection on the value with an O(n log m)
    count, snapped to an actual difference, so long series need no n·m memory.
    """
    xs, ys = np.sort(as_1d(x)), np.sort(as_1d(y))
    total = xs.size * ys.size
    if not 1 <= k <= total:
        raise ValueError(f"k={k} outside 1..{total}")
    if total <= _BRUTE_FORCE_MAX_PAIRS:
        d = (xs[:, None] - ys[None, :]).ravel()
        return float(np.partition(d, k - 1)[k - 1])
    lo, hi = float(xs[0] - ys[-1]), float(xs[-1] - ys[0])
    if _count_le(xs, ys, lo) >= k:
        return lo
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if mid <= lo or mid >= hi:
            break
        if _count_le(xs, ys, mid) >= k:
            hi = mid
        else:
            lo = mid
    # the k-th difference is the largest difference <= hi
    j = np.searchsorted(ys, xs - hi, side="left")  # first y_j with x_i - y_j <= hi
    valid = j < ys.size
    cand = xs[valid] - ys[j[valid]]
    return float(cand.max()) if cand.size else hi


def hl_shift(x: ArrayLike, y: ArrayLike) -> float:
    """Two-sample Hodges–Lehmann estimate of the shift of ``x`` over ``y``."""
    a, b = as_1d(x), as_1d(y)
    m = a.size * b.size
    if m % 2:
        return pairdiff_kth(a, b, (m + 1) // 2)
    return 0.5 * (pairdiff_kth(a, b, m // 2) + pairdiff_kth(a, b, m // 2 + 1))


@lru_cache(maxsize=256)
def _u_null_cdf(n: int, m: int) -> tuple[float, ...]:
    """Exact null CDF of U = (rank sum of the n x-values) − n(n+1)/2, without ties."""
    big = n + m
    wmax = n * big
    # f[j, s]: ways to choose j of the ranks seen so far with rank sum s
    f = np.zeros((n + 1, wmax + 1), dtype=np.float64)
    f[0, 0] = 1.0
    for r in range(1, big + 1):
        for j in range(min(r, n), 0, -1):
            f[j, r:] += f[j - 1, : wmax + 1 - r]
    counts = f[n, n * (n + 1) // 2 : n * (n + 1) // 2 + n * m + 1]
    cdf = np.cumsum(counts) / math.comb(big, n)
    return tuple(float(v) for v in cdf)


def mwu_critical(n: int, m: int, alpha: float) -> int:
    """Largest k with P(U <= k) <= alpha under H0 (−1 when none): the Moses CI's offset.

    Exact for samples of at most 50 each; normal approximation with continuity correction
    above (ties make the exact interval slightly conservative).
    """
    if n <= _EXACT_MAX and m <= _EXACT_MAX:
        cdf = np.asarray(_u_null_cdf(n, m))
        ok = np.nonzero(cdf <= alpha + 1e-12)[0]
        return int(ok[-1]) if ok.size else -1
    from scipy.stats import norm

    mu = n * m / 2.0
    sigma = math.sqrt(n * m * (n + m + 1) / 12.0)
    return math.floor(mu - 0.5 + float(norm.ppf(alpha)) * sigma)


def moses_ci(x: ArrayLike, y: ArrayLike, alpha: float) -> tuple[float, float]:
    """Distribution-free CI for the shift of ``x`` over ``y``, one-sided ``alpha`` per side.

    [D_(k+1), D_(nm−k)] of the sorted pairwise differences, k = ``mwu_critical``: each bound
    alone is the one-sided (1 − alpha) bound a one-sided U test at level alpha agrees with.
    """
    a, b = as_1d(x), as_1d(y)
    n, m = a.size, b.size
    k = mwu_critical(n, m, alpha)
    if k < 0:
        return (-math.inf, math.inf)
    return (pairdiff_kth(a, b, k + 1), pairdiff_kth(a, b, n * m - k))


def mwu_p(x: ArrayLike, y: ArrayLike, alternative: Alternative) -> float:
    """One-sided Mann–Whitney U p-value for H1: ``x`` tends to be larger (or smaller).

    scipy's implementation (exact for small untied samples, normal approximation with tie
    and continuity correction otherwise). Identical constant samples are no evidence: p = 1.
    """
    from scipy.stats import mannwhitneyu

    a, b = as_1d(x), as_1d(y)
    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0
    return float(mannwhitneyu(a, b, alternative=alternative).pvalue)


@dataclass(frozen=True)
class ShiftTest2:
    """Two-sample shift of ``x`` over ``y`` against a margin (units of the data)."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n_x: int
    n_y: int
    se: float  # normal-equivalent standard error read off the CI (for MDEs only)


def shift_test(
    x: ArrayLike, y: ArrayLike, margin: float, alpha: float, alternative: Alternative
) -> ShiftTest2:
    """U test of H0 shift <= margin (``greater``) or >= margin (``less``), HL and Moses CI."""
    a, b = as_1d(x), as_1d(y)
    p = mwu_p(a - margin, b, alternative)
    lo, hi = moses_ci(a, b, alpha)
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha))
    se = (hi - lo) / (2 * z) if math.isfinite(lo) and math.isfinite(hi) else math.inf
    return ShiftTest2(
        estimate=hl_shift(a, b),
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        n_x=int(a.size),
        n_y=int(b.size),
        se=se,
    )


# --------------------------------------------------------------------------------------
# Welch t on log values: a ratio of geometric means
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WelchTest:
    """Difference of means of two samples (log scale for ratios) against a margin."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    se: float
    df: float


def welch_test(
    x: ArrayLike, y: ArrayLike, margin: float, alpha: float, alternative: Alternative
) -> WelchTest:
    """Welch's unequal-variance t-test of H0 mean(x) − mean(y) <= margin (``greater``) or
    >= margin (``less``), with the two one-sided (1 − alpha) bounds as CI.

    Equals ``scipy.stats.ttest_ind(x - margin, y, equal_var=False, alternative=...)``. With
    zero variance in both samples the comparison is exact (p 0 or 1).
    """
    from scipy.stats import t as t_dist

    a, b = as_1d(x), as_1d(y)
    if a.size < 2 or b.size < 2:
        raise ValueError("Welch's test needs at least two values per sample")
    va, vb = float(np.var(a, ddof=1)) / a.size, float(np.var(b, ddof=1)) / b.size
    est = float(np.mean(a) - np.mean(b))
    se = math.sqrt(va + vb)
    if se == 0.0:
        exceeds = est > margin if alternative == "greater" else est < margin
        return WelchTest(est, est, est, 0.0 if exceeds else 1.0, 0.0, math.inf)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    tstat = (est - margin) / se
    p = float(t_dist.sf(tstat, df)) if alternative == "greater" else float(t_dist.cdf(tstat, df))
    tcrit = float(t_dist.ppf(1 - alpha, df))
    return WelchTest(est, est - tcrit * se, est + tcrit * se, p, se, df)
