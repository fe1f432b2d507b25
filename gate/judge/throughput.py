"""Throughput checks: inferences/s per concurrency level, candidate/baseline ratio.

Per level, on log inferences/s (so the effect is a ratio of geometric means):

* **windows** — Welch's t of the pooled candidate windows against the pooled baseline
  windows, margin ``ln(1 − tolerance)``;
* **runs** — each run's mean log throughput is its level; a t-test on run levels whose
  noise is the spread between the stored baseline runs (each on a fresh server).

The combined p is the larger of the two (intersection–union). Regression mode blocks a drop
shown to be larger than the tolerance. The effect is the relative change of throughput
(−0.12 = 12% fewer inferences/s), and the tolerance is reported as a negative number
(−0.10: a drop of 10% allowed) so both read on the same axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from gate.config.policy import Mode, Policy, ThroughputPolicy
from gate.evidence import ThroughputRun
from gate.judge.common import alternative, explained, stored_runs_test, undecided
from gate.judge.protocol import BUDGET_HINT, Noise, failed_check, guarded, power_warning
from gate.result import CheckResult, CheckStatus
from gate.stats.common import FloatArray
from gate.stats.twosample import welch_test


def check_names(c: int) -> tuple[str, str]:
    """(name, metric) of the check at concurrency ``c``."""
    return f"throughput c={c}", f"throughput.c{c}"


def run_ips(lb: FloatArray, lc: FloatArray) -> dict[str, Any]:
    """What a check's details say of inferences/s from the runs' levels (mean log
    inferences/s per run) of the baseline ``lb`` and the candidate ``lc``."""
    return {
        "baseline_ips": round(float(np.exp(np.mean(lb))), 2),
        "candidate_ips": round(float(np.exp(np.mean(lc))), 2),
        "baseline_run_ips": [round(float(np.exp(v)), 2) for v in lb],
        "candidate_run_ips": [round(float(np.exp(v)), 2) for v in lc],
    }


def _level_check(
    c: int,
    tp: ThroughputPolicy,
    base: Sequence[ThroughputRun],
    cand: Sequence[ThroughputRun],
    *,
    alpha: float,
    power: float,
) -> CheckResult:
    bw = [np.log(np.asarray(r.level(c).windows, dtype=np.float64)) for r in base]  # type: ignore[union-attr]
    cw = [np.log(np.asarray(r.level(c).windows, dtype=np.float64)) for r in cand]  # type: ignore[union-attr]
    margin = math.log1p(-tp.tolerance)
    alt = alternative(tp.mode, higher_is_worse=False)
    within = welch_test(np.concatenate(cw), np.concatenate(bw), margin, alpha, alt)
    lb = np.array([float(np.mean(x)) for x in bw])
    lc = np.array([float(np.mean(x)) for x in cw])
    both = stored_runs_test(within, lc, lb, margin, alpha, alt, power)
    run, noise = both.run, both.noise
    return undecided(
        tp,
        check_names(c),
        tolerance=-tp.tolerance,
        effect=math.expm1(run.estimate),
        ci_low=math.expm1(both.ci_low),
        ci_high=math.expm1(both.ci_high),
        confidence=1 - 2 * alpha,
        p_value=both.p_value,
        n=int(sum(x.size for x in cw)),
        baseline_runs=len(base),
        candidate_runs=len(cand),
        mde=math.expm1(margin - noise) if math.isfinite(noise) else None,
        details={
            "concurrency": c,
            **run_ips(lb, lc),
            "windows_per_run": tp.windows,
            "window_requests": tp.window_requests,
            "run_to_run_sd": math.expm1(run.sd_run),
            "p_windows": within.p_value,
            "p_between_runs": run.p_value,
            "test": "Welch t on log inferences/s per window ∩ t-test on run levels",
        },
    )


def missing_windows(
    c: int, base: Sequence[ThroughputRun], cand: Sequence[ThroughputRun]
) -> str | None:
    """Why stored runs cannot be compared at concurrency ``c`` (a side without runs, or a
    run without that level), or None."""
    missing_b = sum(r.level(c) is None for r in base)
    missing_c = sum(r.level(c) is None for r in cand)
    if base and cand and not missing_b and not missing_c:
        return None
    where = "the baseline" if (not base or missing_b) else "this run"
    return f"no throughput windows at c={c} in {where}"


def throughput_checks(
    policy: Policy, base: Sequence[ThroughputRun], cand: Sequence[ThroughputRun]
) -> tuple[list[CheckResult], list[str]]:
    """One check per concurrency level of the policy (undecided), and power warnings."""
    tp = policy.throughput
    if not tp.enabled:
        return [], []
    checks: list[CheckResult] = []
    for c in tp.concurrency:
        name, metric = check_names(c)
        reason = missing_windows(c, base, cand)
        if reason is not None:
            checks.append(failed_check(name=name, metric=metric, mode=tp.mode.value, reason=reason))
            continue
        chk = guarded(
            partial(_level_check, c, tp, base, cand, alpha=policy.alpha, power=policy.power),
            name=name,
            metric=metric,
            mode=tp.mode.value,
        )
        checks.append(chk)
    warnings = [
        w
        for c in checks
        if (w := power_warning(c, throughput_noise(c, policy), policy.power)) is not None
    ]
    return checks, warnings


def throughput_noise(c: CheckResult, policy: Policy) -> Noise:
    """The power warning's words for a throughput check: of a live A/B session (its run
    pairs, and a budget that gives more), or of stored runs (windows and baseline runs)."""
    if "live_ab" in c.details:
        return Noise("drop", f"{c.n or 0} interleaved run pairs", BUDGET_HINT)
    return Noise(
        "drop",
        f"{policy.throughput.windows} windows per run and {c.baseline_runs} baseline runs",
        "raise throughput.windows / window_requests or record more baseline runs",
    )


def explain_throughput(c: CheckResult) -> str:
    """One line that says what throughput did and why the check decided as it did."""
    d = c.details
    b, cv = d["baseline_ips"], d["candidate_ips"]
    eff = c.effect or 0.0
    tol = -(c.tolerance or 0.0)
    head = f"{b:.0f} → {cv:.0f} inferences/s ({eff * 100:+.1f}%)"
    spread = f"run-to-run spread ±{abs(d.get('run_to_run_sd', 0)) * 100:.1f}%"
    if c.mode == Mode.REGRESSION.value:
        if c.status is CheckStatus.FAIL:
            why = f"lower by more than the {tol * 100:g}% allowed, beyond the {spread}"
        elif eff < -tol:
            why = f"lower by more than {tol * 100:g}% but not beyond the {spread}"
        elif eff > 0:
            why = "higher than the baseline"
        else:
            why = f"within the {tol * 100:g}% drop allowed"
    elif c.status is CheckStatus.FAIL:
        why = f"not shown to stay within the {tol * 100:g}% drop allowed ({spread})"
    else:
        why = f"shown to stay within the {tol * 100:g}% drop allowed"
    return f"{head}: {why}"


explain = partial(explained, words=explain_throughput)
"""A decided throughput check with its reason worded from its final status (pass or fail)."""
