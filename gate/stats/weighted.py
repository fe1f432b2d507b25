"""Weighted order statistics of one sorted run, for many weight vectors at once.

A bootstrap resample of a run is a weight per request (how often it was drawn) or per
group of consecutive requests; its quantile is a weighted quantile of the run sorted once.
``SortedRun`` holds that sorted run and what every pair reading it needs, and reads the
quantile of thousands of resamples without building any: each resample's quantile lies
near the run's own, about ``offset`` positions away, so it is found by a running sum over a
short window of sorted positions (``_rows_by_offset``), exact for the weights given.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from gate.stats.common import FloatArray, IntArray, as_1d

#: Half-width of the fallback window, in standard deviations of the rows' quantile positions.
#: Any value gives the same (exact) result; a window too narrow for some row is widened 4×.
_WINDOW_SDS = 6.0
#: Resamples handled together, in order of where their quantile lies (``_rows_by_offset``).
_ROW_CHUNK = 128
#: Up to this many cells (resamples × window positions) one window for all is cheaper.
_ONE_WINDOW_CELLS = 400_000


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
        self._below: dict[tuple[int, float], FloatArray] = {}
        self._first: dict[int, FloatArray] = {}

    def percentile(self, q: float) -> float:
        """``np.percentile`` of the run."""
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
        if j not in self._first:  # which requests hold the j smallest values
            self._first[j] = np.zeros(self.x.size)
            self._first[j][self.order[:j]] = 1.0
        below = self._first[j]
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
    """The sorted position the weighted q-quantiles are sought around."""
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
