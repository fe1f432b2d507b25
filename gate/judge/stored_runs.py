"""Checks against a stored baseline, judged sequentially over candidate runs.

Without the baseline model at hand, the candidate is compared with K stored runs, each
measured on a freshly started server, and whole runs drift between server starts more than
any tolerance (``benchmarks/ab_vs_stored.py``). So the unit is a **run**: each run gives one
level per check (its median log latency, its log percentile, its mean log inferences/s per
concurrency, its median attributable memory), and the estimate is the candidate runs' mean
level minus the baseline runs', with the pooled spread between runs as its noise
(``gate.judge.sequential.difference_of_levels``). ``gate check`` adds candidate runs, each on a
fresh server, and looks after each one, until every check is decided or the budget is spent.

The baseline's K bounds what any number of candidate runs can show: the standard error never
falls below ``sd_run / sqrt(K)``, so with K = 3 and run-to-run drift of several percent a 5%
tolerance often stays INCONCLUSIVE. The checks say so (``details.floor``): record more
baseline runs, or use live A/B (``baseline.model_dir``), which has no such floor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from gate.config.policy import MemoryPolicy, Policy, ShiftCheck, TailCheck
from gate.evidence import LatencyRun, MemoryRun, ThroughputRun
from gate.judge import memory, throughput
from gate.judge.common import Judged, flags
from gate.judge.design import Design, Scale, sequential_check
from gate.judge.latency import latency_specs, runs_problem
from gate.judge.memory import Allowed, mib
from gate.judge.protocol import failed_check, guarded
from gate.judge.sequential import Estimate, difference_of_levels
from gate.result import CheckResult
from gate.stats.common import FloatArray


def _estimates(cand: FloatArray, base: FloatArray, counts: Sequence[int]) -> list[Estimate | None]:
    out: list[Estimate | None] = []
    for m in counts:
        out.append(difference_of_levels(cand[:m], base) if m >= 1 and m + base.size >= 3 else None)
    return out


def _floor(base: FloatArray, design: Design, margin_gap: float) -> dict[str, Any]:
    """What K allows at best: the smallest distance from the tolerance any number of candidate
    runs could resolve at the final look (the baseline's own noise alone)."""
    k = base.size
    sd = float(np.std(base, ddof=1)) if k > 1 else math.inf
    best = sd / math.sqrt(k) if k > 1 else math.inf
    return {"baseline_runs": k, "run_to_run_sd_log": sd, "best_se": best, "gap": margin_gap}


def _levels_check(
    spec: Judged,
    names: tuple[str, str],
    scale: Scale,
    *,
    cand: FloatArray,
    base: FloatArray,
    design: Design,
    n: int,
    details: dict[str, Any],
) -> CheckResult:
    counts = design.counts("runs", cand.size)
    details = {**details, "floor": _floor(base, design, scale.margin)}
    check = sequential_check(
        spec,
        names,
        scale,
        estimates=_estimates(cand, base, counts),
        design=design,
        n=n,
        details=details,
    )
    # the runs the check was decided on: those of its deciding look (or the last)
    seq = check.details.get("sequential", {})
    at = seq.get("look") if isinstance(seq, dict) else None
    runs = counts[at - 1] if isinstance(at, int) and 0 < at <= len(counts) else cand.size
    return check.model_copy(update={"baseline_runs": base.size, "candidate_runs": runs})


def stored_latency_checks(
    policy: Policy, base: Sequence[LatencyRun], cand: Sequence[LatencyRun], design: Design
) -> list[CheckResult]:
    """Every latency check of the policy on run levels."""
    lengths = {len(r.latencies_us) for r in [*base, *cand]}
    problem = runs_problem(policy.latency, lengths, len(base))
    out = []
    for name, metric, spec in latency_specs(policy):
        if problem is not None:
            out.append(failed_check(name=name, metric=metric, reason=problem, **flags(spec)))
            continue
        check = partial(_latency, (name, metric), spec, base, cand, design)
        out.append(guarded(check, name=name, metric=metric, **flags(spec)))
    return out


def _level(run: LatencyRun, q: float) -> float:
    x = np.asarray(run.latencies_us, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("latencies must be positive and finite")
    return float(np.log(np.percentile(x, q)))


def _latency(
    names: tuple[str, str],
    spec: ShiftCheck | TailCheck,
    base: Sequence[LatencyRun],
    cand: Sequence[LatencyRun],
    design: Design,
) -> CheckResult:
    q = 50.0 if isinstance(spec, ShiftCheck) else spec.percentile
    lb = np.array([_level(r, q) for r in base])
    lc = np.array([_level(r, q) for r in cand])
    what = "median" if isinstance(spec, ShiftCheck) else f"p{q:g}"
    details = {
        "baseline_values_us": [float(np.exp(v)) for v in lb],
        "candidate_values_us": [float(np.exp(v)) for v in lc],
        "run_to_run_sd": math.expm1(float(np.std(lb, ddof=1))) if lb.size > 1 else None,
        "test": f"pooled t on run levels (log {what} per run; each run a fresh server), "
        "sequential over candidate runs",
    }
    return _levels_check(
        spec,
        names,
        Scale.log_ratio(spec.tolerance),
        cand=lc,
        base=lb,
        design=design,
        n=len(cand[0].latencies_us) if cand else 0,
        details=details,
    )


def stored_throughput_checks(
    policy: Policy, base: Sequence[ThroughputRun], cand: Sequence[ThroughputRun], design: Design
) -> list[CheckResult]:
    """One check per concurrency level, on run levels (mean log inferences/s per run)."""
    tp = policy.throughput
    if not tp.enabled:
        return []
    out = []
    for c in tp.concurrency:
        name, metric = throughput.check_names(c)
        kw: dict[str, Any] = {"name": name, "metric": metric, "mode": tp.mode.value}
        missing = throughput.missing_windows(c, base, cand)
        if missing is not None:
            out.append(failed_check(reason=missing, **kw))
            continue

        def levels(runs: Sequence[ThroughputRun], c: int = c) -> FloatArray:
            return np.array([float(np.mean(np.log(r.level(c).windows))) for r in runs])  # type: ignore[union-attr]

        lb, lc = levels(base), levels(cand)
        details = {
            "concurrency": c,
            **throughput.run_ips(lb, lc),
            "run_to_run_sd": math.expm1(float(np.std(lb, ddof=1))) if lb.size > 1 else 0.0,
            "windows_per_run": tp.windows,
            "window_requests": tp.window_requests,
            "test": "pooled t on run levels (mean log inferences/s per run), sequential",
        }
        check = partial(
            _levels_check,
            tp,
            (name, metric),
            Scale.log_ratio(-tp.tolerance),
            cand=lc,
            base=lb,
            design=design,
            n=len(cand),
            details=details,
        )
        out.append(guarded(check, tolerance=-tp.tolerance, **kw))
    return out


def stored_memory_checks(
    policy: Policy, base: Sequence[MemoryRun], cand: Sequence[MemoryRun], design: Design
) -> list[CheckResult]:
    """One check per memory source: median attributable memory per run (bytes)."""
    mp = policy.memory
    if not mp.enabled:
        return []
    out = []
    for src in mp.sources:
        name, metric = memory.check_names(src)
        unjudged = memory.source_unjudged(src, mp, base, cand, (name, metric))
        if unjudged is not None:
            out.append(unjudged)
            continue
        check = partial(_memory, src, mp, base, cand, design)
        out.append(guarded(check, name=name, metric=metric, mode=mp.mode.value))
    return out


def _memory(
    src: str, mp: MemoryPolicy, base: Sequence[MemoryRun], cand: Sequence[MemoryRun], design: Design
) -> CheckResult:
    lb = np.array([float(np.median(r.series[src].attributable)) for r in base])
    lc = np.array([float(np.median(r.series[src].attributable)) for r in cand])
    allowed = Allowed.of(mp, float(np.median(lb)))
    details = {
        "source": src,
        "what": memory.LABEL.get(src, src),
        "probe": cand[0].series[src].detail,
        "baseline_mib": mib(allowed.ref),
        "candidate_mib": mib(float(np.median(lc))),
        "allowed_mib": mib(allowed.margin),
        "tolerance": mp.tolerance,
        "slack_mib": mp.slack_mib,
        "baseline_loaded_mib": [mib(r.series[src].loaded) for r in base],
        "candidate_loaded_mib": [mib(r.series[src].loaded) for r in cand],
        "baseline_peak_mib": [mib(r.series[src].peak) for r in base],
        "candidate_peak_mib": [mib(r.series[src].peak) for r in cand],
        "run_to_run_sd_mib": mib(float(np.std(lb, ddof=1))) if lb.size > 1 else 0.0,
        "test": "pooled t on run levels (median attributable memory per run), sequential",
    }
    return _levels_check(
        mp,
        memory.check_names(src),
        Scale.growth(allowed.margin, allowed.scale),
        cand=lc,
        base=lb,
        design=design,
        n=sum(len(r.series[src].values) for r in cand),
        details=details,
    )
