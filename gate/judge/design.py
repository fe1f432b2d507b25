"""What every check of one run shares in the sequential design, and the one way a sequence of
looks becomes a ``CheckResult``.

``Design`` holds the run's per-check alpha (a Bonferroni share of the policy's alpha over its
gating checks, ``gate.judge.sequential.split_alpha``), the spending shape, the power, and the
looks recorded while sampling (``gate.evidence.Sampling``): where in the budget each look
happened and how many units each stream of evidence had then. A family turns its units into
an estimate per look (``prefix_estimates``), and ``sequential_check`` turns the looks into a
decided check. Checks judged once on data that more sampling would not change (accuracy on a
fixed eval set, absolute objectives) are decided by ``settle`` from their interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from gate.config.policy import Mode, Policy
from gate.evidence import Sampling, SamplingLook
from gate.judge.common import Judged, judged
from gate.judge.sequential import (
    Estimate,
    Look,
    LookPoint,
    Outcome,
    Spending,
    judge_sequence,
    split_alpha,
    trimmed_mean_of_units,
)
from gate.result import CheckResult, CheckStatus


@dataclass(frozen=True)
class Design:
    """The run's sequential design: per-check alpha, spending, power, and the looks."""

    alpha: float
    rho: float
    power: float
    looks: tuple[SamplingLook, ...]
    alpha_safe: float = 0.0

    @classmethod
    def of(cls, policy: Policy, sampling: Sampling | None, gating: int) -> Design:
        """The design for a run with ``gating`` checks that can decide its verdict. Without
        ``sampling`` the evidence has one look, at the end of the whole budget."""
        looks = tuple(sampling.looks) if sampling is not None and sampling.looks else ()
        return cls(
            alpha=split_alpha(policy.alpha, max(1, gating)),
            rho=sampling.rho if sampling is not None else policy.ab.rho,
            power=policy.power,
            looks=looks,
            alpha_safe=policy.alpha,
        )

    @property
    def spending(self) -> Spending:
        """The harm test's: the check's Bonferroni share (a false BLOCKED needs one check)."""
        return Spending(self.alpha, self.rho)

    @property
    def safe_spending(self) -> Spending:
        """The safety test's: the run's whole alpha, since a PASS verdict needs every check
        shown safe (intersection-union; ``gate.judge.sequential``)."""
        return Spending(max(self.alpha, self.alpha_safe), self.rho)

    @property
    def points(self) -> list[LookPoint]:
        if not self.looks:
            return [LookPoint(1.0, final=True)]
        return [LookPoint(lk.t, final=lk.final) for lk in self.looks]

    def counts(self, stream: str, total: int) -> list[int]:
        """Units of ``stream`` available at each look (``total`` when the evidence has no
        looks: everything at the one look)."""
        if not self.looks:
            return [total]
        return [min(total, lk.units.get(stream, 0)) for lk in self.looks]

    def round_of(self, look: int) -> int:
        return self.looks[look - 1].round if self.looks else 1


def prefix_estimates(
    units: ArrayLike, counts: Sequence[int], *, min_units: int = 2
) -> list[Estimate | None]:
    """The robust mean (``trimmed_mean_of_units``) of the first ``counts[k]`` units at each
    look (None below ``min_units``). A look re-sorts its prefix: units are block pairs or
    window pairs, hundreds to tens of thousands, and looks a few dozen."""
    u = np.asarray(units, dtype=np.float64).ravel()
    if not np.all(np.isfinite(u)):
        raise ValueError("units must be finite")
    return [trimmed_mean_of_units(u[:n]) if n >= max(2, min_units) else None for n in counts]


@dataclass(frozen=True)
class Scale:
    """Where a check's estimate and its report meet: ``margin`` is the tolerance on the
    estimate's scale, ``worse`` +1 when a higher estimate is worse (-1: lower), and
    ``tolerance`` and ``effect`` (the estimate mapped) are on the report's scale."""

    tolerance: float
    margin: float
    worse: int
    effect: Callable[[float], float]

    @classmethod
    def log_ratio(cls, tolerance: float) -> Scale:
        """An estimate that is a log ratio, reported as a relative change: ``tolerance`` >
        0 is the rise allowed (latency), < 0 the drop allowed (throughput)."""
        return cls(tolerance, math.log1p(tolerance), 1 if tolerance > 0 else -1, math.expm1)

    @classmethod
    def growth(cls, margin: float, scale: float) -> Scale:
        """An estimate in bytes (memory), ``margin`` the growth allowed, reported relative to
        ``scale`` (the baseline's memory)."""
        return cls(margin / scale, margin, 1, lambda x: x / scale)


def sequential_check(
    spec: Judged,
    names: tuple[str, str],
    scale: Scale,
    *,
    estimates: Sequence[Estimate | None],
    design: Design,
    n: int,
    details: dict[str, Any],
) -> CheckResult:
    """Judge one check's looks and report it on ``scale``: effect, interval and MDE mapped by
    ``scale.effect`` (e.g. ``math.expm1`` for a log ratio), status from the outcome.

    ``spec`` gives the mode, critical and blocking, ``names`` the (name, metric). A check
    with no estimate at any look (too few units) is INCONCLUSIVE when the sampling has ended,
    else undecided."""
    points = design.points
    effect, margin = scale.effect, scale.margin
    if not any(e is not None for e in estimates):
        return _too_few(spec, names, scale.tolerance, design, details)
    look = judge_sequence(
        estimates,
        points,
        margin=margin,
        worse=scale.worse,
        spending=design.spending,
        safe_spending=design.safe_spending,
        non_inferiority=spec.mode is Mode.NON_INFERIORITY,
        power=design.power,
    )
    seq = {**_sequential_details(look, design), "margin": margin, "estimate": look.estimate}
    return judged(
        spec,
        names,
        _STATUS[look.outcome],
        tolerance=scale.tolerance,
        effect=effect(look.estimate),
        ci_low=_mapped(effect, look.ci_low),
        ci_high=_mapped(effect, look.ci_high),
        confidence=look.confidence,
        p_value=None,
        n=n,
        mde=_mapped(effect, look.mde),
        details={**details, "sequential": seq},
    )


def _mapped(f: Callable[[float], float], x: float) -> float:
    """``f(x)`` on the report's scale; a bound too far out to map (a wide interval of very
    few units at a small alpha: ``expm1`` of hundreds) is infinite, as it is in effect."""
    if math.isinf(x):
        return x
    try:
        return f(x)
    except OverflowError:
        return math.copysign(math.inf, x)


_STATUS = {
    Outcome.PASS: CheckStatus.PASS,
    Outcome.FAIL: CheckStatus.FAIL,
    Outcome.INCONCLUSIVE: CheckStatus.INCONCLUSIVE,
    Outcome.UNDECIDED: CheckStatus.INCONCLUSIVE,
}


def _sequential_details(look: Look, design: Design) -> dict[str, Any]:
    return {
        "decided": look.decided,
        "outcome": look.outcome.value,
        "look": look.look,
        "looks": len(design.points),
        "round": design.round_of(look.look),
        "t": round(look.information, 4),
        "units": look.units,
        "nominal_alpha": look.nominal,
        "alpha": design.alpha,
        "alpha_safe": design.safe_spending.alpha,
        "rho": design.rho,
        "p_harm": look.p_harm,
        "p_safe": look.p_safe,
        "se": look.se,
        "final": design.points[-1].final,
    }


def _too_few(
    spec: Judged, names: tuple[str, str], tolerance: float, design: Design, details: dict[str, Any]
) -> CheckResult:
    final = design.points[-1].final
    return judged(
        spec,
        names,
        CheckStatus.FAIL
        if final and spec.mode is Mode.NON_INFERIORITY
        else CheckStatus.INCONCLUSIVE,
        tolerance=tolerance,
        mde=math.inf,
        reason="too few units to estimate the noise (at least 2 are needed)",
        details={
            **details,
            "sequential": {"decided": final, "outcome": "too few units", "final": final},
        },
    )


def stop_reason(checks: Sequence[CheckResult], final: bool) -> str:
    """Why sampling stops after a look ("" to go on): ``blocked`` when a gating check failed
    (the verdict is BLOCKED whatever else happens), ``budget`` when this was the last look
    and a gating check is still undecided, ``decided`` when every gating check is."""
    gating = [c for c in checks if c.critical or c.blocking]
    if any(c.status is CheckStatus.FAIL for c in gating):
        return "blocked"
    if final and any(c.status is CheckStatus.INCONCLUSIVE for c in gating):
        return "budget"
    if not any(is_pending(c) for c in gating):
        return "decided"
    return "budget" if final else ""


def is_pending(check: CheckResult) -> bool:
    """Whether a check is still waiting for more data (a sequential check not yet decided
    at a look that was not the last)."""
    seq = check.details.get("sequential")
    return isinstance(seq, dict) and not seq.get("decided", True) and not seq.get("final", True)


def settle(check: CheckResult, *, final: bool = True) -> CheckResult:
    """Decide a check judged once, from its interval (computed at the run's per-check alpha):
    wholly beyond the tolerance FAIL, wholly within PASS, else INCONCLUSIVE (FAIL in
    non-inferiority mode). "Beyond" is above the tolerance, or below it when the tolerance
    is negative (throughput); a check without a tolerance (an absolute objective) has 0.
    A check already in ERROR or SKIPPED is returned as it is."""
    if check.status in (CheckStatus.ERROR, CheckStatus.SKIPPED):
        return check
    tol = check.tolerance if check.tolerance is not None else 0.0
    worse = -1 if tol < 0 else 1
    eff = check.effect if check.effect is not None else 0.0
    lo = check.ci_low if check.ci_low is not None else eff
    hi = check.ci_high if check.ci_high is not None else eff
    harm = (lo > tol) if worse > 0 else (hi < tol)
    safe = (hi < tol) if worse > 0 else (lo > tol)
    if check.details.get("test") == "exact maximum":  # no sampling: the value is the value
        harm, safe = eff > tol, eff <= tol
    if harm:
        status = CheckStatus.FAIL
    elif safe:
        status = CheckStatus.PASS
    elif check.mode == Mode.NON_INFERIORITY.value:
        status = CheckStatus.FAIL
    else:
        status = CheckStatus.INCONCLUSIVE
    return check.model_copy(update={"status": status})
