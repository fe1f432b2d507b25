"""Tails: paired bootstraps of a percentile ratio candidate/baseline.

Two resampling schemes, both keeping the pairing (request i of one run with request i of
the other: same payload, same moment of the replay):

* ``bootstrap_quantile_ratio`` resamples single requests, R × n work: the per-request
  bootstrap for short runs;
* ``grouped_bootstrap_quantile_ratio`` resamples contiguous groups (at most ``max_groups``),
  which also keeps short-range autocorrelation: O(n log n + R·(G + window)).

Neither builds a resample: each is a weight per request or group, and its percentile is
read from the run sorted once (``gate.stats.weighted.SortedRun``), exactly the value
np.percentile / the weighted inverse CDF gives. Work shared across pairs: a run's sort, its
groups and its percentile are computed once however many baseline × candidate pairs read
them (``grouped_bootstrap_quantile_ratios``); only the resampling weights are per pair
(each pair has its own seed, so the numbers do not depend on which pairs are judged
together).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from gate.stats.common import Alternative, FloatArray, IntArray, as_1d
from gate.stats.weighted import SortedRun

#: Up to this many categories one bincount over all resamples beats one per resample.
_ONE_BINCOUNT_GROUPS = 64


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
