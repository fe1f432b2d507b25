"""Statistics for accuracy, output agreement and absolute SLOs. Pure functions, no I/O.

Everything here works on counts or on whole numpy arrays, so an eval set of 10^5 samples is
judged in milliseconds (see ``benchmarks/accuracy_speed.py``).

* **Paired proportions** (per-sample correctness of baseline and candidate on the same eval
  set). Only the discordant samples carry information: ``losses`` (baseline right, candidate
  wrong) and ``gains`` (the reverse). The drop ``Δ = p_baseline − p_candidate`` is judged
  against a margin with **Tango's score test** (Tango 1998, Stat Med 17:891), whose null
  variance uses the restricted maximum-likelihood estimate under ``Δ = margin``, with a
  continuity correction of half a count; its inversion is Tango's score CI. Exact McNemar
  is reported for "any change at all".
* **One proportion** against a floor (``min_accuracy``, an accuracy SLO, top-1 agreement):
  exact binomial test and its Clopper–Pearson interval, so the level holds at any N.
* **A percentile** against a limit (latency SLOs, p99 of |Δ|): the distribution-free
  order-statistic CI and the binomial (sign) test that it inverts.
* **Paired means** of continuous per-sample scores (absolute/squared error, user metrics):
  the ratio ``mean(c)/mean(b)`` against ``1 ± τ`` with a paired t-test on
  ``c_i − ρ·b_i`` and Fieller's interval for the ratio (no assumption that the baseline mean
  is known exactly).

All one-sided conventions follow ``gate.stats``: ``alternative="greater"`` asks whether the
quantity is above the margin (regression mode: harm demonstrated), ``"less"`` whether it is
below (non-inferiority: safety demonstrated). CIs are two-sided with ``alpha`` per side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Alternative = Literal["greater", "less"]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided CI (``alpha`` per side) and a one-sided p-value."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    se: float  # a normal-equivalent standard error, for minimum detectable effects


def _z(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha))


# --------------------------------------------------------------------------------------
# Paired proportions: Tango's score test and CI, exact McNemar
# --------------------------------------------------------------------------------------


def tango_restricted_p01(losses: int, gains: int, n: int, delta: float) -> float:
    """Restricted MLE of P(gain) under ``P(loss) − P(gain) = delta`` (Tango 1998, eq. 3)."""
    w = -losses - gains + (2 * n - losses + gains) * delta
    disc = w * w + 8.0 * n * gains * delta * (1.0 - delta)
    return max(0.0, (math.sqrt(max(disc, 0.0)) - w) / (4.0 * n))


#: Continuity correction (in discordant-count units) applied towards the null. Seeded
#: simulations (tests/test_accuracy_simulation.py, benchmarks/accuracy_simulation.py) showed
#: the uncorrected score test a little above alpha at the margin for small discordance
#: (0.056 at N=500 with 1% flips each way); half a count brings it to <= alpha everywhere
#: simulated at a small cost in power.
CONTINUITY = 0.5


def tango_z(losses: int, gains: int, n: int, delta: float, correction: float = 0.0) -> float:
    """Tango's score statistic for H0: drop = ``delta`` (decreasing in ``delta``).

    ``correction`` is subtracted from the numerator (positive: towards "smaller drop",
    the conservative side for a one-sided "greater" test; negative for "less").
    """
    if n <= 0:
        raise ValueError("n must be positive")
    p01 = tango_restricted_p01(losses, gains, n, delta)
    var = n * (2.0 * p01 + delta * (1.0 - delta))
    num = losses - gains - n * delta - correction
    if var <= 0.0:
        # only when delta == 0 and there are no discordant samples: no evidence either way
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def tango_ci(
    losses: int, gains: int, n: int, alpha: float, correction: float = CONTINUITY
) -> tuple[float, float]:
    """Tango's score CI for the drop, ``alpha`` per side (a 1 − 2·alpha interval).

    Each bound inverts the one-sided test of its side, with the continuity correction
    towards the null, so the CI and the p-value always agree."""
    from scipy.optimize import brentq

    z = _z(alpha)
    point = (losses - gains) / n
    eps = 1e-12

    def f(d: float, target: float, cc: float) -> float:
        return tango_z(losses, gains, n, d, cc) - target

    lo_edge, hi_edge = -1.0 + eps, 1.0 - eps
    c = correction
    # Z is decreasing in d and Z(point) is on the null side of each critical value
    mid = min(max(point, lo_edge), hi_edge)
    lo = lo_edge if f(lo_edge, z, c) <= 0 else float(brentq(f, lo_edge, mid, args=(z, c)))
    hi = hi_edge if f(hi_edge, -z, -c) >= 0 else float(brentq(f, mid, hi_edge, args=(-z, -c)))
    return (max(-1.0, lo), min(1.0, hi))


def paired_proportion_drop(
    baseline: ArrayLike, candidate: ArrayLike, margin: float, alpha: float, alternative: Alternative
) -> Estimate:
    """Drop in the share of correct samples, baseline − candidate, against ``margin``.

    ``baseline`` and ``candidate`` are per-sample 0/1 (or bool) arrays over the same samples.
    ``alternative="less"``: H1 drop < margin (non-inferiority); ``"greater"``: H1 drop >
    margin (regression). p from Tango's score test at the margin; CI by its inversion.
    """
    b = np.asarray(baseline).astype(bool).ravel()
    c = np.asarray(candidate).astype(bool).ravel()
    if b.size != c.size:
        raise ValueError("paired samples must have equal length")
    if b.size == 0:
        raise ValueError("empty sample")
    n = int(b.size)
    losses = int(np.count_nonzero(b & ~c))
    gains = int(np.count_nonzero(~b & c))
    return paired_proportion_drop_counts(losses, gains, n, margin, alpha, alternative)


def paired_proportion_drop_counts(
    losses: int, gains: int, n: int, margin: float, alpha: float, alternative: Alternative
) -> Estimate:
    """:func:`paired_proportion_drop` from the discordant counts alone."""
    from scipy.stats import norm

    if alternative == "less":
        p = float(norm.cdf(tango_z(losses, gains, n, margin, -CONTINUITY)))
    else:
        p = float(norm.sf(tango_z(losses, gains, n, margin, CONTINUITY)))
    lo, hi = tango_ci(losses, gains, n, alpha)
    # the observed discordance gives the se (never 0 so MDEs stay finite)
    disc = max(losses + gains, 1) / n
    se = math.sqrt(max(disc - ((losses - gains) / n) ** 2, 1.0 / n**2) / n)
    return Estimate((losses - gains) / n, lo, hi, p, n, se)


def mcnemar_exact_p(losses: int, gains: int) -> float:
    """Two-sided exact McNemar p-value (binomial test on the discordant samples)."""
    from scipy.stats import binom

    m = losses + gains
    if m == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(losses, gains), m, 0.5)))


# --------------------------------------------------------------------------------------
# One proportion against a limit: exact binomial test, Clopper–Pearson
# --------------------------------------------------------------------------------------


def clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    """Exact CI for a proportion, ``alpha`` per side."""
    from scipy.stats import beta

    lo = 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha, k + 1, n - k))
    return lo, hi


def proportion_vs_limit(
    k: int, n: int, limit: float, alpha: float, alternative: Alternative
) -> Estimate:
    """Exact binomial test of the proportion ``k/n`` against ``limit``.

    ``"greater"``: H1 p > limit (e.g. accuracy shown above a floor); ``"less"``: H1 p < limit.
    """
    from scipy.stats import binom

    if n <= 0:
        raise ValueError("empty sample")
    if not 0 <= k <= n:
        raise ValueError("k outside 0..n")
    if alternative == "greater":
        p = float(binom.sf(k - 1, n, limit))  # P(X >= k)
    else:
        p = float(binom.cdf(k, n, limit))  # P(X <= k)
    lo, hi = clopper_pearson(k, n, alpha)
    phat = k / n
    se = math.sqrt(max(phat * (1 - phat), 1.0 / n) / n)
    return Estimate(phat, lo, hi, min(1.0, p), n, se)


# --------------------------------------------------------------------------------------
# A percentile against a limit: order statistics and the binomial (sign) test
# --------------------------------------------------------------------------------------


def quantile_ci(x: ArrayLike, q: float, alpha: float) -> tuple[float, float]:
    """Distribution-free CI for the ``q``-quantile (0 < q < 1) from order statistics.

    The upper bound is X_(u) with u the smallest rank such that P(Binom(n, q) <= u − 1) >=
    1 − alpha (then P(X_(u) >= ξ_q) >= 1 − alpha for any continuous distribution); the lower
    bound is the mirror. An infinite bound means n is too small for that confidence.
    """
    from scipy.stats import binom

    a = np.asarray(x, dtype=np.float64).ravel()
    n = a.size
    if n == 0:
        raise ValueError("empty sample")
    # upper: j = u - 1 = smallest j with P(B <= j) >= 1 - alpha (binom.ppf's definition)
    j = int(binom.ppf(1 - alpha, n, q))
    # lower: largest l with P(B >= l) >= 1 - alpha, i.e. P(B <= l - 1) <= alpha
    k = int(binom.ppf(alpha, n, q))  # smallest k with P(B <= k) >= alpha
    l_rank = k + 1 if binom.cdf(k, n, q) <= alpha * (1 + 1e-12) else k
    # only two order statistics are needed: a partial sort (O(n)) finds them
    want = sorted({i for i in (j, l_rank - 1) if 0 <= i < n})
    part = np.partition(a, want) if want else a
    hi = float(part[j]) if j < n else math.inf
    lo = float(part[l_rank - 1]) if l_rank >= 1 else -math.inf
    return lo, hi


def quantile_vs_limit(
    x: ArrayLike, q: float, limit: float, alpha: float, alternative: Alternative
) -> Estimate:
    """Is the ``q``-quantile of ``x`` below (``"less"``) or above (``"greater"``) ``limit``?

    The binomial test that the order-statistic CI inverts: under ξ_q = limit the number of
    values below the limit is Binom(n, q). Exact for continuous data, conservative with ties.
    """
    from scipy.stats import binom

    a = np.asarray(x, dtype=np.float64).ravel()
    n = a.size
    if n == 0:
        raise ValueError("empty sample")
    if not np.all(np.isfinite(a)):
        raise ValueError("sample contains NaN or infinity")
    if alternative == "less":
        k = int(np.count_nonzero(a < limit))
        p = float(binom.sf(k - 1, n, q))  # P(B >= k)
    else:
        k = int(np.count_nonzero(a <= limit))
        p = float(binom.cdf(k, n, q))  # P(B <= k)
    lo, hi = quantile_ci(a, q, alpha)
    est = float(np.quantile(a, q))
    z = _z(alpha)
    se = (hi - lo) / (2 * z) if math.isfinite(lo) and math.isfinite(hi) else math.inf
    return Estimate(est, lo, hi, min(1.0, p), n, se)


# --------------------------------------------------------------------------------------
# Paired means of continuous scores: ratio with a paired t-test and Fieller's CI
# --------------------------------------------------------------------------------------


def paired_mean_ratio(
    baseline: ArrayLike,
    candidate: ArrayLike,
    margin_ratio: float,
    alpha: float,
    alternative: Alternative,
) -> Estimate:
    """``mean(candidate) / mean(baseline)`` against ``margin_ratio``, paired by sample.

    H0 for ``"less"``: E[c] >= ρ·E[b]; the test is the one-sample t-test of
    ``c_i − ρ·b_i`` (ρ = ``margin_ratio``), exact in its use of the pairing and needing no
    estimate of E[b] as if it were known. The CI is Fieller's: every ρ the same t-test
    does not reject at ``alpha`` per side. Requires a positive baseline mean.
    """
    from scipy.stats import t as t_dist

    b = np.asarray(baseline, dtype=np.float64).ravel()
    c = np.asarray(candidate, dtype=np.float64).ravel()
    if b.size != c.size:
        raise ValueError("paired samples must have equal length")
    n = int(b.size)
    if n < 2:
        raise ValueError("at least two samples are needed")
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(c))):
        raise ValueError("scores contain NaN or infinity")
    mb, mc = float(b.mean()), float(c.mean())
    if mb <= 0:
        raise ValueError("the baseline's mean score is not positive; a ratio is undefined")
    e = c - margin_ratio * b
    me = float(e.mean())
    sd = float(e.std(ddof=1))
    df = n - 1
    if sd == 0.0:
        p = (0.0 if me < 0 else 1.0) if alternative == "less" else 0.0 if me > 0 else 1.0
    else:
        tstat = me / (sd / math.sqrt(n))
        p = float(t_dist.cdf(tstat, df)) if alternative == "less" else float(t_dist.sf(tstat, df))
    # Fieller: (mc − ρ mb)^2 <= k (s_cc − 2ρ s_cb + ρ^2 s_bb), k = t^2 / n
    tc = float(t_dist.ppf(1 - alpha, df))
    cov = np.cov(np.vstack([b, c]), ddof=1)
    s_bb, s_cb, s_cc = float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])
    k = tc * tc / n
    qa = mb * mb - k * s_bb
    qb = -2.0 * (mb * mc - k * s_cb)
    qc = mc * mc - k * s_cc
    disc = qb * qb - 4 * qa * qc
    if qa > 0 and disc >= 0:
        r = math.sqrt(disc)
        lo, hi = (-qb - r) / (2 * qa), (-qb + r) / (2 * qa)
    else:  # the baseline mean is not distinguishable from 0: the ratio is unbounded
        lo, hi = -math.inf, math.inf
    ratio = mc / mb
    se = math.sqrt(max(s_cc - 2 * ratio * s_cb + ratio * ratio * s_bb, 0.0) / n) / mb
    return Estimate(ratio, lo, hi, p, n, se)


def agreement_stats(base_out: ArrayLike, cand_out: ArrayLike) -> dict[str, NDArray[np.float64]]:
    """Per-sample |Δ| of two output arrays (first axis = sample), flattened per sample max."""
    b = np.asarray(base_out, dtype=np.float64)
    c = np.asarray(cand_out, dtype=np.float64)
    if b.shape != c.shape:
        raise ValueError(f"output shapes differ: baseline {b.shape}, candidate {c.shape}")
    d = np.abs(c - b).reshape(b.shape[0], -1)
    return {"abs_diff": d.ravel(), "max_abs_diff_per_sample": d.max(axis=1)}
