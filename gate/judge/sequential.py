"""Sequential decisions: sample in rounds, look after each, stop as soon as the evidence decides.

A fixed sample size is the wrong design for a gate: a 10x regression is plain after one round,
a change just inside the tolerance needs many. So every check is judged after each round
("look") with a **group-sequential design**: an alpha-spending function (Lan & DeMets 1983) of
the information fraction ``t`` (the share of the budget used so far) says how much of the
check's error rate each look may use, and each look's one-sided tests run at that look's share.
The shares sum to at most the check's alpha, so by Bonferroni over looks the chance of any
wrong decision over the whole sequence stays at or below alpha **whatever the dependence
between looks and whatever the statistic** (a t-test on block units, a score test, a
bootstrap): optional stopping cannot inflate it. Exact group-sequential boundaries would be
slightly tighter but need independent normal increments, which block medians of a drifting
server do not promise.

The decision at a look is three-way, from the repeated confidence interval of the effect θ
(Jennison & Turnbull's RCI: the interval at the level spent so far at this look):

* **FAIL** (BLOCKED) when the whole interval is beyond the tolerance (harm shown);
* **PASS** when the whole interval is within the tolerance (safety shown);
* otherwise **undecided**: look again after the next round. At the last look (budget spent)
  undecided is **INCONCLUSIVE**, reported with the smallest effect beyond the tolerance the
  data could have shown (MDE), except in non-inferiority mode, where "not shown safe" fails.

Because the RCIs hold simultaneously over all looks, the interval reported when a check stops
covers the true effect with at least its stated confidence, however the stopping went.

Effects are on an additive scale where "worse" is a known sign: log ratios for latency and
throughput, points for accuracy, MiB or log ratios for memory. ``worse=+1`` means larger is
worse (latency, memory), ``worse=-1`` means smaller is worse (throughput, accuracy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
from numpy.typing import ArrayLike, NDArray


class Outcome(str, Enum):
    """A check's state after a look."""

    PASS = "pass"
    FAIL = "fail"
    UNDECIDED = "undecided"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Spending:
    """An alpha-spending function of the power family: ``alpha * t**rho``.

    ``rho`` sets how the error rate is spread over looks: large ``rho`` keeps almost all of it
    for the end (O'Brien–Fleming-like: early looks decide only overwhelming effects, so a
    decision at the full budget is nearly as sharp as a fixed design's), ``rho = 1`` spends
    evenly (Pocock-like: earlier decisions, a wider final interval). ``rho = 2`` is the
    default: a 10x regression still stops at the first look, and a design that runs to the
    end loses little.
    """

    alpha: float
    rho: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), not {self.alpha}")
        if self.rho <= 0:
            raise ValueError(f"rho must be > 0, not {self.rho}")

    def cumulative(self, t: float) -> float:
        """Error rate spent by information fraction ``t`` (0 at 0, ``alpha`` at 1)."""
        t = min(1.0, max(0.0, t))
        return float(self.alpha * t**self.rho)

    def at_look(self, t_previous: float, t: float) -> float:
        """The one-sided error rate this look may use: the spending between the two looks."""
        if t < t_previous:
            raise ValueError(f"information fraction went back from {t_previous} to {t}")
        return self.cumulative(t) - self.cumulative(t_previous)


@dataclass(frozen=True)
class Estimate:
    """An effect estimate with its standard error and degrees of freedom (``inf``: normal)."""

    value: float
    se: float
    df: float

    def quantile(self, p: float) -> float:
        """The ``p`` quantile of the estimate's reference distribution (t or normal)."""
        from scipy.stats import norm, t

        return float(norm.ppf(p) if math.isinf(self.df) else t.ppf(p, self.df))

    def interval(self, alpha_one_sided: float) -> tuple[float, float]:
        """Two-sided interval of level ``1 - 2*alpha_one_sided``."""
        if self.se == 0.0:
            return self.value, self.value
        if alpha_one_sided <= 0.0:
            return -math.inf, math.inf
        q = self.quantile(1.0 - alpha_one_sided)
        return self.value - q * self.se, self.value + q * self.se

    def p_above(self, margin: float) -> float:
        """One-sided p-value for H1: effect > margin."""
        return self._sf(
            (self.value - margin) / self.se if self.se else _signed_inf(self.value - margin)
        )

    def p_below(self, margin: float) -> float:
        """One-sided p-value for H1: effect < margin."""
        return self._sf(
            (margin - self.value) / self.se if self.se else _signed_inf(margin - self.value)
        )

    def _sf(self, z: float) -> float:
        from scipy.stats import norm, t

        return float(norm.sf(z) if math.isinf(self.df) else t.sf(z, self.df))


def _signed_inf(x: float) -> float:
    return math.inf if x > 0 else (-math.inf if x < 0 else 0.0)


def mean_of_units(units: ArrayLike) -> Estimate:
    """Mean of independent units (block-pair log ratios, window pairs, repeated loads) and its
    t standard error. Needs at least two units; identical units give ``se = 0``."""
    u = np.asarray(units, dtype=np.float64).ravel()
    if u.size < 2:
        raise ValueError(f"need at least 2 units to estimate the noise, got {u.size}")
    if not np.all(np.isfinite(u)):
        raise ValueError("units must be finite")
    return Estimate(float(u.mean()), float(u.std(ddof=1) / math.sqrt(u.size)), float(u.size - 1))


@dataclass(frozen=True)
class Look:
    """What one look of one check concluded."""

    outcome: Outcome
    estimate: float
    ci_low: float
    ci_high: float
    confidence: float  # of [ci_low, ci_high]: 1 - 2 * alpha_spent
    alpha_spent: float  # one-sided, cumulative up to and including this look
    p_harm: float  # H1: beyond the tolerance in the worse direction
    p_safe: float  # H1: within the tolerance
    mde: float  # smallest true effect beyond the tolerance detectable at `power` (signed)
    information: float  # the information fraction of this look

    @property
    def decided(self) -> bool:
        return self.outcome in (Outcome.PASS, Outcome.FAIL)


def judge_look(
    est: Estimate,
    *,
    margin: float,
    worse: int,
    spending: Spending,
    t_previous: float,
    t: float,
    final: bool,
    non_inferiority: bool = False,
    power: float = 0.8,
) -> Look:
    """Decide one check at one look from its effect estimate.

    ``margin`` is the tolerance on the effect's scale, signed so that an effect beyond it in
    the ``worse`` direction is harm (e.g. ``log(1.05)`` with ``worse=+1`` for latency,
    ``log(0.90)`` with ``worse=-1`` for throughput). The look's tests run at the level spent
    between ``t_previous`` and ``t``; the interval reported is the repeated interval at that
    level, so it covers with at least ``1 - 2*alpha`` over the whole sequence.
    """
    if worse not in (1, -1):
        raise ValueError("worse must be +1 or -1")
    a = spending.at_look(t_previous, t)
    if final:  # the last look may use whatever the earlier looks did not
        a = spending.alpha - spending.cumulative(t_previous)
    lo, hi = est.interval(a)
    if worse > 0:
        p_harm, p_safe = est.p_above(margin), est.p_below(margin)
        harm, safe = lo > margin, hi < margin
    else:
        p_harm, p_safe = est.p_below(margin), est.p_above(margin)
        harm, safe = hi < margin, lo > margin
    if harm:
        outcome = Outcome.FAIL
    elif safe:
        outcome = Outcome.PASS
    elif final:
        outcome = Outcome.FAIL if non_inferiority else Outcome.INCONCLUSIVE
    else:
        outcome = Outcome.UNDECIDED
    mde = margin + worse * _detectable(est, a, power)
    return Look(
        outcome=outcome,
        estimate=est.value,
        ci_low=lo,
        ci_high=hi,
        confidence=1.0 - 2.0 * a,
        alpha_spent=a,
        p_harm=p_harm,
        p_safe=p_safe,
        mde=mde,
        information=t,
    )


def _detectable(est: Estimate, alpha: float, power: float) -> float:
    """How far beyond the margin a true effect must be to be shown harmful with ``power``."""
    if est.se == 0.0:
        return 0.0
    if alpha <= 0.0:
        return math.inf
    return (est.quantile(1.0 - alpha) + est.quantile(power)) * est.se


def block_pair_units(
    a: ArrayLike, b: ArrayLike, block_size: int, *, statistic: str = "median", q: float = 50.0
) -> NDArray[np.float64]:
    """One unit per block of paired requests: the statistic of ``log b`` minus that of ``log a``.

    ``a[i]`` and ``b[i]`` are request ``i`` of the recorded traffic sent to each arm; blocks
    are the interleaved replay's blocks, so a unit compares the two arms over the same payloads
    at nearly the same time, and load that changes between blocks stays inside a unit instead
    of correlating the evidence. ``statistic``: ``median`` (of the per-request log ratios: the
    typical shift) or ``quantile`` (log of arm B's ``q``-th percentile over arm A's, per block).
    A trailing partial block shorter than half a block is dropped (too noisy to weigh alike).
    """
    la = np.log(np.asarray(a, dtype=np.float64))
    lb = np.log(np.asarray(b, dtype=np.float64))
    if la.shape != lb.shape or la.ndim != 1:
        raise ValueError("arms must be 1-D and of equal length")
    if not (np.all(np.isfinite(la)) and np.all(np.isfinite(lb))):
        raise ValueError("latencies must be positive and finite")
    if block_size < 1:
        raise ValueError("block_size must be >= 1")
    n_full = la.size // block_size
    rest = la.size - n_full * block_size
    spans = [(i * block_size, (i + 1) * block_size) for i in range(n_full)]
    if rest * 2 >= block_size:
        spans.append((n_full * block_size, la.size))
    if statistic == "median":
        return np.array([np.median(lb[s:e] - la[s:e]) for s, e in spans], dtype=np.float64)
    if statistic == "quantile":
        return np.array([np.percentile(lb[s:e], q) - np.percentile(la[s:e], q) for s, e in spans])
    raise ValueError(f"unknown statistic {statistic!r}")


def information_fraction(used: float, budget: float) -> float:
    """The share of the budget used, in [0, 1] (the x-axis of the spending function)."""
    if budget <= 0:
        raise ValueError("budget must be > 0")
    return min(1.0, max(0.0, used / budget))


def split_alpha(alpha: float, checks: int) -> float:
    """Each check's share of the run's family-wise alpha (Bonferroni over the checks that
    decide sequentially; Holm's recycling does not carry over to checks stopping at
    different looks)."""
    if checks < 1:
        raise ValueError("at least one check")
    return alpha / checks


def run_sequence(estimates: Sequence[Estimate], fractions: Sequence[float], **kw: object) -> Look:
    """Replay a sequence of looks (for tests and simulation): the first decided look, or the
    last one. ``fractions[i]`` is the information fraction of look ``i``; the last is final."""
    if len(estimates) != len(fractions) or not estimates:
        raise ValueError("one fraction per estimate, at least one look")
    prev = 0.0
    look: Look | None = None
    for i, (est, t) in enumerate(zip(estimates, fractions, strict=True)):
        look = judge_look(est, t_previous=prev, t=t, final=i == len(estimates) - 1, **kw)  # type: ignore[arg-type]
        if look.decided:
            return look
        prev = t
    assert look is not None
    return look
