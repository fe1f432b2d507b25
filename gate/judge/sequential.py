"""Sequential decisions: sample in rounds, look after each, stop as soon as the evidence decides.

A fixed sample size is the wrong design for a gate: a 10x regression is plain after one round,
a change just inside the tolerance needs many. So every check is judged after each round
("look") with a **group-sequential design**: an alpha-spending function (Lan & DeMets 1983) of
the information fraction ``t`` (the share of the sampling budget used so far) says how much of
the check's error rate may be used up to each look, and each look's boundary is the exact one
for that spending (``gate.stats.boundaries``): the statistic at successive looks is a mean of
independent units (block pairs of a live A/B replay, window pairs, candidate runs against the
stored runs), so it has the canonical joint distribution and the chance of ever crossing is
exactly what was spent, however many looks there are. With few units the statistic is a t,
not a z: each look uses the boundary's nominal level with the t reference distribution
(Jennison & Turnbull 2000, section 11.2); ``benchmarks/sequential_simulation.py`` checks the
error rates and the coverage by simulation, drift, heavy tails and autocorrelation included.
``Boundaries.BONFERRONI`` (each look at its own share of the spending) is kept for a statistic
that is not a mean of independent units: valid for any dependence, but weaker at every look.

The decision at a look is three-way, from the repeated confidence interval of the effect θ
(Jennison & Turnbull's RCI: the interval at the look's nominal level):

* **FAIL** (BLOCKED) when the whole interval is beyond the tolerance (harm shown);
* **PASS** when the whole interval is within the tolerance (safety shown);
* otherwise **undecided**: look again after the next round. At the last look (budget spent)
  undecided is **INCONCLUSIVE**, reported with the smallest effect beyond the tolerance the
  data could have shown (MDE), except in non-inferiority mode, where "not shown safe" fails.

Each of the two one-sided tests (harm, safety) has its own spending: harm at the check's
Bonferroni share of the run's alpha (a false BLOCKED needs only one check to cry harm, so
the shares must add up), safety at the whole of the run's alpha (``safe_spending``): a PASS
verdict needs *every* check shown safe, so a truly harmful check must itself be wrongly shown
safe for the verdict to pass it, which happens with probability at most its own alpha (the
intersection-union principle, Berger 1982: no multiplicity correction is needed for a
conclusion that requires all tests to reject). Stopping because the other test decided can
only lower a test's chance of a wrong decision. Because the RCIs hold simultaneously over all
looks, the interval reported when a check stops (its harm-side bound at the harm level, its
safe-side bound at the safety level) covers the true effect with probability at least
``1 - alpha_harm - alpha_safe`` (its stated confidence), however the stopping went.

Effects are on an additive scale where "worse" is a known sign: log ratios for latency and
throughput, points for accuracy, bytes for memory. ``worse=+1`` means larger is worse
(latency, memory), ``worse=-1`` means smaller is worse (throughput).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray


class Outcome(str, Enum):
    """A check's state after a look."""

    PASS = "pass"
    FAIL = "fail"
    UNDECIDED = "undecided"
    INCONCLUSIVE = "inconclusive"


class Boundaries(str, Enum):
    """How a look's level follows from the spending (see the module docstring)."""

    EXACT = "exact"
    BONFERRONI = "bonferroni"


@dataclass(frozen=True)
class Spending:
    """An alpha-spending function of the power family: ``alpha * t**rho``.

    ``rho`` sets how the error rate is spread over the budget: large ``rho`` keeps almost all
    of it for the end (O'Brien–Fleming-like: early looks decide only overwhelming effects),
    ``rho = 1`` spends evenly (Pocock-like: earlier decisions, a wider final interval), and
    ``rho < 1`` spends early. ``alpha`` is one-sided, per check and per direction.
    """

    alpha: float
    rho: float = 1.0

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
        """The spending between two looks."""
        if t < t_previous:
            raise ValueError(f"information fraction went back from {t_previous} to {t}")
        return self.cumulative(t) - self.cumulative(t_previous)


@dataclass(frozen=True)
class Estimate:
    """An effect estimate with its standard error, degrees of freedom (``inf``: normal) and
    statistical information (the number of independent units it averages, or its
    equivalent: what the boundaries' correlation between looks is computed from)."""

    value: float
    se: float
    df: float
    information: float = 1.0

    def quantile(self, p: float) -> float:
        """The ``p`` quantile of the estimate's reference distribution (t or normal)."""
        from scipy.special import ndtri, stdtrit

        return float(ndtri(p) if math.isinf(self.df) else stdtrit(self.df, p))

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
        from scipy.special import ndtr, stdtr

        return float(1.0 - ndtr(z) if math.isinf(self.df) else stdtr(self.df, -z))


def _signed_inf(x: float) -> float:
    return math.inf if x > 0 else (-math.inf if x < 0 else 0.0)


def mean_of_units(units: ArrayLike) -> Estimate:
    """Mean of independent units (block-pair log ratios, window pairs, load repetitions) and
    its t standard error. Needs at least two units; identical units give ``se = 0``."""
    u = np.asarray(units, dtype=np.float64).ravel()
    if u.size < 2:
        raise ValueError(f"need at least 2 units to estimate the noise, got {u.size}")
    if not np.all(np.isfinite(u)):
        raise ValueError("units must be finite")
    return Estimate(
        float(u.mean()), float(u.std(ddof=1) / math.sqrt(u.size)), float(u.size - 1), u.size
    )


#: Share cut from each end of the units before their mean: 20%, the usual robust choice,
#: loses little when the units are normal and much less than the mean when a few are far
#: out (a throughput window pair disturbed by a co-tenant, a block pair beside a burst).
TRIM = 0.2


def trimmed_mean_of_units(units: ArrayLike, trim: float = TRIM) -> Estimate:
    """The ``trim``-trimmed mean of independent units and its Tukey–McLaughlin standard error
    (the winsorized standard deviation over ``(1 - 2·trim)·sqrt(n)``, ``n - 2g - 1`` degrees
    of freedom with ``g = floor(trim·n)`` units cut from each end; as ``scipy.stats.trim_mean``
    and ``scipy.stats.mstats.trimmed_stde`` compute them). Units in these sessions are
    heavy-tailed: on this machine one throughput window pair in five or so is disturbed
    (a pair's log ratio of ±0.4 among pairs within ±0.1), and the plain mean's standard error
    is then two to three times the trimmed mean's. With fewer than five units nothing is cut
    and this is ``mean_of_units``."""
    u = np.sort(np.asarray(units, dtype=np.float64).ravel())
    n = u.size
    g = int(trim * n)
    if g == 0:
        return mean_of_units(u)
    if not np.all(np.isfinite(u)):
        raise ValueError("units must be finite")
    w = np.clip(u, u[g], u[n - g - 1])
    se = float(w.std(ddof=1) / ((1.0 - 2.0 * trim) * math.sqrt(n)))
    return Estimate(float(u[g : n - g].mean()), se, float(n - 2 * g - 1), float(n))


def difference_of_levels(cand: ArrayLike, base: ArrayLike) -> Estimate:
    """Candidate run levels minus baseline run levels (one number per freshly started
    server), pooled-variance t: the stored-baseline design, where the run-to-run drift is the
    noise. Its information ``K·m/(K+m)`` never exceeds ``K``, the baseline's run count: more
    candidate runs cannot shrink the interval below what ``K`` allows."""
    c = np.asarray(cand, dtype=np.float64).ravel()
    b = np.asarray(base, dtype=np.float64).ravel()
    k, m = b.size, c.size
    if k < 1 or m < 1 or k + m < 3:
        raise ValueError(f"need at least 3 runs in all to estimate the drift, got {k}+{m}")
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(b))):
        raise ValueError("run levels must be finite")
    ss = float(np.sum((c - c.mean()) ** 2) + np.sum((b - b.mean()) ** 2))
    df = k + m - 2
    se = math.sqrt(ss / df * (1.0 / k + 1.0 / m))
    return Estimate(float(c.mean() - b.mean()), se, float(df), k * m / (k + m))


@dataclass(frozen=True)
class LookPoint:
    """Where one look happened: the information fraction ``t`` (share of the budget used) and
    whether it was the last (the budget spent: it spends whatever is left)."""

    t: float
    final: bool = False


@dataclass(frozen=True)
class Look:
    """What the looks of one check concluded (the first decided look, or the last)."""

    outcome: Outcome
    estimate: float
    ci_low: float
    ci_high: float
    confidence: float  # of the interval, simultaneous over all looks: 1 - alpha_harm - alpha_safe
    nominal: float  # the look's one-sided nominal level
    p_harm: float  # H1: beyond the tolerance in the worse direction (fixed-sample p)
    p_safe: float  # H1: within the tolerance
    mde: float  # smallest true effect beyond the tolerance detectable at `power` (signed)
    information: float  # the information fraction of this look
    look: int  # 1-based index of the look among all looks
    units: float  # the estimate's information (units) at this look
    se: float = 0.0

    @property
    def decided(self) -> bool:
        return self.outcome in (Outcome.PASS, Outcome.FAIL)


@lru_cache(maxsize=4096)
def nominal_levels(
    information: tuple[float, ...],
    fractions: tuple[float, ...],
    spending: Spending,
    how: Boundaries = Boundaries.EXACT,
) -> tuple[float, ...]:
    """Each look's one-sided nominal level, from the information and the budget fraction at
    every look so far. Cached: a run looks at the same prefix of looks again after every
    round, and a saved run is judged again from the same record."""
    cum = [spending.cumulative(t) for t in fractions]
    spent = [max(0.0, c - p) for c, p in zip(cum, [0.0, *cum[:-1]], strict=True)]
    if how is Boundaries.BONFERRONI:
        return tuple(spent)
    from gate.stats.boundaries import nominal_levels as exact

    return tuple(exact(information, spent))


def judge_sequence(
    estimates: Sequence[Estimate | None],
    points: Sequence[LookPoint],
    *,
    margin: float,
    worse: int,
    spending: Spending,
    non_inferiority: bool = False,
    power: float = 0.8,
    boundaries: Boundaries = Boundaries.EXACT,
    safe_spending: Spending | None = None,
) -> Look:
    """Decide one check from its estimate at each look (None: no estimate at that look, e.g.
    too few units yet, or no new ones); the first decided look wins.

    ``margin`` is the tolerance on the effect's scale, signed so that an effect beyond it in
    the ``worse`` direction is harm (e.g. ``log(1.05)`` with ``worse=+1`` for latency,
    ``log(0.90)`` with ``worse=-1`` for throughput). A look at a final point spends all that is
    left; if the last point is final and nothing decided, the check is INCONCLUSIVE (FAIL in
    non-inferiority mode), else UNDECIDED. ``spending`` is the harm test's, ``safe_spending``
    the safety test's (default: the same; see the module docstring for why it may be larger).
    """
    if worse not in (1, -1):
        raise ValueError("worse must be +1 or -1")
    if len(estimates) != len(points) or not points:
        raise ValueError("one estimate (or None) per look, at least one look")
    used: list[tuple[int, Estimate, float]] = []
    for i, (est, pt) in enumerate(zip(estimates, points, strict=True)):
        if est is None or (used and est.information <= used[-1][1].information):
            continue
        used.append((i, est, 1.0 if pt.final else pt.t))
    if not used:
        raise ValueError("no look had an estimate")
    info, fractions = tuple(u[1].information for u in used), tuple(u[2] for u in used)
    safe = safe_spending or spending
    harm_levels = nominal_levels(info, fractions, spending, boundaries)
    safe_levels = nominal_levels(info, fractions, safe, boundaries)
    look: Look | None = None
    for (i, est, t), lh, ls in zip(used, harm_levels, safe_levels, strict=True):
        look = _look(est, (lh, ls), margin, worse, spending.alpha + safe.alpha, power, t, i + 1)
        if look.decided:
            return look
    assert look is not None
    if points[-1].final:  # the sampling has ended: undecided now is for good
        out = Outcome.FAIL if non_inferiority else Outcome.INCONCLUSIVE
        return Look(**{**look.__dict__, "outcome": out})
    return look


def _look(
    est: Estimate,
    levels: tuple[float, float],
    margin: float,
    worse: int,
    alphas: float,
    power: float,
    t: float,
    index: int,
) -> Look:
    """One look: the harm-side bound at the harm level ``levels[0]``, the safe-side bound at
    the safety level ``levels[1]``."""
    level, safe_level = levels
    harm_lo, harm_hi = est.interval(level)
    safe_lo, safe_hi = est.interval(safe_level)
    lo, hi = (harm_lo, safe_hi) if worse > 0 else (safe_lo, harm_hi)
    if worse > 0:
        p_harm, p_safe = est.p_above(margin), est.p_below(margin)
        harm, safe = lo > margin, hi < margin
    else:
        p_harm, p_safe = est.p_below(margin), est.p_above(margin)
        harm, safe = hi < margin, lo > margin
    outcome = Outcome.FAIL if harm else Outcome.PASS if safe else Outcome.UNDECIDED
    return Look(
        outcome=outcome,
        estimate=est.value,
        ci_low=lo,
        ci_high=hi,
        confidence=1.0 - alphas,
        nominal=level,
        p_harm=p_harm,
        p_safe=p_safe,
        mde=margin + worse * _detectable(est, level, power),
        information=t,
        look=index,
        units=est.information,
        se=est.se,
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

    ``a[i]`` and ``b[i]`` are the same recorded request sent to each arm; blocks are the
    interleaved replay's blocks, so a unit compares the two arms over the same payloads at
    nearly the same time, and load that changes between blocks stays inside a unit instead of
    correlating the evidence. ``statistic``: ``median`` (of the per-request log ratios: the
    typical shift) or ``quantile`` (log of arm B's ``q``-th percentile over arm A's, per block).
    A trailing partial block shorter than half a block is dropped (too noisy to weigh alike).
    Full blocks are computed in one vectorised call.
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
    full = n_full * block_size
    if statistic == "median":
        units = np.median((lb[:full] - la[:full]).reshape(-1, block_size), axis=1)
        tail = [float(np.median(lb[full:] - la[full:]))] if rest * 2 >= block_size else []
    elif statistic == "quantile":
        qa = np.percentile(la[:full].reshape(-1, block_size), q, axis=1)
        qb = np.percentile(lb[:full].reshape(-1, block_size), q, axis=1)
        units = qb - qa
        tail = []
        if rest * 2 >= block_size:
            tail = [float(np.percentile(lb[full:], q) - np.percentile(la[full:], q))]
    else:
        raise ValueError(f"unknown statistic {statistic!r}")
    return np.asarray(np.concatenate([units, tail]), dtype=np.float64)


def information_fraction(
    seconds: float, max_seconds: float, requests: int, max_requests: int
) -> float:
    """The share of the budget used, in [0, 1]: the larger of the time and request shares
    (whichever runs out first ends the sampling)."""
    if max_seconds <= 0 or max_requests <= 0:
        raise ValueError("budgets must be > 0")
    return min(1.0, max(0.0, seconds / max_seconds, requests / max_requests))


def split_alpha(alpha: float, checks: int) -> float:
    """Each check's share of the run's family-wise alpha: Bonferroni over the gating checks.

    Holm's step-down does not carry over: it gives a check more alpha once another is
    rejected, but here checks stop at different looks with boundaries already spent, and
    recycling alpha into boundaries computed before would need every check's boundaries
    recomputed from the joint distribution of all checks, which block pairs shared between
    checks (shift and tails) do not make independent."""
    if checks < 1:
        raise ValueError("at least one check")
    return alpha / checks


def run_sequence(estimates: Sequence[Estimate], fractions: Sequence[float], **kw: object) -> Look:
    """Replay a sequence of looks (for tests and simulation): the first decided look, or the
    last one. ``fractions[i]`` is the information fraction of look ``i``; the last is final."""
    points = [LookPoint(t, final=i == len(fractions) - 1) for i, t in enumerate(fractions)]
    return judge_sequence(estimates, points, **kw)  # type: ignore[arg-type]
