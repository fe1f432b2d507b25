"""Tails: paired bootstraps of a percentile ratio candidate/baseline.

Two resampling schemes, both keeping the pairing (request i of one run with request i of
the other: same payload, same moment of the replay):

* ``bootstrap_quantile_ratio`` resamples single requests, R × n work: the per-request
  bootstrap for short runs;
* ``grouped_bootstrap_quantile_ratio`` resamples contiguous groups (at most ``max_groups``),
  which also keeps short-range autocorrelation, and reads each resample's quantile as a
  weighted quantile in a narrow window of the sorted values: O(n log n + R·(G + window)),
  exact for the weights drawn.

Work shared across pairs: a run's sort and its percentile are computed once
(``SortedRun``) however many baseline × candidate pairs read them
(``grouped_bootstrap_quantile_ratios``); only the resampling weights are per pair (each
pair has its own seed, so the numbers do not depend on which pairs are judged together).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gate.stats.common import Alternative, FloatArray, IntArray, as_1d


@dataclass(frozen=True)
class QuantileRatioTest:
    """Percentile ratio candidate/baseline (linear scale) with a paired bootstrap CI."""

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    se_log: float


def _summarise(
    ratios: FloatArray,
    point: float,
    margin_ratio: float,
    alpha: float,
    alternative: Alternative,
    n: int,
) -> QuantileRatioTest:
    """Percentile CI at alpha per side; p = bootstrap P(ratio <= margin) (>= for
    non-inferiority) with the usual +1 correction so it is never 0."""
    lo, hi = np.percentile(ratios, [100 * alpha, 100 * (1 - alpha)])
    if alternative == "greater":
        p = (1 + int(np.sum(ratios <= margin_ratio))) / (ratios.size + 1)
    else:
        p = (1 + int(np.sum(ratios >= margin_ratio))) / (ratios.size + 1)
    se_log = float(np.std(np.log(ratios), ddof=1))
    return QuantileRatioTest(
        ratio=point, ci_low=float(lo), ci_high=float(hi), p_value=float(p), n=n, se_log=se_log
    )


def bootstrap_quantile_ratio(
    candidate: ArrayLike,
    baseline: ArrayLike,
    q: float,
    margin_ratio: float,
    alpha: float,
    *,
    resamples: int,
    seed: int,
    alternative: Alternative = "greater",
) -> QuantileRatioTest:
    """Paired bootstrap of ``Q_q(candidate) / Q_q(baseline)`` over request indices.

    Request indices are resampled jointly, so the pairing (same payload, same moment of the
    replay) is kept. ``q`` is in [0, 100]. The p-value is the bootstrap estimate of
    P(ratio <= margin_ratio) for regression mode (``>=`` for non-inferiority), with the
    usual +1 correction so it is never 0. CI: percentile interval at alpha per side.
    """
    c = as_1d(candidate)
    b = as_1d(baseline)
    if c.size != b.size:
        raise ValueError("paired samples must have equal length")
    n = c.size
    rng = np.random.default_rng(seed)
    ratios = np.empty(resamples, dtype=np.float64)
    chunk = max(1, min(resamples, 2_000_000 // max(n, 1)))  # fixes the draws: keep it
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(size, n))
        qc = np.percentile(c[idx], q, axis=1)
        qb = np.percentile(b[idx], q, axis=1)
        ratios[done : done + size] = qc / qb
        done += size
    point = float(np.percentile(c, q) / np.percentile(b, q))
    return _summarise(ratios, point, margin_ratio, alpha, alternative, n)


class SortedRun:
    """One run's latencies sorted once, with its percentiles, for every pair that reads it."""

    def __init__(self, x: ArrayLike) -> None:
        self.x = as_1d(x)
        self.order: IntArray = np.argsort(self.x)  # ties: any order gives the same quantile
        self.sorted: FloatArray = self.x[self.order]
        self._pct: dict[float, float] = {}

    def percentile(self, q: float) -> float:
        if q not in self._pct:
            self._pct[q] = float(np.percentile(self.sorted, q))
        return self._pct[q]

    def weighted_quantiles(
        self,
        gid: IntArray,
        weights: FloatArray,
        q: float,
        counts: NDArray[np.int32] | None = None,
    ) -> FloatArray:
        """``_weighted_quantile_rows`` on this run (``gid``: each request's group;
        ``counts``: the weights as int32 when they are whole numbers)."""
        return _weighted_quantile_sorted(self.sorted, gid[self.order], gid, weights, q, counts)


def _weighted_quantile_rows(
    x: FloatArray, gid: IntArray, weights: FloatArray, q: float
) -> FloatArray:
    """Per row of ``weights`` (R × G group weights), the weighted inverse-CDF q-quantile of x.

    Exact for the weights given, and O(n log n + R·(G + w)) where w is a window of sorted
    positions around the quantile wide enough for every row (checked; widened if not), so
    2000 resamples of 10^6 values take well under a second instead of minutes.
    """
    return SortedRun(x).weighted_quantiles(gid, weights, q)


#: Half-width of the first window, in standard deviations of the rows' quantile positions.
#: Any value gives the same (exact) result; a window too narrow for some row is widened 4×.
_WINDOW_SDS = 6.0


def _weighted_quantile_sorted(
    xs: FloatArray,
    gs: IntArray,
    gid: IntArray,
    weights: FloatArray,
    q: float,
    counts: NDArray[np.int32] | None = None,
) -> FloatArray:
    """``_weighted_quantile_rows`` on sorted values ``xs`` whose groups are ``gs``.
    ``counts``: the same weights as int32 when they are whole numbers (bootstrap counts),
    which halves the work in the window; the result is the same."""
    n = xs.size
    g_count = weights.shape[1]
    sizes = np.bincount(gid, minlength=g_count).astype(np.float64)
    target = (q / 100.0) * (weights @ sizes)
    center = min(n - 1, int(q / 100.0 * n))
    below = np.bincount(gs[:center], minlength=g_count).astype(np.float64)
    dev = below - (q / 100.0) * sizes
    half = int(_WINDOW_SDS * math.sqrt(float(np.sum(dev**2))) + 32)
    w = weights if counts is None else counts
    while True:
        lo, hi = max(0, center - half), min(n, center + half)
        base = weights @ np.bincount(gs[:lo], minlength=g_count).astype(np.float64)
        out = np.empty(weights.shape[0])
        ok = not np.any((base >= target) & (lo > 0))
        need = target - base  # whole weights: the comparison below is exact either way
        chunk = max(1, 4_000_000 // max(1, hi - lo))
        r0 = 0
        while ok and r0 < weights.shape[0]:
            r1 = min(weights.shape[0], r0 + chunk)
            cum = np.cumsum(np.take(w[r0:r1], gs[lo:hi], axis=1), axis=1)
            idx = np.sum(cum < need[r0:r1, None], axis=1)
            if hi < n and np.any(idx >= hi - lo):
                ok = False
                break
            out[r0:r1] = xs[lo + np.minimum(idx, hi - lo - 1)]
            r0 = r1
        if ok:
            return out
        half *= 4


def _group_weights(g_count: int, resamples: int, seed: int) -> NDArray[np.int32]:
    """Multinomial(G, 1/G) counts per resample, drawn as G group indices and counted
    (much faster than Generator.multinomial with thousands of categories)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, g_count, size=(resamples, g_count))
    out = np.empty((resamples, g_count), dtype=np.int32)
    for r in range(resamples):  # a row at a time stays in cache: faster than one bincount
        out[r] = np.bincount(draws[r], minlength=g_count)
    return out


def grouped_bootstrap_quantile_ratios(
    candidates: Sequence[ArrayLike | SortedRun],
    baselines: Sequence[ArrayLike | SortedRun],
    q: float,
    margin_ratio: float,
    alpha: float,
    *,
    group: int,
    resamples: int,
    seeds: Sequence[Sequence[int]],
    alternative: Alternative = "greater",
    max_groups: int = 2000,
) -> list[list[QuantileRatioTest]]:
    """``grouped_bootstrap_quantile_ratio`` for every candidate run (rows) × baseline run
    (columns), ``seeds[row][column]`` each, every run sorted once."""
    cs = [r if isinstance(r, SortedRun) else SortedRun(r) for r in candidates]
    bs = [r if isinstance(r, SortedRun) else SortedRun(r) for r in baselines]
    n = cs[0].x.size
    if any(r.x.size != n for r in cs + bs):
        raise ValueError("paired samples must have equal length")
    g = max(1, group, math.ceil(n / max_groups))
    gid = (np.arange(n) // g).astype(np.intp)
    g_count = int(gid[-1]) + 1
    out = []
    for x, c in enumerate(cs):
        row = []
        for y, b in enumerate(bs):
            counts = _group_weights(g_count, resamples, seeds[x][y])
            weights = counts.astype(np.float64)
            qc = c.weighted_quantiles(gid, weights, q, counts)
            ratios = qc / b.weighted_quantiles(gid, weights, q, counts)
            point = c.percentile(q) / b.percentile(q)
            row.append(_summarise(ratios, point, margin_ratio, alpha, alternative, n))
        out.append(row)
    return out


def grouped_bootstrap_quantile_ratio(
    candidate: ArrayLike,
    baseline: ArrayLike,
    q: float,
    margin_ratio: float,
    alpha: float,
    *,
    group: int,
    resamples: int,
    seed: int,
    alternative: Alternative = "greater",
    max_groups: int = 2000,
) -> QuantileRatioTest:
    """Paired block bootstrap of ``Q_q(candidate) / Q_q(baseline)``.

    Like ``bootstrap_quantile_ratio`` but resamples groups of consecutive request indices
    (at least ``group`` long, longer when there would be more than ``max_groups``), jointly
    for both arms: the pairing and the short-range autocorrelation are kept, and the cost no
    longer grows with resamples × n. Quantiles of a resample are weighted inverse-CDF
    quantiles (``_weighted_quantile_rows``).
    """
    c, b = as_1d(candidate), as_1d(baseline)
    if c.size != b.size:
        raise ValueError("paired samples must have equal length")
    ((t,),) = grouped_bootstrap_quantile_ratios(
        [c],
        [b],
        q,
        margin_ratio,
        alpha,
        group=group,
        resamples=resamples,
        seeds=[[seed]],
        alternative=alternative,
        max_groups=max_groups,
    )
    return t


def naive_percentile_rule(
    candidate: ArrayLike, baseline: ArrayLike, q: float, tolerance: float
) -> bool:
    """The rule gate replaces: "p95 within tolerance" on one run each. True = would block.

    Kept for benchmarks and simulations that show its false-alarm rate beside the judge's.
    """
    c = as_1d(candidate)
    b = as_1d(baseline)
    return bool(np.percentile(c, q) > (1 + tolerance) * np.percentile(b, q))
