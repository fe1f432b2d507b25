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
from numpy.typing import ArrayLike

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
    candidate: ArrayLike | SortedRun,
    baseline: ArrayLike | SortedRun,
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

    Each resample's percentile is ``np.percentile`` of the resampled values, computed from
    how often each request was drawn (``SortedRun.resample_percentiles``): the same draws
    and the same numbers as gathering and partitioning R × n values, several times faster.
    """
    c = candidate if isinstance(candidate, SortedRun) else SortedRun(candidate)
    b = baseline if isinstance(baseline, SortedRun) else SortedRun(baseline)
    if c.x.size != b.x.size:
        raise ValueError("paired samples must have equal length")
    n = c.x.size
    rng = np.random.default_rng(seed)
    ratios = np.empty(resamples, dtype=np.float64)
    chunk = max(1, min(resamples, 2_000_000 // max(n, 1)))  # fixes the draws: keep it
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        counts = _row_counts(rng.integers(0, n, size=(size, n)), n)
        ratios[done : done + size] = c.resample_percentiles(counts, q) / b.resample_percentiles(
            counts, q
        )
        done += size
    point = float(np.percentile(c.x, q) / np.percentile(b.x, q))
    return _summarise(ratios, point, margin_ratio, alpha, alternative, n)


def _row_counts(draws: IntArray, n: int) -> FloatArray:
    """Per row of ``draws``, how often each of 0..n-1 was drawn: one bincount over offset
    indices for few categories, a row at a time (which stays in cache) for many."""
    rows = draws.shape[0]
    if n <= _ONE_BINCOUNT_GROUPS:
        flat = (draws + (np.arange(rows) * n)[:, None]).ravel()
        return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)
    out = np.empty((rows, n), dtype=np.float64)
    for r in range(rows):
        out[r] = np.bincount(draws[r], minlength=n)
    return out


class SortedRun:
    """One run's latencies sorted once, with what every pair reading it needs: its
    percentiles, and per group size the group of each sorted value and the group counts
    below a percentile's position."""

    def __init__(self, x: ArrayLike) -> None:
        self.x = as_1d(x)
        self.order: IntArray = np.argsort(self.x)  # ties: any order gives the same quantile
        self.sorted: FloatArray = self.x[self.order]
        self._pct: dict[float, float] = {}
        self._groups: dict[int, IntArray] = {}
        self._below: dict[tuple[object, float], FloatArray] = {}

    def percentile(self, q: float) -> float:
        if q not in self._pct:
            self._pct[q] = float(np.percentile(self.sorted, q))
        return self._pct[q]

    def groups(self, g: int) -> IntArray:
        """The group (``request // g``) of each sorted value."""
        if g not in self._groups:
            self._groups[g] = self.order // g
        return self._groups[g]

    def below(self, g: int, q: float, g_count: int) -> FloatArray:
        """Per group, how many of the values below the q-th percentile's position it holds."""
        if (g, q) not in self._below:
            center = _center(self.x.size, q)
            counts = np.bincount(self.groups(g)[:center], minlength=g_count)
            self._below[(g, q)] = counts.astype(np.float64)
        return self._below[(g, q)]

    def resample_percentiles(self, counts: FloatArray, q: float) -> FloatArray:
        """``np.percentile(x[idx], q, axis=1)`` for resamples given as per-request counts
        (row r: how often each request was drawn), without building or partitioning them:
        the two order statistics numpy interpolates between, each read as a weighted
        quantile, then numpy's own linear interpolation (equal values, tested)."""
        n = self.x.size
        virtual = (n - 1) * (q / 100.0)  # numpy's "linear" method, operation for operation
        if virtual >= n - 1 or virtual < 0:
            return self._order_stats(counts, n - 1 if virtual >= n - 1 else 0)
        k0 = math.floor(virtual)
        gamma = virtual - k0
        a, b = self._order_stats(counts, k0), self._order_stats(counts, k0 + 1)
        diff = b - a
        return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma

    def _order_stats(self, counts: FloatArray, j: int) -> FloatArray:
        """Per resample (row of counts), its j-th smallest value (0-based)."""
        if ("order", j) not in self._below:
            below = np.zeros(self.x.size)
            below[self.order[:j]] = 1.0
            self._below[("order", j)] = below
        below = self._below[("order", j)]
        target = np.full(counts.shape[0], j + 1.0)
        dev = below - j / below.size
        return _weighted_order(self.sorted, self.order, counts, j, target, below, dev)

    def weighted_quantiles(self, g: int, weights: FloatArray, q: float) -> FloatArray:
        """``_weighted_quantile_rows`` on this run, request i in group i // g."""
        g_count = weights.shape[1]
        n = self.x.size
        sizes = np.full(g_count, float(g))
        sizes[-1] = n - g * (g_count - 1)
        return _weighted_quantile_sorted(
            self.sorted, self.groups(g), sizes, self.below(g, q, g_count), weights, q
        )


def _center(n: int, q: float) -> int:
    return min(n - 1, int(q / 100.0 * n))


def _weighted_quantile_rows(
    x: FloatArray, gid: IntArray, weights: FloatArray, q: float
) -> FloatArray:
    """Per row of ``weights`` (R × G group weights), the weighted inverse-CDF q-quantile of x.

    Exact for the weights given, and O(n log n + R·(G + w)) where w is a window of sorted
    positions around the quantile wide enough for every row (checked; widened if not), so
    2000 resamples of 10^6 values take well under a second instead of minutes.
    """
    run = SortedRun(x)
    gs = gid[run.order]
    g_count = weights.shape[1]
    sizes = np.bincount(gid, minlength=g_count).astype(np.float64)
    below = np.bincount(gs[: _center(x.size, q)], minlength=g_count).astype(np.float64)
    return _weighted_quantile_sorted(run.sorted, gs, sizes, below, weights, q)


#: Half-width of the fallback window, in standard deviations of the rows' quantile positions.
#: Any value gives the same (exact) result; a window too narrow for some row is widened 4×.
_WINDOW_SDS = 6.0
#: Resamples handled together, in order of where their quantile lies (``_rows_by_offset``).
_ROW_CHUNK = 128
#: Up to this many cells (resamples × window positions) one window for all is cheaper.
_ONE_WINDOW_CELLS = 400_000
#: Up to this many groups one bincount over all resamples beats one per resample.
_ONE_BINCOUNT_GROUPS = 64


def _weighted_quantile_sorted(
    xs: FloatArray,
    gs: IntArray,
    sizes: FloatArray,
    below: FloatArray,
    weights: FloatArray,
    q: float,
) -> FloatArray:
    """``_weighted_quantile_rows`` on sorted values ``xs`` whose groups are ``gs``
    (``sizes``: values per group; ``below``: per group, values before the centre position)."""
    target = (q / 100.0) * (weights @ sizes)
    center = _center(xs.size, q)
    dev = below - (q / 100.0) * sizes
    return _weighted_order(xs, gs, weights, center, target, below, dev)


def _weighted_order(
    xs: FloatArray,
    gs: IntArray,
    weights: FloatArray,
    center: int,
    target: FloatArray,
    below: FloatArray,
    dev: FloatArray,
) -> FloatArray:
    """Per row of weights, the first sorted value at which the weight reaches ``target``
    (``below``: per group, values before ``center``; ``dev``: those minus their expected
    number, which sizes the windows)."""
    out = None
    if weights.shape[0] * _one_window_width(dev) > _ONE_WINDOW_CELLS:  # else one call is cheaper
        out = _rows_by_offset(xs, gs, weights, center, target - weights @ below)
    if out is None:
        out = _one_window(xs, gs, weights, target, center, dev)
    return out


def _rows_by_offset(
    xs: FloatArray, gs: IntArray, weights: FloatArray, center: int, offset: FloatArray
) -> FloatArray | None:
    """Each resample's quantile lies about ``offset`` positions past ``center`` (the weight
    still missing there; a position weighs 1 on average, so the error is ~sqrt(offset)).
    Resamples sorted by offset are walked in chunks, each through its own window of sorted
    positions from the centre to just past its quantiles: R·(|offset| + sqrt) cells
    instead of R·12·sd. The test ``cum - c0 < offset`` compares whole numbers with the same
    real numbers as "weight below < target" did, so the result is exact; None when a window
    proves too narrow (the caller then takes one wide window)."""
    n = xs.size
    out = np.empty(weights.shape[0])
    pad = int(6.0 * math.sqrt(float(np.max(np.abs(offset))) + 1.0)) + 32
    order = np.argsort(offset)
    for r0 in range(0, order.size, _ROW_CHUNK):
        rows = order[r0 : r0 + _ROW_CHUNK]
        lo = max(0, min(center, center + math.floor(offset[rows[0]]) - pad))
        hi = min(n, max(center + 1, center + math.ceil(offset[rows[-1]]) + pad + 1))
        cum = np.cumsum(weights[np.ix_(rows, gs[lo:hi])], axis=1)
        if lo < center:  # weight between lo and the centre, which ``offset`` already counts
            cum -= cum[:, center - lo - 1 : center - lo]
        idx = np.sum(cum < offset[rows, None], axis=1)
        if (lo > 0 and np.any(idx == 0)) or (hi < n and np.any(idx >= hi - lo)):
            return None
        out[rows] = xs[lo + np.minimum(idx, hi - lo - 1)]
    return out


def _one_window_width(dev: FloatArray) -> int:
    """Positions in the single window: ``_WINDOW_SDS`` sds of the quantile's position on
    each side (dev: per group, values below the centre minus their expected number)."""
    return 2 * int(_WINDOW_SDS * math.sqrt(float(np.sum(dev**2))) + 32)


def _one_window(
    xs: FloatArray,
    gs: IntArray,
    weights: FloatArray,
    target: FloatArray,
    center: int,
    dev: FloatArray,
) -> FloatArray:
    """All resamples through one window around ``center``, widened until it holds every
    resample's quantile."""
    n, g_count = xs.size, weights.shape[1]
    half = _one_window_width(dev) // 2
    while True:
        lo, hi = max(0, center - half), min(n, center + half)
        base = weights @ np.bincount(gs[:lo], minlength=g_count).astype(np.float64)
        out = np.empty(weights.shape[0])
        ok = not np.any((base >= target) & (lo > 0))
        chunk = max(1, 4_000_000 // max(1, hi - lo))
        r0 = 0
        while ok and r0 < weights.shape[0]:
            r1 = min(weights.shape[0], r0 + chunk)
            cum = np.cumsum(weights[r0:r1][:, gs[lo:hi]], axis=1)
            idx = np.sum(cum < (target - base)[r0:r1, None], axis=1)
            if hi < n and np.any(idx >= hi - lo):
                ok = False
                break
            out[r0:r1] = xs[lo + np.minimum(idx, hi - lo - 1)]
            r0 = r1
        if ok:
            return out
        half *= 4


def _group_weights(g_count: int, resamples: int, seed: int) -> FloatArray:
    """Multinomial(G, 1/G) counts per resample, drawn as G group indices and counted
    (much faster than Generator.multinomial with thousands of categories)."""
    rng = np.random.default_rng(seed)
    return _row_counts(rng.integers(0, g_count, size=(resamples, g_count)), g_count)


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
    g_count = (n - 1) // g + 1
    out = []
    for x, c in enumerate(cs):
        row = []
        for y, b in enumerate(bs):
            weights = _group_weights(g_count, resamples, seeds[x][y])
            ratios = c.weighted_quantiles(g, weights, q) / b.weighted_quantiles(g, weights, q)
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
