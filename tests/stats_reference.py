"""The scalar statistics as they were before vectorisation (commit d30e99e), as an oracle.

``gate.stats`` now selects Walsh averages by interpolated passes, computes the Wilcoxon
p-value from one sorted array and shares sorts across pairs; the tests check it against
these originals (exact bisection-style selection, scipy's Wilcoxon, one sort per call) on
inputs too large to enumerate. Not used by gate itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm, wilcoxon

FloatArray = NDArray[np.float64]


def _as_1d(x: object) -> FloatArray:
    return np.asarray(x, dtype=np.float64).ravel()


def _walsh_count_le(xs: FloatArray, v: float) -> int:
    """Number of Walsh averages (x_i + x_j)/2, i <= j, that are <= v (xs sorted)."""
    idx = np.searchsorted(xs, 2.0 * v - xs, side="right")
    counts = idx - np.arange(xs.size)
    return int(np.clip(counts, 0, None).sum())


def _walsh_count_lt(xs: FloatArray, v: float) -> int:
    """Number of Walsh averages (x_i + x_j)/2, i <= j, that are < v (xs sorted)."""
    idx = np.searchsorted(xs, 2.0 * v - xs, side="left")
    counts = idx - np.arange(xs.size)
    return int(np.clip(counts, 0, None).sum())


#: Walsh averages left in the bracket at which they are enumerated outright.
_ENUMERATE_MAX = 2_000_000
#: Walsh averages drawn per narrowing round of ``_walsh_select``.
_SELECT_SAMPLE = 200_000


def _walsh_rows(xs: FloatArray, lo: float, hi: float) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Per row i, the j range [a_i, b_i) (j >= i) whose Walsh averages lie in (lo, hi]."""
    n = xs.size
    i = np.arange(n)
    a = np.maximum(np.searchsorted(xs, 2.0 * lo - xs, side="right"), i)
    b = np.maximum(np.searchsorted(xs, 2.0 * hi - xs, side="right"), i)
    return a, b


def _walsh_select(xs: FloatArray, k: int, span: int = 0) -> float:
    """k-th Walsh average of sorted ``xs`` in O(n log n): bracket it by sampling, then count.

    Each round draws Walsh averages uniformly from those inside the current bracket
    (lo, hi], takes the sample quantiles around the wanted rank as a new bracket, and keeps
    it only if exact counting confirms it holds the k-th value (else the bracket is kept and
    the round redrawn with a wider margin). A round shrinks the bracket ~100-fold, so a few
    rounds leave few enough values to enumerate and partition. Exact: sampling only speeds
    up the search, every accepted bracket is verified by counting. The seed is fixed so the
    work done (not the result, which is exact) is reproducible.
    """
    n = xs.size
    rng = np.random.default_rng(0x5EED)
    lo = float(xs[0]) - 1.0 - abs(float(xs[0]))  # below every Walsh average
    hi = float(xs[-1])  # the largest Walsh average
    below = 0  # Walsh averages <= lo
    width = 6.0
    for _ in range(64):
        a, b = _walsh_rows(xs, lo, hi)
        counts = b - a
        inside = int(counts.sum())
        if inside <= _ENUMERATE_MAX:
            rows = np.repeat(np.arange(n), counts)
            offs = np.arange(inside) - np.repeat(np.cumsum(counts) - counts, counts)
            vals = (xs[rows] + xs[a[rows] + offs]) / 2.0
            i1, i2 = k - below - 1, k + span - below - 1
            part = np.partition(vals, [i1, i2] if span else i1)
            return float(part[i1]) if not span else 0.5 * (float(part[i1]) + float(part[i2]))
        # sample uniformly among the Walsh averages in (lo, hi]
        cum = np.cumsum(counts)
        pick = rng.integers(0, inside, size=_SELECT_SAMPLE)
        rows = np.searchsorted(cum, pick, side="right")
        offs = pick - (cum[rows] - counts[rows])
        sample = np.sort((xs[rows] + xs[a[rows] + offs]) / 2.0)
        p = (k - below) / inside
        # Ties: the k-th value may be one repeated many times; test the sample's guess at it.
        guess = float(sample[min(_SELECT_SAMPLE - 1, max(0, round(p * _SELECT_SAMPLE) - 1))])
        if width > 6.0 and lo < guess <= hi:
            c_le = _walsh_count_le(xs, guess)
            c_lt = _walsh_count_lt(xs, guess)
            if c_lt < k and k + span <= c_le:
                return guess
        half = width * math.sqrt(p * (1 - p) / _SELECT_SAMPLE) + 2.0 / _SELECT_SAMPLE
        i_lo = math.floor((p - half) * _SELECT_SAMPLE) - 1
        i_hi = math.ceil((p + half) * _SELECT_SAMPLE)
        new_lo = float(sample[i_lo]) if i_lo >= 0 else lo
        new_hi = float(sample[i_hi]) if i_hi < _SELECT_SAMPLE else hi
        c_lo = _walsh_count_le(xs, new_lo) if new_lo != lo else below
        c_hi = _walsh_count_le(xs, new_hi)
        if c_lo < k and k + span <= c_hi and (new_lo, new_hi) != (lo, hi):
            lo, hi, below = new_lo, new_hi, c_lo
            width = 6.0
        else:
            width *= 2.0
    raise ArithmeticError("Walsh-average selection did not converge")


def hodges_lehmann(x: ArrayLike) -> float:
    """Hodges–Lehmann estimate of the pseudo-median: the median of the Walsh averages."""
    a = _as_1d(x)
    m = a.size * (a.size + 1) // 2
    xs = np.sort(a)
    if m % 2:
        return _walsh_select(xs, (m + 1) // 2)
    # the mean of the two middle Walsh averages, found in one bracket
    return _walsh_select(xs, m // 2, span=1)


def signed_rank_critical(n: int, alpha: float) -> int:
    mu = n * (n + 1) / 4.0
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
    return math.floor(mu - 0.5 + float(norm.ppf(alpha)) * sigma)


def wilcoxon_p(d: FloatArray, alternative: str) -> float:
    a = _as_1d(d)
    if not np.any(a != 0):
        return 1.0
    return float(wilcoxon(a, alternative=alternative, zero_method="wilcox").pvalue)


def shift_test(r: FloatArray, margin: float, alpha: float, alternative: str) -> tuple[float, ...]:
    """(estimate, ci_low, ci_high, p) of the old ``paired_shift_test`` for n > 1500."""
    xs = np.sort(r)
    m = xs.size * (xs.size + 1) // 2
    k = signed_rank_critical(xs.size, alpha)
    return (
        hodges_lehmann(xs),
        _walsh_select(xs, k + 1),
        _walsh_select(xs, m - k),
        wilcoxon_p(r - margin, alternative),
    )


def _weighted_quantile_rows(
    x: FloatArray, gid: NDArray[np.intp], weights: FloatArray, q: float
) -> FloatArray:
    """Per row of ``weights`` (R × G group weights), the weighted inverse-CDF q-quantile of x.

    Exact for the weights given, and O(n log n + R·(G + w)) where w is a window of sorted
    positions around the quantile wide enough for every row (checked; widened if not), so
    2000 resamples of 10^6 values take well under a second instead of minutes.
    """
    n = x.size
    g_count = weights.shape[1]
    order = np.argsort(x)  # ties: any order gives the same quantile value
    xs = x[order]
    gs = gid[order]
    sizes = np.bincount(gid, minlength=g_count).astype(np.float64)
    target = (q / 100.0) * (weights @ sizes)
    center = min(n - 1, int(q / 100.0 * n))
    below = np.bincount(gs[:center], minlength=g_count).astype(np.float64)
    dev = below - (q / 100.0) * sizes
    half = int(8.0 * math.sqrt(float(np.sum(dev**2))) + 32)
    while True:
        lo, hi = max(0, center - half), min(n, center + half)
        base = weights @ np.bincount(gs[:lo], minlength=g_count).astype(np.float64)
        out = np.empty(weights.shape[0])
        ok = not np.any((base >= target) & (lo > 0))
        chunk = max(1, 4_000_000 // max(1, hi - lo))
        r0 = 0
        while ok and r0 < weights.shape[0]:
            r1 = min(weights.shape[0], r0 + chunk)
            cum = base[r0:r1, None] + np.cumsum(weights[r0:r1][:, gs[lo:hi]], axis=1)
            idx = np.sum(cum < target[r0:r1, None], axis=1)
            if hi < n and np.any(idx >= hi - lo):
                ok = False
                break
            out[r0:r1] = xs[lo + np.minimum(idx, hi - lo - 1)]
            r0 = r1
        if ok:
            return out
        half *= 4


@dataclass(frozen=True)
class QuantileRatioTest:
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    se_log: float


def bootstrap_quantile_ratio(
    candidate: object,
    baseline: object,
    q: float,
    margin_ratio: float,
    alpha: float,
    *,
    resamples: int,
    seed: int,
    alternative: str = "greater",
) -> object:
    """Paired bootstrap of ``Q_q(candidate) / Q_q(baseline)`` over request indices.

    Request indices are resampled jointly, so the pairing (same payload, same moment of the
    replay) is kept. ``q`` is in [0, 100]. The p-value is the bootstrap estimate of
    P(ratio <= margin_ratio) for regression mode (``>=`` for non-inferiority), with the
    usual +1 correction so it is never 0. CI: percentile interval at alpha per side.
    """
    c = _as_1d(candidate)
    b = _as_1d(baseline)
    if c.size != b.size:
        raise ValueError("paired samples must have equal length")
    n = c.size
    rng = np.random.default_rng(seed)
    ratios = np.empty(resamples, dtype=np.float64)
    chunk = max(1, min(resamples, 2_000_000 // max(n, 1)))
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(size, n))
        qc = np.percentile(c[idx], q, axis=1)
        qb = np.percentile(b[idx], q, axis=1)
        ratios[done : done + size] = qc / qb
        done += size
    point = float(np.percentile(c, q) / np.percentile(b, q))
    lo, hi = np.percentile(ratios, [100 * alpha, 100 * (1 - alpha)])
    if alternative == "greater":
        p = (1 + int(np.sum(ratios <= margin_ratio))) / (resamples + 1)
    else:
        p = (1 + int(np.sum(ratios >= margin_ratio))) / (resamples + 1)
    se_log = float(np.std(np.log(ratios), ddof=1))
    return QuantileRatioTest(
        ratio=point, ci_low=float(lo), ci_high=float(hi), p_value=float(p), n=n, se_log=se_log
    )
