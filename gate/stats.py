"""Distribution-free tests and estimators for paired latency samples. Pure functions, no I/O.

Two layers of evidence, because measured here (DESIGN.md §5) a whole run drifts by several
percent between freshly started servers, more than the noise inside a run:

* **within a run** — requests replayed in the same order pair by index. The log ratio
  ``r_i = ln(c_i / b_i)`` is tested against the tolerance with the Wilcoxon signed-rank test
  and estimated with Hodges–Lehmann (median of Walsh averages) and its distribution-free CI.
  Tails: a percentile ratio with a paired bootstrap CI.
* **between runs** — each stored baseline run and each candidate run gives one run-level
  estimate; their spread estimates the run-to-run drift, and a t-test on run levels asks
  whether the candidate is beyond the tolerance *and* beyond that drift.

The judge blocks only when both layers agree (an intersection–union test: the combined p is
the larger of the two, which keeps the level at alpha).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Alternative = Literal["greater", "less"]
FloatArray = NDArray[np.float64]

#: Below this size Walsh averages are enumerated; above it they are found by bisection.
_BRUTE_FORCE_MAX_N = 1500
#: Below this size the signed-rank null distribution is computed exactly.
_EXACT_MAX_N = 50


def _as_1d(x: ArrayLike) -> FloatArray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError("empty sample")
    if not np.all(np.isfinite(a)):
        raise ValueError("sample contains NaN or infinity")
    return a


# --------------------------------------------------------------------------------------
# Walsh averages, Hodges–Lehmann, signed-rank CI
# --------------------------------------------------------------------------------------


def _walsh_count_le(xs: FloatArray, v: float) -> int:
    """Number of Walsh averages (x_i + x_j)/2, i <= j, that are <= v (xs sorted)."""
    idx = np.searchsorted(xs, 2.0 * v - xs, side="right")
    counts = idx - np.arange(xs.size)
    return int(np.clip(counts, 0, None).sum())


def walsh_kth(x: ArrayLike, k: int) -> float:
    """The k-th smallest (1-based) of the n(n+1)/2 Walsh averages of ``x``.

    Enumerated for small n; for large n found by bisection on the value with an
    O(n log n) counting step, so 100 000 requests need no n² memory.
    """
    xs = np.sort(_as_1d(x))
    n = xs.size
    m = n * (n + 1) // 2
    if not 1 <= k <= m:
        raise ValueError(f"k={k} outside 1..{m}")
    if n <= _BRUTE_FORCE_MAX_N:
        i, j = np.triu_indices(n)
        w = (xs[i] + xs[j]) / 2.0
        return float(np.partition(w, k - 1)[k - 1])
    lo, hi = float(xs[0]), float(xs[-1])
    # invariant: count(lo) < k <= count(hi) (count(lo) may equal k only at the minimum)
    if _walsh_count_le(xs, lo) >= k:
        return lo
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if mid <= lo or mid >= hi:
            break
        if _walsh_count_le(xs, mid) >= k:
            hi = mid
        else:
            lo = mid
    # Snap to the largest actual Walsh average <= hi: that is the k-th one, since
    # count(lo) < k <= count(hi) and no Walsh average lies strictly between lo and hi but it.
    j = np.searchsorted(xs, 2.0 * hi - xs, side="right") - 1
    valid = j >= np.arange(n)
    cand = (xs + xs[np.clip(j, 0, n - 1)]) / 2.0
    cand = cand[valid]
    return float(cand.max()) if cand.size else hi


def hodges_lehmann(x: ArrayLike) -> float:
    """Hodges–Lehmann estimate of the pseudo-median: the median of the Walsh averages."""
    a = _as_1d(x)
    m = a.size * (a.size + 1) // 2
    if m % 2:
        return walsh_kth(a, (m + 1) // 2)
    return 0.5 * (walsh_kth(a, m // 2) + walsh_kth(a, m // 2 + 1))


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
    if n <= _EXACT_MAX_N:
        cdf = _signed_rank_null_cdf(n)
        ok = np.nonzero(cdf <= alpha + 1e-12)[0]
        return int(ok[-1]) if ok.size else -1
    from scipy.stats import norm

    mu = n * (n + 1) / 4.0
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
    return math.floor(mu - 0.5 + float(norm.ppf(alpha)) * sigma)


def signed_rank_ci(x: ArrayLike, alpha: float) -> tuple[float, float]:
    """Distribution-free CI for the pseudo-median with one-sided error ``alpha`` per side.

    The interval [W_(k+1), W_(M-k)] (Walsh averages in order) covers the pseudo-median with
    probability >= 1 - 2·alpha; each bound alone is a one-sided (1 - alpha) bound, which is
    the bound a one-sided test at level alpha is consistent with. Infinite bounds mean the
    sample is too small for that confidence.
    """
    a = _as_1d(x)
    n = a.size
    m = n * (n + 1) // 2
    k = signed_rank_critical(n, alpha)
    if k < 0:
        return (-math.inf, math.inf)
    return (walsh_kth(a, k + 1), walsh_kth(a, m - k))


def wilcoxon_p(d: ArrayLike, alternative: Alternative) -> float:
    """One-sided Wilcoxon signed-rank p-value for H1: location of ``d`` > 0 (or < 0).

    scipy's implementation (exact for small untied samples, normal approximation with tie
    correction otherwise); zeros are dropped (Wilcoxon's method). All-zero input is no
    evidence at all: p = 1.
    """
    from scipy.stats import wilcoxon

    a = _as_1d(d)
    if not np.any(a != 0):
        return 1.0
    res = wilcoxon(a, alternative=alternative, zero_method="wilcox")
    return float(res.pvalue)


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
    log_ratio: ArrayLike, margin: float, alpha: float, alternative: Alternative
) -> ShiftTest:
    """Wilcoxon signed-rank test of ``log_ratio - margin`` and the HL estimate with its CI.

    ``alternative="greater"`` is regression mode (H0: shift <= margin); ``"less"`` is
    non-inferiority (H0: shift >= margin). ``se`` is a normal-equivalent standard error
    read off the CI width, used only for minimum detectable effects.
    """
    r = _as_1d(log_ratio)
    p = wilcoxon_p(r - margin, alternative)
    est = hodges_lehmann(r)
    lo, hi = signed_rank_ci(r, alpha)
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha))
    se = (hi - lo) / (2 * z) if math.isfinite(lo) and math.isfinite(hi) else math.inf
    return ShiftTest(estimate=est, ci_low=lo, ci_high=hi, p_value=p, n=int(r.size), se=se)


# --------------------------------------------------------------------------------------
# Tails: paired bootstrap of a percentile ratio
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuantileRatioTest:
    """Percentile ratio candidate/baseline (linear scale) with a paired bootstrap CI."""

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    se_log: float


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


# --------------------------------------------------------------------------------------
# Between runs: drift-aware test on run-level effects
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunLevelTest:
    """Candidate-vs-baseline shift on run level, with the drift between runs as its noise."""

    estimate: float  # mean candidate-vs-baseline shift (log scale)
    ci_low: float
    ci_high: float
    p_value: float
    sd_run: float  # run-to-run standard deviation of the level (log scale)
    se: float
    df: int


def pairwise_run_test(
    cand_vs_base: ArrayLike,
    base_vs_base: ArrayLike,
    margin: float,
    alpha: float,
    alternative: Alternative,
    cand_vs_cand: ArrayLike | None = None,
) -> RunLevelTest:
    """Pooled two-sample t-test on run levels, from pairwise run comparisons.

    Each run r has an unknown level L_r (its drift). ``cand_vs_base[c, k]`` estimates
    L_c − L_k, ``base_vs_base[j, k]`` estimates L_j − L_k (only j < k is read), and likewise
    ``cand_vs_cand``. Comparing runs pairwise keeps every comparison symmetric under H0
    (two runs of the same model are exchangeable), with no reference run that is special.
    When the pairwise values are exact differences of levels, the result equals
    ``scipy.stats.ttest_ind(cand_levels, base_levels + margin, equal_var=True)``.
    """
    from scipy.stats import t as t_dist

    cb = np.atleast_2d(np.asarray(cand_vs_base, dtype=np.float64))
    bb = np.atleast_2d(np.asarray(base_vs_base, dtype=np.float64))
    m_runs, k_runs = cb.shape
    if bb.shape != (k_runs, k_runs):
        raise ValueError("base_vs_base must be K x K")
    if k_runs < 2:
        raise ValueError("at least two baseline runs are needed to estimate run-to-run drift")
    ss = float(np.sum(np.triu(bb, 1) ** 2)) / k_runs
    df = k_runs - 1
    if cand_vs_cand is not None and m_runs > 1:
        cc = np.atleast_2d(np.asarray(cand_vs_cand, dtype=np.float64))
        ss += float(np.sum(np.triu(cc, 1) ** 2)) / m_runs
        df += m_runs - 1
    sd = math.sqrt(ss / df)
    se = sd * math.sqrt(1.0 / k_runs + 1.0 / m_runs)
    est = float(np.mean(cb))
    tcrit = float(t_dist.ppf(1 - alpha, df))
    if se == 0.0:
        exceeds = est > margin if alternative == "greater" else est < margin
        p = 0.0 if exceeds else 1.0
    else:
        tstat = (est - margin) / se
        p = (
            float(t_dist.sf(tstat, df))
            if alternative == "greater"
            else float(t_dist.cdf(tstat, df))
        )
    return RunLevelTest(
        estimate=est,
        ci_low=est - tcrit * se,
        ci_high=est + tcrit * se,
        p_value=p,
        sd_run=sd,
        se=se,
        df=df,
    )


def mde_t(se: float, df: int, alpha: float, power: float) -> float:
    """Smallest shift beyond the margin that a one-sided t-test detects with ``power``."""
    from scipy.stats import t as t_dist

    return float((t_dist.ppf(1 - alpha, df) + t_dist.ppf(power, df)) * se)


def mde_z(se: float, alpha: float, power: float) -> float:
    """Smallest shift beyond the margin that a one-sided z-like test detects with ``power``."""
    from scipy.stats import norm

    return float((norm.ppf(1 - alpha) + norm.ppf(power)) * se)


# --------------------------------------------------------------------------------------
# Across checks
# --------------------------------------------------------------------------------------


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1).

    Rejecting every hypothesis whose adjusted p is below alpha keeps the family-wise error
    rate at alpha whatever the dependence between the checks.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adj_sorted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adj = np.empty(m)
    adj[order] = np.minimum(adj_sorted, 1.0)
    return [float(v) for v in adj]


def naive_percentile_rule(
    candidate: ArrayLike, baseline: ArrayLike, q: float, tolerance: float
) -> bool:
    """The rule gate replaces: "p95 within tolerance" on one run each. True = would block.

    Kept for benchmarks and simulations that show its false-alarm rate beside the judge's.
    """
    c = _as_1d(candidate)
    b = _as_1d(baseline)
    return bool(np.percentile(c, q) > (1 + tolerance) * np.percentile(b, q))
