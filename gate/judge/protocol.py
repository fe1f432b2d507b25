"""What every check family shares: its identity, its contract, one guard, one power warning.

A family (latency, accuracy, SLO, memory, throughput) turns the policy and the evidence
into *decided* ``CheckResult``s, each at its share of the run's alpha and at the looks the
evidence records (``gate.judge.design.Design``); ``gate.judge.decide.verdict_of`` then settles
the verdict. After that a family may word each check's reason from its final status
(``explain``). The families are listed once, in
``gate.judge.families.FAMILIES``; a check is tied to its family by position there, never by
the text of its metric name.

Two things every family needs are written once here rather than per family:

* ``guarded``: a statistic that raises (too few samples, a degenerate distribution, an
  overflow) becomes an ERROR check saying "statistics failed: …", and the run goes on; the
  verdict then fails closed (an error in a blocking check is ERROR, never PASS).
* ``power_warning``: a check the sampling could not decide (INCONCLUSIVE) gets one warning
  in one form, with the family's words for the change it looks for and what would tighten
  it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final, Protocol

from gate.config.policy import Policy
from gate.evidence import Evidence
from gate.judge.decide import is_underpowered, pct
from gate.judge.design import Design
from gate.result import CheckResult, CheckStatus

#: What a statistic raises when the data cannot support it (never a bug to hide: a
#: ``TypeError`` or ``KeyError`` still propagates).
STATISTICS_ERRORS: Final = (ValueError, FloatingPointError, ArithmeticError)


class Family(str, Enum):
    """The kinds of check a run can have."""

    LATENCY = "latency"
    ACCURACY = "accuracy"
    SLO = "slo"
    MEMORY = "memory"
    THROUGHPUT = "throughput"


@dataclass(frozen=True)
class Noise:
    """How a family words its power warning for one check.

    ``change``: what a harmful change is called ("slowdown", "drop"); ``basis``: the data
    the check had ("400 requests and 3 baseline runs"); ``hint``: what would tighten it;
    ``points``: the effect is in absolute points (accuracy of a proportion), not relative.
    """

    change: str
    basis: str
    hint: str
    points: bool = False


#: What tightens a check of a sequential live session: more rounds, i.e. a larger budget
#: (the rounds cycle the recorded traffic, so longer traffic alone does not add any).
BUDGET_HINT = (
    "raise ab.max_duration_s / ab.max_requests for more rounds "
    "(gate calibrate shows the budget this machine needs)"
)


class CheckFamily(Protocol):
    """One family of checks (in the spirit of a classifier per metric)."""

    family: Family

    def planned(self, policy: Policy, evidence: Evidence) -> int:
        """How many checks this family will judge on this evidence that can decide the
        verdict (blocking or critical): the judge splits the policy's alpha over them."""
        ...

    def checks(self, policy: Policy, evidence: Evidence, design: Design) -> list[CheckResult]:
        """Decided checks from the policy and the evidence (none when it does not apply), at
        the design's per-check alpha and looks.

        Raises ``ConfigError`` only for bad input (a baseline that lacks what the policy
        judges); a statistic that fails is an ERROR check (``guarded``)."""
        ...

    def explain(self, check: CheckResult) -> CheckResult:
        """The decided check, its reason worded from its final status where that helps."""
        ...

    def noise(self, check: CheckResult, policy: Policy) -> Noise:
        """The words of this check's power warning."""
        ...


def guarded(
    compute: Callable[[], CheckResult],
    *,
    name: str,
    metric: str,
    mode: str,
    tolerance: float | None = None,
    critical: bool = False,
    blocking: bool = True,
) -> CheckResult:
    """``compute()``, or an ERROR check naming what the statistics could not do."""
    try:
        return compute()
    except STATISTICS_ERRORS as e:
        return failed_check(
            name=name,
            metric=metric,
            mode=mode,
            reason=f"statistics failed: {e}",
            tolerance=tolerance,
            critical=critical,
            blocking=blocking,
        )


def failed_check(
    *,
    name: str,
    metric: str,
    mode: str,
    reason: str,
    tolerance: float | None = None,
    critical: bool = False,
    blocking: bool = True,
) -> CheckResult:
    """A check that could not be judged: ERROR, with the reason a reader needs."""
    return CheckResult(
        name=name,
        metric=metric,
        status=CheckStatus.ERROR,
        mode=mode,
        tolerance=tolerance,
        critical=critical,
        blocking=blocking,
        reason=reason,
    )


def _amount(x: float, points: bool) -> str:
    if not math.isfinite(x):
        return "unbounded"
    return f"{x * 100:.2f} points" if points else pct(x)


def power_warning(check: CheckResult, noise: Noise, power: float) -> str | None:
    """The one "could not decide" warning, or None.

    A sequential check (``details["sequential"]``) warns when it ended INCONCLUSIVE; a check
    of the fixed-sample judges (``gate.judge.latency``, ``throughput``, ``memory``: not yet
    decided when it is worded) when it is too noisy to decide (``is_underpowered``). It names
    the smallest change the data could have shown at the policy's power (the MDE, tolerance
    included) and what would tighten it."""
    if check.status is CheckStatus.ERROR or check.tolerance is None or check.mde is None:
        return None
    if "sequential" in check.details:
        if check.status is not CheckStatus.INCONCLUSIVE:
            return None
    elif check.status is not CheckStatus.INCONCLUSIVE and not is_underpowered(check):
        return None
    return (
        f"{check.name}: with {noise.basis} the smallest {noise.change} "
        f"detectable with {power:.0%} power is {_amount(check.mde, noise.points)} (tolerance "
        f"{_amount(check.tolerance, noise.points)}); {noise.hint}"
    )
