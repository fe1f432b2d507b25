"""Within-run paired shift: Wilcoxon signed-rank test, Hodges–Lehmann estimate and its CI.

Requests replayed in the same order pair by index; the log ratio ``r_i = ln(c_i / b_i)`` is
tested against the tolerance with the Wilcoxon signed-rank test and estimated with
Hodges–Lehmann (median of Walsh averages, ``gate.stats.walsh``) and its distribution-free CI.

Cost at large n: the sample is sorted once and everything is read from the sorted array. The
signed-rank statistic needs no ranking: T+ = #{i <= j: d_i + d_j > 0} + ½·#{i < j: d_i + d_j
= 0} (Walsh averages above zero, ties halved — the midrank sum), which is one binary search
of the positive values among the negative ones. The p-value then follows scipy's normal
approximation with its tie correction term for term, so it equals ``scipy.stats.wilcoxon``'s
to rounding; up to ``EXACT_MAX_N`` values scipy's exact or permutation p-value is used as is.

Growing samples (a look after every round): ``SignedRankSum`` keeps T+ and the tie term and
adds a round's values in O(k log n) (its p-value equals ``wilcoxon_p`` on the whole prefix);
the Walsh-average selection has no exact incremental form but starts from the previous
look's values (``paired_shift_test(..., previous=...)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from gate.stats.common import Alternative, FloatArray, as_1d
from gate.stats.walsh import WalshAverages, median_of, median_ranks

#: Up to this size the signed-rank null distribution is computed exactly (and scipy's
#: exact or permutation Wilcoxon p-value is used).
EXACT_MAX_N = 50


def _signed_rank_null_cdf(n: int) -> FloatArray:
    """Exact null CDF of the Wilcoxon statistic T+ for n untied, non-zero values."""
    m = n * (n + 1) // 2
    counts = np.zeros(m + 1, dtype=np.float64)
    counts[0] = 1.0
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[: m + 1 - r].copy()
    return np.asarray(np.cumsum(counts) / 2.0**n, dtype=np.float64)


def signed_rank_critical(n: int, alpha: float) -> int:
    """Largest k with P(T+ <= k) <= alpha under H0 (−1 when none): the CI's rank offset.

    Exact for n <= 50, normal approximation with continuity correction above.
    """
    if n <= EXACT_MAX_N:
        cdf = _signed_rank_null_cdf(n)
        ok = np.nonzero(cdf <= alpha + 1e-12)[0]
        return int(ok[-1]) if ok.size else -1
    from scipy.special import ndtri

    mu = n * (n + 1) / 4.0
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
    return math.floor(mu - 0.5 + float(ndtri(alpha)) * sigma)


def signed_rank_ci(x: ArrayLike, alpha: float) -> tuple[float, float]:
    """Distribution-free CI for the pseudo-median with one-sided error ``alpha`` per side.

    The interval [W_(k+1), W_(M-k)] (Walsh averages in order) covers the pseudo-median with
    probability >= 1 - 2·alpha; each bound alone is a one-sided (1 - alpha) bound, which is
    the bound a one-sided test at level alpha is consistent with. Infinite bounds mean the
    sample is too small for that confidence.
    """
    w = WalshAverages(x)
    k = signed_rank_critical(w.n, alpha)
    if k < 0:
        return (-math.inf, math.inf)
    lo, hi = w.select([k + 1, w.m - k])
    return (lo, hi)


def wilcoxon_p(d: ArrayLike, alternative: Alternative, *, is_sorted: bool = False) -> float:
    """One-sided Wilcoxon signed-rank p-value for H1: location of ``d`` > 0 (or < 0).

    scipy's test (exact for small untied samples, normal approximation with tie correction
    otherwise); zeros are dropped (Wilcoxon's method). All-zero input is no evidence at all:
    p = 1. ``is_sorted``: ``d`` is already in ascending order (saves the sort).
    """
    a = as_1d(d)
    if not np.any(a != 0):
        return 1.0
    if a.size <= EXACT_MAX_N:
        from scipy.stats import wilcoxon

        return float(wilcoxon(a, alternative=alternative, zero_method="wilcox").pvalue)
    return _asymptotic_p(a if is_sorted else np.sort(a), alternative)


def _asymptotic_p(ds: FloatArray, alternative: Alternative) -> float:
    """scipy's normal approximation (no continuity correction) from sorted differences."""
    return _normal_p(*_signed_rank_sums(ds), alternative)


def _signed_rank_sums(ds: FloatArray) -> tuple[float, float, float]:
    """(non-zero count, T+, tie term) of sorted differences ``ds``."""
    neg = -ds[: int(np.searchsorted(ds, 0.0, side="left"))][::-1]  # |d| of d < 0, ascending
    pos = ds[int(np.searchsorted(ds, 0.0, side="right")) :]
    below = np.searchsorted(neg, pos, side="left")  # per positive d: negatives with smaller |d|
    across = neg.size > 0 and bool(np.any(neg[np.minimum(below, neg.size - 1)] == pos))
    equal = 0.0  # pairs d_i = -d_j: only searched for when there is one
    if across:
        equal = float((np.searchsorted(neg, pos, side="right") - below).sum())
    t_plus = pos.size * (pos.size + 1) / 2 + float(below.sum()) + 0.5 * equal
    return float(neg.size + pos.size), t_plus, _tie_term(neg, pos, across)


def _normal_p(count: float, t_plus: float, ties: float, alternative: Alternative) -> float:
    """scipy.stats.wilcoxon's asymptotic p-value, operation for operation."""
    from scipy.special import ndtr

    mn = count * (count + 1.0) * 0.25
    se = count * (count + 1.0) * (2.0 * count + 1.0)
    se = math.sqrt((se - ties / 2) / 24)
    z = (t_plus - mn) / se
    return float(ndtr(-z) if alternative == "greater" else ndtr(z))


@dataclass(frozen=True)
class SignedRankSum:
    """The Wilcoxon signed-rank statistic of a sample growing by rounds (sequential looks).

    ``extend`` adds a round: T+ gains the new values' pairs among themselves and with the
    old ones (one search of the new values in the old sorted ones), the tie term gains
    3·u·c·(u + c) per |d| held u times before and c times now; O(k log n) for k new values
    plus one merge, no re-ranking. ``p_value`` equals ``wilcoxon_p`` on everything added.
    """

    values: FloatArray = field(default_factory=lambda: np.empty(0))  # non-zero, sorted
    zeros: int = 0
    t_plus: float = 0.0
    ties: float = 0.0

    def extend(self, d: ArrayLike) -> SignedRankSum:
        a = np.asarray(d, dtype=np.float64).ravel()
        if not np.all(np.isfinite(a)):
            raise ValueError("sample contains NaN or infinity")
        new = np.sort(a[a != 0])
        old = self.values
        _, t_new, ties_new = _signed_rank_sums(new)
        hi = np.searchsorted(old, -new, side="right")  # old values <= -x ...
        lo = np.searchsorted(old, -new, side="left")  # ... and < -x: x + y == 0 between
        cross = float((old.size - hi).sum()) + 0.5 * float((hi - lo).sum())
        mags, c = np.unique(np.abs(new), return_counts=True)
        u = _held(old, mags) + _held(old, -mags)
        grown = float(np.sum(3.0 * u * c * (u + c)))
        return SignedRankSum(
            values=np.sort(np.concatenate([old, new])),
            zeros=self.zeros + int(a.size - new.size),
            t_plus=self.t_plus + t_new + cross,
            ties=self.ties + ties_new + grown,
        )

    def p_value(self, alternative: Alternative) -> float:
        count = self.values.size
        if count == 0:
            return 1.0
        if count + self.zeros <= EXACT_MAX_N:
            return wilcoxon_p(np.concatenate([self.values, np.zeros(self.zeros)]), alternative)
        return _normal_p(float(count), self.t_plus, self.ties, alternative)


def _held(sorted_values: FloatArray, v: FloatArray) -> FloatArray:
    """How many times each of ``v`` occurs in ``sorted_values``."""
    right = np.searchsorted(sorted_values, v, side="right")
    return np.asarray(right - np.searchsorted(sorted_values, v, side="left"), dtype=np.float64)


def _tie_term(neg: FloatArray, pos: FloatArray, across: bool) -> float:
    """Sum of t³ − t over groups of equal |d| (0 without ties, the usual case)."""
    if not (across or np.any(neg[1:] == neg[:-1]) or np.any(pos[1:] == pos[:-1])):
        return 0.0
    s = np.sort(np.concatenate([neg, pos]))
    edges = np.concatenate([[0], np.flatnonzero(s[1:] != s[:-1]) + 1, [s.size]])
    t = np.diff(edges).astype(np.float64)
    return float(np.sum(t**3 - t))


@dataclass(frozen=True)
class ShiftTest:
    """Within-run paired shift of log latency against a margin (all values on log scale)."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    se: float


def paired_shift_test(
    log_ratio: ArrayLike,
    margin: float,
    alpha: float,
    alternative: Alternative,
    *,
    previous: ShiftTest | None = None,
) -> ShiftTest:
    """Wilcoxon signed-rank test of ``log_ratio - margin`` and the HL estimate with its CI.

    ``alternative="greater"`` is regression mode (H0: shift <= margin); ``"less"`` is
    non-inferiority (H0: shift >= margin). ``se`` is a normal-equivalent standard error
    read off the CI width, used only for minimum detectable effects. ``previous``: this
    test on a shorter prefix of the same pairs (a sequential look), whose estimate and
    bounds start the search; the result does not depend on it.
    """
    return _shift_sorted(np.sort(as_1d(log_ratio)), margin, alpha, alternative, previous)


def _shift_sorted(
    rs: FloatArray,
    margin: float,
    alpha: float,
    alternative: Alternative,
    previous: ShiftTest | None = None,
) -> ShiftTest:
    from scipy.special import ndtri

    p = wilcoxon_p(rs - margin, alternative, is_sorted=True)
    w = WalshAverages(rs, is_sorted=True)
    kc = signed_rank_critical(w.n, alpha)
    ks = median_ranks(w.m) + ([kc + 1, w.m - kc] if kc >= 0 else [])
    guesses: list[float] = []
    if previous is not None and math.isfinite(previous.ci_low) and kc >= 0:
        guesses = [previous.estimate, previous.estimate, previous.ci_low, previous.ci_high]
    v = w.select(ks, guesses)
    est = median_of(w, v[:2])
    lo, hi = (v[2], v[3]) if kc >= 0 else (-math.inf, math.inf)
    z = float(ndtri(1 - alpha))
    se = (hi - lo) / (2 * z) if math.isfinite(lo) and math.isfinite(hi) else math.inf
    return ShiftTest(estimate=est, ci_low=lo, ci_high=hi, p_value=p, n=w.n, se=se)


def paired_shift_tests(
    candidates: Sequence[FloatArray],
    baselines: Sequence[FloatArray],
    margin: float,
    alpha: float,
    alternative: Alternative,
) -> list[list[ShiftTest]]:
    """``paired_shift_test(c - b)`` for every candidate run c (rows) × baseline run b
    (columns), all runs of equal length: one sort per candidate for all its pairs."""
    out = []
    for c in candidates:
        rs = np.sort(np.asarray(c)[None, :] - np.stack(baselines), axis=1)
        out.append([_shift_sorted(r, margin, alpha, alternative) for r in rs])
    return out


def batch_means(x: ArrayLike, batch: int) -> FloatArray:
    """Means of consecutive runs of ``batch`` values (the last, shorter run included).

    Server noise is autocorrelated over a few requests (AR(1) φ≈0.5 makes a per-request
    Wilcoxon reject ~3x too often, benchmarks/judge_simulation.py); means of
    ~10 consecutive requests are close to independent, so the paired test runs on them.
    """
    a = as_1d(x)
    if batch < 1:
        raise ValueError("batch must be >= 1")
    if batch == 1:
        return a
    starts = np.arange(0, a.size, batch)
    sums = np.add.reduceat(a, starts)
    sizes = np.diff(np.append(starts, a.size))
    return np.asarray(sums / sizes, dtype=np.float64)
