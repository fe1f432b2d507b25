"""The baseline side of a run, kept in the ``RunResult`` so the HTML report needs no store.

``build_comparison`` runs once in ``gate check`` (where the baseline is loaded anyway): it
computes the latency percentile ratios p50/p90/p95/p99 with a seeded paired bootstrap on every
request, and keeps the baseline's latencies thinned to at most ``max_points`` evenly spaced
request indices (the pairing with the candidate is kept). ``gate report run.json --format
html`` then re-renders the same figures later, anywhere, from ``run.json`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gate.result import ClassChange, Comparison, PercentileRatio

FloatArray = npt.NDArray[np.float64]


PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0)
"""The percentiles the HTML report shows as ratios with CIs."""


MAX_POINTS = 5000
"""Most request indices kept per baseline run in ``run.json`` (a few hundred KB at most)."""


def _matrix(runs: Sequence[Sequence[float]], side: str) -> FloatArray:
    if not runs:
        raise ValueError(f"no {side} runs")
    lengths = {len(r) for r in runs}
    if len(lengths) != 1:
        raise ValueError(f"{side} runs differ in length ({sorted(lengths)})")
    m = np.asarray(runs, dtype=np.float64)
    if m.shape[1] == 0:
        raise ValueError(f"{side} runs are empty")
    if not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise ValueError(f"{side} latencies must be finite and positive")
    return m


class _Sorted:
    """All runs of one side pooled and sorted once, with each value's request index.

    A bootstrap draw repeats request ``i`` ``counts[i]`` times in every run, so the sorted
    resample is this sorted array with each value repeated by its request's count; its k-th
    element is found by a search in the running sum of those counts. This yields exactly
    ``np.percentile`` (linear) of the resample without building and partitioning it.
    """

    def __init__(self, x: FloatArray) -> None:
        flat = x.ravel()  # run-major: element r * n + i belongs to request i
        order = np.argsort(flat, kind="stable")
        self.values = flat[order]
        self.request = order % x.shape[1]
        self.total = flat.size

    def quantiles(self, counts: npt.NDArray[np.int64], q: FloatArray) -> FloatArray:
        """(draws, len(q)): the q-th percentiles of each resample given by ``counts`` rows."""
        h = (self.total - 1) * q / 100.0
        k0 = np.floor(h).astype(np.int64)
        k1 = np.minimum(k0 + 1, self.total - 1)
        frac = h - k0
        ks = np.concatenate([k0, k1])
        running = np.cumsum(counts[:, self.request], axis=1)
        out = np.empty((counts.shape[0], q.size), dtype=np.float64)
        for r in range(counts.shape[0]):
            j = np.searchsorted(running[r], ks, side="right")
            lo, hi = self.values[j[: q.size]], self.values[j[q.size :]]
            out[r] = _lerp(lo, hi, frac)
        return out


def _lerp(a: FloatArray, b: FloatArray, t: FloatArray) -> FloatArray:
    """numpy's own linear interpolation (``np.percentile``'s), so results match exactly."""
    diff = b - a
    out: FloatArray = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    return out


def pooled_quantile_ratios(
    candidate: Sequence[Sequence[float]] | FloatArray,
    baseline: Sequence[Sequence[float]] | FloatArray,
    qs: Sequence[float],
    alpha: float,
    *,
    resamples: int,
    seed: int,
) -> list[tuple[float, float, float]]:
    """``Q_q(all candidate runs) / Q_q(all baseline runs)`` with a paired bootstrap CI, per q.

    ``candidate`` is M runs × N requests, ``baseline`` K runs × N requests, paired by request
    index. One bootstrap draw resamples request indices and takes the same indices from every
    run on both sides, so the pairing (same payload, same moment of the replay) and the
    run-to-run spread are both kept; every percentile is read from the same draws (one
    partition per draw, not one per percentile). Pooling runs, rather than a per-request
    median of runs, leaves the tails their true weight when M ≠ K. For M = K = 1 each ratio
    is exactly ``gate.stats.bootstrap_quantile_ratio``'s (same seed, same draws). Returns
    (ratio, low, high) per q, the interval at ``alpha`` per side.
    """
    c = np.asarray(candidate, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if c.ndim != 2 or b.ndim != 2 or c.shape[1] != b.shape[1]:
        raise ValueError("paired samples must be runs × requests with equal request counts")
    q = np.asarray(qs, dtype=np.float64)
    n = c.shape[1]
    rng = np.random.default_rng(seed)
    cside, bside = _Sorted(c), _Sorted(b)
    ratios = np.empty((q.size, resamples), dtype=np.float64)
    width = max(c.shape[0], b.shape[0])
    chunk = max(1, min(resamples, 2_000_000 // max(n * width, 1)))
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(size, n))
        # How often each request was drawn, per draw: one bincount over offset indices.
        offsets = (idx + (np.arange(size) * n)[:, None]).ravel()
        counts = np.bincount(offsets, minlength=size * n).reshape(size, n)
        ratios[:, done : done + size] = (cside.quantiles(counts, q) / bside.quantiles(counts, q)).T
        done += size
    points = np.percentile(c, q) / np.percentile(b, q)
    out = []
    for i in range(q.size):
        lo, hi = np.percentile(ratios[i], [100 * alpha, 100 * (1 - alpha)])
        out.append((float(points[i]), float(lo), float(hi)))
    return out


def pooled_quantile_ratio(
    candidate: Sequence[Sequence[float]] | FloatArray,
    baseline: Sequence[Sequence[float]] | FloatArray,
    q: float,
    alpha: float,
    *,
    resamples: int,
    seed: int,
) -> tuple[float, float, float]:
    """``pooled_quantile_ratios`` for one percentile."""
    (one,) = pooled_quantile_ratios(candidate, baseline, [q], alpha, resamples=resamples, seed=seed)
    return one


def _thin(n: int, max_points: int) -> list[int]:
    """Evenly spaced indices into ``range(n)``, at most ``max_points``; [] means all."""
    if n <= max_points:
        return []
    return [int(i) for i in np.unique(np.linspace(0, n - 1, max_points).round().astype(int))]


def build_comparison(
    baseline: Sequence[Sequence[float]],
    candidate: Sequence[Sequence[float]],
    *,
    alpha: float,
    resamples: int,
    seed: int,
    percentiles: Sequence[float] = PERCENTILES,
    max_points: int = MAX_POINTS,
) -> Comparison:
    """The ``Comparison`` for a run: percentile ratios on all requests, thinned baseline.

    ``alpha`` is per side, as in the checks (a ``1 - 2 alpha`` interval). Raises
    ``ValueError`` on runs that are not replays of one traffic.
    """
    b = _matrix(baseline, "baseline")
    c = _matrix(candidate, "candidate")
    if b.shape[1] != c.shape[1]:
        raise ValueError(
            f"baseline has {b.shape[1]} requests per run, candidate {c.shape[1]}: "
            "not replays of one traffic"
        )
    ratios = pooled_quantile_ratios(c, b, percentiles, alpha, resamples=resamples, seed=seed)
    rows = [
        PercentileRatio(
            percentile=float(q),
            baseline_us=float(np.percentile(b, q)),
            candidate_us=float(np.percentile(c, q)),
            ratio=ratio,
            ci_low=lo,
            ci_high=hi,
        )
        for q, (ratio, lo, hi) in zip(percentiles, ratios, strict=True)
    ]
    n = b.shape[1]
    indices = _thin(n, max_points)
    kept = b[:, indices] if indices else b
    return Comparison(
        requests=n,
        indices=indices,
        baseline_latencies_us=[[round(float(v), 1) for v in run] for run in kept],
        percentiles=rows,
        confidence=1 - 2 * alpha,
        resamples=resamples,
        seed=seed,
    )


def accuracy_deltas(
    baseline: object, candidate: object, *, max_points: int = MAX_POINTS
) -> dict[str, list[float]]:
    """Per metric, candidate minus baseline score per eval sample (paired by sample).

    Takes two ``AccuracyRecord``-like values (``scores`` by metric, each with ``decode()``);
    metrics whose arrays differ in shape are left out. Thinned like the latencies.
    """
    out: dict[str, list[float]] = {}
    b_scores = getattr(baseline, "scores", None) or {}
    c_scores = getattr(candidate, "scores", None) or {}
    for name, enc in c_scores.items():
        if name not in b_scores:
            continue
        c = np.asarray(enc.decode(), dtype=np.float64).ravel()
        b = np.asarray(b_scores[name].decode(), dtype=np.float64).ravel()
        if c.shape != b.shape or c.size == 0:
            continue
        d = c - b
        indices = _thin(d.size, max_points)
        kept = d[indices] if indices else d
        out[name] = [round(float(v), 6) for v in kept]
    return out


def accuracy_class_changes(baseline: object, candidate: object) -> list[ClassChange]:
    """Per label, how many samples became wrong and how many became right at top-1.

    Takes two ``AccuracyRecord``-like values with ``top1`` scores (1 = right) and
    ``top_indices`` (predicted classes, best first). A sample that changed was right on one
    side, so its label is that side's prediction: these counts are exact without the eval
    set's labels. Empty when either record lacks them or they do not pair.
    """
    pairs = []
    for rec in (baseline, candidate):
        scores = getattr(rec, "scores", None) or {}
        top = getattr(rec, "top_indices", None)
        if "top1" not in scores or top is None:
            return []
        right = np.asarray(scores["top1"].decode(), dtype=np.float64).ravel() > 0.5
        pred = np.asarray(top.decode()).reshape(right.size, -1)[:, 0]
        pairs.append((right, pred))
    (b_right, b_pred), (c_right, c_pred) = pairs
    if b_right.shape != c_right.shape:
        return []
    lost = b_right & ~c_right
    won = ~b_right & c_right
    labels = np.unique(np.concatenate([b_pred[lost], c_pred[won]]))
    return [
        ClassChange(
            label=int(k),
            newly_wrong=int(np.count_nonzero(lost & (b_pred == k))),
            newly_right=int(np.count_nonzero(won & (c_pred == k))),
        )
        for k in labels
    ]
