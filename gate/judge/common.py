"""Pieces the check families share: the alternative of a check, the run-level test, the
within-run and run-level layers joined, an undecided check, the reason of a decided one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

import numpy as np
from numpy.typing import ArrayLike

from gate import stats
from gate.config.policy import Mode
from gate.result import CheckResult, CheckStatus
from gate.stats.twosample import ShiftTest2, WelchTest


class Judged(Protocol):
    """What a policy says of one check whatever its family (``ShiftCheck``, ``TailCheck``,
    ``AccuracyCheck``, ``MemoryPolicy``, ``ThroughputPolicy``): how to test, what a failure
    does."""

    @property
    def mode(self) -> Mode: ...

    @property
    def tolerance(self) -> float: ...

    @property
    def critical(self) -> bool: ...

    @property
    def blocking(self) -> bool: ...


def alternative(mode: Mode, *, higher_is_worse: bool) -> stats.Alternative:
    """The one-sided alternative of a check: regression tests for harm, non-inferiority for
    safety; harm is "greater" for memory and "less" for throughput."""
    harm: stats.Alternative = "greater" if higher_is_worse else "less"
    if mode is Mode.REGRESSION:
        return harm
    return "less" if harm == "greater" else "greater"


def run_level(
    cand_levels: ArrayLike,
    base_levels: ArrayLike,
    margin: float,
    alpha: float,
    alt: stats.Alternative,
) -> stats.RunLevelTest:
    """Drift-aware test on run levels (one number per run), as the latency judge does."""
    lc = np.asarray(cand_levels, dtype=np.float64)
    lb = np.asarray(base_levels, dtype=np.float64)
    cb = lc[:, None] - lb[None, :]
    bb = lb[:, None] - lb[None, :]
    cc = lc[:, None] - lc[None, :]
    return stats.pairwise_run_test(cb, bb, margin, alpha, alt, cc)


@dataclass(frozen=True)
class Layers:
    """A pooled within-run test and the run-level test of one check, joined by
    intersection–union: ``p_value`` is the larger, the CI spans both, ``noise`` is the
    larger of their detectable shifts (for the MDE); ``run`` is the run-level test."""

    run: stats.RunLevelTest
    p_value: float
    ci_low: float
    ci_high: float
    noise: float


def stored_runs_test(
    within: ShiftTest2 | WelchTest,
    cand_levels: ArrayLike,
    base_levels: ArrayLike,
    margin: float,
    alpha: float,
    alt: stats.Alternative,
    power: float,
) -> Layers:
    """The comparison a stored-baseline check makes (memory series, throughput windows):
    ``within`` on the pooled samples, ``run_level`` on one level per run, joined."""
    run = run_level(cand_levels, base_levels, margin, alpha, alt)
    return Layers(
        run=run,
        p_value=max(within.p_value, run.p_value),
        ci_low=min(within.ci_low, run.ci_low),
        ci_high=max(within.ci_high, run.ci_high),
        noise=max(stats.mde_t(run.se, run.df, alpha, power), stats.mde_z(within.se, alpha, power)),
    )


class Flags(TypedDict):
    """How the policy treats one check, as a ``CheckResult`` (or ``guarded``,
    ``failed_check``) takes it."""

    mode: str
    tolerance: float
    critical: bool
    blocking: bool


def flags(spec: Judged) -> Flags:
    """The policy's mode, tolerance, critical and blocking of ``spec``, for its check
    whatever comes of it (a result, an error, no baseline)."""
    return Flags(
        mode=spec.mode.value,
        tolerance=spec.tolerance,
        critical=spec.critical,
        blocking=spec.blocking,
    )


def judged(
    spec: Judged, names: tuple[str, str], status: CheckStatus, **numbers: Any
) -> CheckResult:
    """A family's check with ``status``: its ``(name, metric)``, the policy's mode, critical
    and blocking, and ``numbers``, what its test found."""
    return CheckResult(
        name=names[0],
        metric=names[1],
        status=status,
        mode=spec.mode.value,
        critical=spec.critical,
        blocking=spec.blocking,
        **numbers,
    )


def undecided(spec: Judged, names: tuple[str, str], **numbers: Any) -> CheckResult:
    """A family's check before ``judge.decide`` settles its status (PASS until then)."""
    return judged(spec, names, CheckStatus.PASS, **numbers)


def explained(c: CheckResult, words: Callable[[CheckResult], str]) -> CheckResult:
    """The decided check with its reason worded from its final status (pass or fail)."""
    if c.status in (CheckStatus.PASS, CheckStatus.FAIL):
        return c.model_copy(update={"reason": words(c)})
    return c
