"""The judge: policy × stored samples → checks → verdict. A pure function, no I/O.

Any verdict can be recomputed from a saved RunResult and its baseline without a server
(Kayenta's judge). Each check reports its effect with a CI, p-value, tolerance, N and the
minimum detectable effect, and a one-line reason. A check the statistics could not handle is
an ``error`` result, and the verdict fails closed.

Latency checks combine two layers of evidence (see ``gate.stats``): the paired per-request
test against each stored baseline run, and the run-level test whose noise is the drift
between freshly started servers. A change blocks only when it is beyond the tolerance in
both (intersection–union: combined p = max), so run-to-run drift does not become a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from itertools import combinations
from typing import Any, Protocol, TypeVar

import numpy as np

from gate import stats
from gate.config.policy import LatencyPolicy, Mode, Policy, ShiftCheck, TailCheck
from gate.judge.decide import decide_policy
from gate.judge.protocol import Noise, failed_check, guarded, power_warning
from gate.result import CheckResult, CheckStatus, Verdict

#: Runs × requests: lists as read from run.json, or arrays (``latency_checks`` converts once
#: and hands arrays to every check).
Samples = Sequence[Sequence[float]] | Sequence[stats.FloatArray]

#: Up to this many requests a tail's bootstrap resamples single requests (exact and still
#: fast); above, ``stats.grouped_bootstrap_quantile_ratio`` keeps it O(n log n).
_EXACT_BOOTSTRAP_MAX_N = 5_000


class _Tested(Protocol):
    @property
    def p_value(self) -> float: ...


_T = TypeVar("_T", bound=_Tested)


def _logs(runs: Samples) -> list[stats.FloatArray]:
    out = []
    for r in runs:
        a = np.asarray(r, dtype=np.float64)
        if a.size == 0 or np.any(~np.isfinite(a)) or np.any(a <= 0):
            raise ValueError("latencies must be positive and finite")
        out.append(np.log(a))
    return out


def _arrays(runs: Samples) -> Samples:
    """Each run as a float array, converted once; unconvertible input is left for the
    checks to report."""
    try:
        return [np.asarray(r, dtype=np.float64) for r in runs]
    except (TypeError, ValueError):
        return runs


def _alt(mode: Mode) -> stats.Alternative:
    return "greater" if mode is Mode.REGRESSION else "less"


def _two_layers(
    within: Sequence[Sequence[_T]],
    each: Callable[[_T], dict[str, Any]],
    p_within: float,
    run: stats.RunLevelTest,
) -> dict[str, Any]:
    """The details both latency checks give of their two layers: each within-run test
    (candidate run × baseline run; ``each`` words its estimate) and the run-level test."""
    return {
        "within_run": [
            {"candidate_run": x, "baseline_run": y, **each(t), "p": t.p_value}
            for x, row in enumerate(within)
            for y, t in enumerate(row)
        ],
        "p_within_run": p_within,
        "p_between_runs": run.p_value,
        "run_to_run_sd": math.expm1(run.sd_run),
        "between_runs_df": run.df,
    }


def latency_shift_check(
    check: ShiftCheck, base: Samples, cand: Samples, *, alpha: float, power: float
) -> CheckResult:
    """Typical per-request latency: drift-aware paired shift against the tolerance."""
    lb, lc = _logs(base), _logs(cand)
    k, m = len(lb), len(lc)
    margin = math.log1p(check.tolerance)
    alt = _alt(check.mode)
    within = stats.paired_shift_tests(lc, lb, margin, alpha, alt)
    cb = np.array([[t.estimate for t in row] for row in within])
    bb = np.zeros((k, k))
    for i, j in combinations(range(k), 2):
        bb[i, j] = stats.hodges_lehmann(lb[i] - lb[j])
    cc = np.zeros((m, m))
    for i, j in combinations(range(m), 2):
        cc[i, j] = stats.hodges_lehmann(lc[i] - lc[j])
    run = stats.pairwise_run_test(cb, bb, margin, alpha, alt, cc)
    p_within = max(t.p_value for row in within for t in row)
    p = max(p_within, run.p_value)
    lo = min(run.ci_low, min(t.ci_low for row in within for t in row))
    hi = max(run.ci_high, max(t.ci_high for row in within for t in row))
    se_within = max(t.se for row in within for t in row)
    mde_log = margin + max(
        stats.mde_t(run.se, run.df, alpha, power), stats.mde_z(se_within, alpha, power)
    )
    effect = math.expm1(run.estimate)
    n = int(lc[0].size)
    details = {
        **_two_layers(
            within,
            lambda t: {
                "shift": math.expm1(t.estimate),
                "ci": [math.expm1(t.ci_low), math.expm1(t.ci_high)],
            },
            p_within,
            run,
        ),
        "test": "Wilcoxon signed-rank on log ratios (per baseline run) ∩ t-test on run levels",
    }
    return CheckResult(
        name="latency shift",
        metric="latency.shift",
        status=CheckStatus.PASS,  # decided with the others in decide()
        mode=check.mode.value,
        tolerance=check.tolerance,
        effect=effect,
        ci_low=math.expm1(lo),
        ci_high=math.expm1(hi),
        confidence=1 - 2 * alpha,
        p_value=p,
        n=n,
        baseline_runs=k,
        candidate_runs=m,
        mde=math.expm1(mde_log),
        details=details,
    )


def latency_tail_check(
    check: TailCheck,
    base: Samples,
    cand: Samples,
    *,
    alpha: float,
    power: float,
    resamples: int,
    seed: int,
) -> CheckResult:
    """A latency percentile: paired bootstrap per baseline run ∩ run-level t-test."""
    b = [stats.SortedRun(r) for r in base]  # each run sorted once for all its pairs
    c = [stats.SortedRun(r) for r in cand]
    k, m = len(b), len(c)
    q = check.percentile
    margin_ratio = 1 + check.tolerance
    alt = _alt(check.mode)
    seeds = [[seed + 7919 * (x * k + y) for y in range(k)] for x in range(m)]
    if c[0].x.size <= _EXACT_BOOTSTRAP_MAX_N:
        within = [
            [
                stats.bootstrap_quantile_ratio(
                    cx.x, by.x, q, margin_ratio, alpha, resamples=resamples, seed=s, alternative=alt
                )
                for by, s in zip(b, row, strict=True)
            ]
            for cx, row in zip(c, seeds, strict=True)
        ]
    else:
        # long runs: resample contiguous groups (<= 2000 of them); exact weighted quantiles,
        # O(n log n) instead of resamples x n
        within = stats.grouped_bootstrap_quantile_ratios(
            c, b, q, margin_ratio, alpha, group=1, resamples=resamples, seeds=seeds, alternative=alt
        )
    lqb = np.log([r.percentile(q) for r in b])
    lqc = np.log([r.percentile(q) for r in c])
    cb = lqc[:, None] - lqb[None, :]
    bb = lqb[:, None] - lqb[None, :]
    cc = lqc[:, None] - lqc[None, :]
    run = stats.pairwise_run_test(cb, bb, math.log(margin_ratio), alpha, alt, cc)
    p_within = max(t.p_value for row in within for t in row)
    p = max(p_within, run.p_value)
    lo = min(math.exp(run.ci_low), min(t.ci_low for row in within for t in row))
    hi = max(math.exp(run.ci_high), max(t.ci_high for row in within for t in row))
    se_within = max(t.se_log for row in within for t in row)
    mde_log = math.log(margin_ratio) + max(
        stats.mde_t(run.se, run.df, alpha, power), stats.mde_z(se_within, alpha, power)
    )
    name = f"latency p{q:g}"
    return CheckResult(
        name=name,
        metric=f"latency.p{q:g}",
        status=CheckStatus.PASS,
        mode=check.mode.value,
        tolerance=check.tolerance,
        effect=math.expm1(run.estimate),
        ci_low=lo - 1,
        ci_high=hi - 1,
        confidence=1 - 2 * alpha,
        p_value=p,
        n=int(c[0].x.size),
        baseline_runs=k,
        candidate_runs=m,
        mde=math.expm1(mde_log),
        details={
            "baseline_values_us": [float(np.exp(v)) for v in lqb],
            "candidate_values_us": [float(np.exp(v)) for v in lqc],
            **_two_layers(
                within, lambda t: {"ratio": t.ratio, "ci": [t.ci_low, t.ci_high]}, p_within, run
            ),
            "test": "paired bootstrap of the percentile ratio (per baseline run) ∩ t-test "
            "on run-level log percentiles",
            "bootstrap_resamples": resamples,
        },
    )


def judge_latency(
    policy: Policy, base: Samples, cand: Samples, *, extra: Sequence[CheckResult] = ()
) -> tuple[list[CheckResult], Verdict, list[str]]:
    """All latency checks of the policy on stored samples: decided checks, verdict, warnings.

    ``extra``: undecided checks of other families (accuracy, agreement, SLOs, memory,
    throughput) that join the same Holm family and verdict."""
    checks, warnings = latency_checks(policy, base, cand)
    checks.extend(extra)
    checks, verdict, more = decide_policy(checks, policy)
    return checks, verdict, warnings + more


def runs_problem(lp: LatencyPolicy, lengths: set[int], baseline_runs: int) -> str | None:
    """Why stored runs (their ``lengths`` in requests, ``baseline_runs`` of them the
    baseline's) cannot be compared on latency, or None."""
    if len(lengths) != 1:
        return f"runs differ in length ({sorted(lengths)}): they are not replays of one traffic"
    if baseline_runs < lp.min_baseline_runs:
        return (
            f"baseline has {baseline_runs} run(s); {lp.min_baseline_runs} are needed to "
            "estimate run-to-run drift (gate baseline record --runs)"
        )
    n = next(iter(lengths))
    if n < lp.min_requests:
        return f"{n} requests is below latency.min_requests={lp.min_requests}"
    return None


def latency_checks(
    policy: Policy, base: Samples, cand: Samples
) -> tuple[list[CheckResult], list[str]]:
    """All latency checks of the policy on stored samples, not yet decided (pass them with
    the run's other checks to ``decide``), and low-power warnings."""
    lp = policy.latency
    checks: list[CheckResult] = []
    base, cand = _arrays(base), _arrays(cand)  # one conversion, shared by every check
    problem = runs_problem(lp, {len(r) for runs in (base, cand) for r in runs}, len(base))
    for name, metric, spec in latency_specs(policy):
        if problem is not None:
            res = failed_check(
                name=name,
                metric=metric,
                mode=spec.mode.value,
                reason=problem,
                tolerance=spec.tolerance,
            )
        else:
            res = guarded(
                partial(_latency_check, spec, base, cand, policy),
                name=name,
                metric=metric,
                mode=spec.mode.value,
                tolerance=spec.tolerance,
            )
        checks.append(res.model_copy(update={"critical": spec.critical, "blocking": spec.blocking}))
    warnings = [
        w for c in checks if (w := power_warning(c, stored_noise(c), policy.power)) is not None
    ]
    return checks, warnings


def latency_specs(policy: Policy) -> list[tuple[str, str, ShiftCheck | TailCheck]]:
    """(name, metric, settings) of each latency check the policy enables, in report order."""
    lp = policy.latency
    specs: list[tuple[str, str, ShiftCheck | TailCheck]] = []
    if lp.shift.enabled:
        specs.append(("latency shift", "latency.shift", lp.shift))
    specs += [
        (f"latency p{t.percentile:g}", f"latency.p{t.percentile:g}", t)
        for t in lp.tails
        if t.enabled
    ]
    return specs


def _latency_check(
    spec: ShiftCheck | TailCheck, base: Samples, cand: Samples, policy: Policy
) -> CheckResult:
    if isinstance(spec, ShiftCheck):
        return latency_shift_check(spec, base, cand, alpha=policy.alpha, power=policy.power)
    return latency_tail_check(
        spec,
        base,
        cand,
        alpha=policy.alpha,
        power=policy.power,
        resamples=policy.latency.bootstrap_resamples,
        seed=policy.seed,
    )


def stored_noise(c: CheckResult) -> Noise:
    """The power warning's words for a latency check against stored runs."""
    return Noise(
        "slowdown",
        f"{c.n} requests and {c.baseline_runs} baseline runs",
        "record more baseline runs or longer traffic to tighten it",
    )
