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
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from gate.config.policy import MemoryPolicy, Mode, Policy, ShiftCheck, TailCheck
from gate.evidence import LatencyRun, MemoryRun, ThroughputRun
from gate.judge.design import Design, sequential_check
from gate.judge.latency import latency_specs
from gate.judge.protocol import failed_check, guarded
from gate.judge.sequential import Estimate, difference_of_levels
from gate.result import CheckResult, CheckStatus
from gate.stats.common import FloatArray

MIB = float(2**20)


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
    *,
    name: str,
    metric: str,
    mode: Mode,
    flags: tuple[bool, bool],
    tolerance: float,
    margin: float,
    worse: int,
    cand: FloatArray,
    base: FloatArray,
    design: Design,
    effect: Callable[[float], float],
    n: int,
    details: dict[str, Any],
) -> CheckResult:
    counts = design.counts("runs", cand.size)
    details = {**details, "floor": _floor(base, design, margin)}
    check = sequential_check(
        name=name,
        metric=metric,
        mode=mode,
        flags=flags,
        tolerance=tolerance,
        margin=margin,
        worse=worse,
        estimates=_estimates(cand, base, counts),
        design=design,
        effect=effect,
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
    lp = policy.latency
    sizes = {len(r.latencies_us) for r in [*base, *cand]}
    problem = None
    if len(sizes) != 1:
        problem = f"runs differ in length ({sorted(sizes)}): they are not replays of one traffic"
    elif len(base) < lp.min_baseline_runs:
        problem = (
            f"baseline has {len(base)} run(s); {lp.min_baseline_runs} are needed to estimate "
            "run-to-run drift (gate baseline record --runs)"
        )
    elif next(iter(sizes)) < lp.min_requests:
        problem = f"{next(iter(sizes))} requests is below latency.min_requests={lp.min_requests}"
    out = []
    for name, metric, spec in latency_specs(policy):
        kw: dict[str, Any] = {
            "name": name,
            "metric": metric,
            "mode": spec.mode.value,
            "tolerance": spec.tolerance,
            "critical": spec.critical,
            "blocking": spec.blocking,
        }
        if problem is not None:
            out.append(failed_check(reason=problem, **kw))
            continue
        out.append(guarded(partial(_latency, name, metric, spec, base, cand, design), **kw))
    return out


def _level(run: LatencyRun, q: float) -> float:
    x = np.asarray(run.latencies_us, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("latencies must be positive and finite")
    return float(np.log(np.percentile(x, q)))


def _latency(
    name: str,
    metric: str,
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
        name=name,
        metric=metric,
        mode=spec.mode,
        flags=(spec.critical, spec.blocking),
        tolerance=spec.tolerance,
        margin=math.log1p(spec.tolerance),
        worse=1,
        cand=lc,
        base=lb,
        design=design,
        effect=math.expm1,
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
        name, metric = f"throughput c={c}", f"throughput.c{c}"
        kw: dict[str, Any] = {"name": name, "metric": metric, "mode": tp.mode.value}
        missing = [r for r in base if r.level(c) is None] or [r for r in cand if r.level(c) is None]
        if not base or not cand or missing:
            where = (
                "the baseline"
                if (not base or any(r.level(c) is None for r in base))
                else "this run"
            )
            out.append(failed_check(reason=f"no throughput windows at c={c} in {where}", **kw))
            continue

        def levels(runs: Sequence[ThroughputRun], c: int = c) -> FloatArray:
            return np.array([float(np.mean(np.log(r.level(c).windows))) for r in runs])  # type: ignore[union-attr]

        lb, lc = levels(base), levels(cand)
        details = {
            "concurrency": c,
            "baseline_ips": round(float(np.exp(np.mean(lb))), 2),
            "candidate_ips": round(float(np.exp(np.mean(lc))), 2),
            "baseline_run_ips": [round(float(np.exp(v)), 2) for v in lb],
            "candidate_run_ips": [round(float(np.exp(v)), 2) for v in lc],
            "run_to_run_sd": math.expm1(float(np.std(lb, ddof=1))) if lb.size > 1 else 0.0,
            "windows_per_run": tp.windows,
            "window_requests": tp.window_requests,
            "test": "pooled t on run levels (mean log inferences/s per run), sequential",
        }
        check = partial(
            _levels_check,
            name=name,
            metric=metric,
            mode=tp.mode,
            flags=(tp.critical, tp.blocking),
            tolerance=-tp.tolerance,
            margin=math.log1p(-tp.tolerance),
            worse=-1,
            cand=lc,
            base=lb,
            design=design,
            effect=math.expm1,
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
        name, metric = f"memory ({src})", f"memory.{src}"
        kw: dict[str, Any] = {"name": name, "metric": metric, "mode": mp.mode.value}
        b_has = sum(src in r.series for r in base)
        c_has = sum(src in r.series for r in cand)
        if cand and base and b_has == 0 and c_has == 0:
            notes = sorted({n for r in cand for n in r.notes if n.startswith(src + ":")})
            why = (
                notes[0] if notes else f"{src}: no samples"
            ) + " (in the baseline and in this run)"
            out.append(CheckResult(status=CheckStatus.SKIPPED, reason=why, **kw))
            continue
        problem = _memory_problem(src, base, cand, b_has, c_has)
        if problem is not None:
            out.append(failed_check(reason=problem, **kw))
            continue
        out.append(guarded(partial(_memory, src, mp, base, cand, design), **kw))
    return out


def _memory_problem(
    src: str, base: Sequence[MemoryRun], cand: Sequence[MemoryRun], b_has: int, c_has: int
) -> str | None:
    if not cand or not base:
        return "no memory samples" + (" in the baseline" if not base else "")
    if c_has < len(cand):
        notes = sorted({n for r in cand for n in r.notes if n.startswith(src + ":")})
        return (
            f"{c_has} of {len(cand)} candidate runs have {src} samples but the baseline has "
            f"them: {notes[0] if notes else 'no samples'}"
        )
    if b_has < len(base):
        return (
            f"only {b_has} of {len(base)} baseline runs have {src} samples; "
            "record the baseline again"
        )
    return None


def _memory(
    src: str, mp: MemoryPolicy, base: Sequence[MemoryRun], cand: Sequence[MemoryRun], design: Design
) -> CheckResult:
    lb = np.array([float(np.median(r.series[src].attributable)) for r in base])
    lc = np.array([float(np.median(r.series[src].attributable)) for r in cand])
    ref = float(np.median(lb))
    scale = max(ref, MIB)
    margin = mp.tolerance * max(ref, 0.0) + mp.slack_mib * MIB
    details = {
        "source": src,
        "what": {"host": "host RSS", "gpu": "GPU memory"}.get(src, src),
        "probe": cand[0].series[src].detail,
        "baseline_mib": round(ref / MIB, 2),
        "candidate_mib": round(float(np.median(lc)) / MIB, 2),
        "allowed_mib": round(margin / MIB, 2),
        "tolerance": mp.tolerance,
        "slack_mib": mp.slack_mib,
        "baseline_loaded_mib": [round(r.series[src].loaded / MIB, 2) for r in base],
        "candidate_loaded_mib": [round(r.series[src].loaded / MIB, 2) for r in cand],
        "baseline_peak_mib": [round(r.series[src].peak / MIB, 2) for r in base],
        "candidate_peak_mib": [round(r.series[src].peak / MIB, 2) for r in cand],
        "run_to_run_sd_mib": round(float(np.std(lb, ddof=1)) / MIB, 2) if lb.size > 1 else 0.0,
        "test": "pooled t on run levels (median attributable memory per run), sequential",
    }
    return _levels_check(
        name=f"memory ({src})",
        metric=f"memory.{src}",
        mode=mp.mode,
        flags=(mp.critical, mp.blocking),
        tolerance=margin / scale,
        margin=margin,
        worse=1,
        cand=lc,
        base=lb,
        design=design,
        effect=lambda x: x / scale,
        n=sum(len(r.series[src].values) for r in cand),
        details=details,
    )
