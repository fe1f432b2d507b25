"""The live A/B session's checks: every check paired, judged at every look.

Both models are loaded in one server and measured alike, so each check compares the arms on
units that share their moment (``gate.evidence.ABInfo``):

* **latency shift**: one unit per block pair, the median of the per-request log ratios
  ``ln(B_i / A_i)`` over the block's requests (the same recorded requests, sent to each arm a
  block apart). Load that changes between blocks stays inside a unit;
* **latency percentiles**: one unit per group of consecutive block pairs holding about ten
  requests beyond the percentile per arm (200 requests for p95), the log ratio of the group's
  percentiles: a percentile of a few dozen requests is mostly noise;
* **throughput** at each concurrency: one unit per round of interleaved time slots
  (``ABInfo.throughput_slot_s``, ``gate.app.ab_throughput``), per pair of closed-loop windows
  measured at the same moment on one clock (the levels of ``ABInfo.throughput_together``),
  or per pair measured back to back (slots off): ``mean ln(inferences/s)`` of B minus A's;
* **memory** per source: one unit per sample of both arms (B minus A, bytes): the resident
  memory of each arm's own processes, or the step of the server's memory when each arm was
  loaded (order alternated).

Each check is decided by ``gate.judge.sequential`` at the first look whose interval is wholly
within or beyond its tolerance (``gate.judge.design.sequential_check``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

import numpy as np

from gate.config.policy import MemoryPolicy, Policy, ShiftCheck, TailCheck, ThroughputPolicy
from gate.evidence import ABInfo, ABMemorySample
from gate.judge import memory, throughput
from gate.judge.common import flags
from gate.judge.design import Design, Scale, prefix_estimates, sequential_check
from gate.judge.latency import latency_specs
from gate.judge.memory import Allowed, mib
from gate.judge.protocol import guarded
from gate.result import CheckResult
from gate.stats.common import FloatArray

#: Expected requests beyond a percentile in one unit of a tail check (per arm).
TAIL_EXCEEDANCES = 10


def tail_group(percentile: float, block_size: int) -> int:
    """Block pairs per unit of a tail check: enough for ``TAIL_EXCEEDANCES`` requests beyond
    the percentile in each arm."""
    need = TAIL_EXCEEDANCES / max(1e-9, 1.0 - percentile / 100.0)
    return max(1, math.ceil(need / block_size))


def live_latency_checks(policy: Policy, ab: ABInfo, design: Design) -> list[CheckResult]:
    """Every latency check of the policy on the session's block pairs."""
    out: list[CheckResult] = []
    for name, metric, spec in latency_specs(policy):
        check = partial(_latency_check, (name, metric), spec, ab, design)
        out.append(guarded(check, name=name, metric=metric, **flags(spec)))
    return out


def _arms(ab: ABInfo) -> tuple[FloatArray, FloatArray]:
    a = np.asarray(ab.latencies_a_us, dtype=np.float64)
    b = np.asarray(ab.latencies_b_us, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"arms differ in length ({a.size} vs {b.size})")
    if a.size and not (np.all(a > 0) and np.all(b > 0) and np.all(np.isfinite(a + b))):
        raise ValueError("latencies must be positive and finite")
    return np.log(a), np.log(b)


def _latency_check(
    names: tuple[str, str],
    spec: ShiftCheck | TailCheck,
    ab: ABInfo,
    design: Design,
) -> CheckResult:
    la, lb = _arms(ab)
    size = ab.block_size
    pairs = la.size // size
    if isinstance(spec, ShiftCheck):
        group, what = 1, "median of per-request log ratios ln(B/A) per block pair"
        units = np.median((lb - la)[: pairs * size].reshape(-1, size), axis=1)
    else:
        group = tail_group(spec.percentile, size)
        what = f"log ratio of p{spec.percentile:g} per {group * size} requests per arm"
        width = group * size
        k = (pairs // group) * width
        units = np.percentile(lb[:k].reshape(-1, width), spec.percentile, axis=1)
        units = units - np.percentile(la[:k].reshape(-1, width), spec.percentile, axis=1)
    counts = [c // group for c in design.counts("blocks", pairs)]
    estimates = prefix_estimates(units, counts)
    n_used = _used(estimates, counts) * group * size
    q = 50.0 if isinstance(spec, ShiftCheck) else spec.percentile
    details = {
        "live_ab": {
            "test": f"20%-trimmed t on units: {what} (sequential, {ab.replay} replay)",
            "units": int(units.size),
            "block_size": size,
            "group": group,
            "a_us": float(np.exp(np.percentile(la[:n_used], q))) if n_used else None,
            "b_us": float(np.exp(np.percentile(lb[:n_used], q))) if n_used else None,
            "unit_effects": [math.expm1(float(v)) for v in units[:200]],
        }
    }
    return sequential_check(
        spec,
        names,
        Scale.log_ratio(spec.tolerance),
        estimates=estimates,
        design=design,
        n=n_used,
        details=details,
    )


def _used(estimates: Sequence[object], counts: Sequence[int]) -> int:
    """Units behind the decision: those at the first decided look are not known here, so the
    units at the last look with an estimate (the report's N)."""
    for est, c in zip(reversed(estimates), reversed(counts), strict=True):
        if est is not None:
            return c
    return 0


def live_throughput_checks(policy: Policy, ab: ABInfo, design: Design) -> list[CheckResult]:
    """One check per concurrency level of the policy, on its interleaved window pairs."""
    tp = policy.throughput
    if not tp.enabled:
        return []
    out = []
    for c in tp.concurrency:
        name, metric = throughput.check_names(c)
        check = partial(_throughput_check, c, tp, ab, design)
        flag = flags(tp)
        flag["tolerance"] = -tp.tolerance  # a drop: the report's tolerance is negative
        out.append(guarded(check, name=name, metric=metric, **flag))
    return out


def _throughput_check(c: int, tp: ThroughputPolicy, ab: ABInfo, design: Design) -> CheckResult:
    pairs = [p for p in ab.throughput if p.concurrency == c]
    # inferences/s beside the other arm's load: lower than either arm alone
    together = c in ab.throughput_together
    slot_s = 0.0 if together else ab.throughput_slot_s
    la = np.array([float(np.mean(np.log(p.a.windows))) for p in pairs])
    lb = np.array([float(np.mean(np.log(p.b.windows))) for p in pairs])
    units = lb - la
    counts = design.counts(f"throughput.c{c}", len(pairs))
    estimates = prefix_estimates(units, counts)
    used = _used(estimates, counts)
    a_ips = float(np.exp(np.mean(la[:used]))) if used else 0.0
    b_ips = float(np.exp(np.mean(lb[:used]))) if used else 0.0
    details = {
        "concurrency": c,
        "baseline_ips": round(a_ips, 2),
        "candidate_ips": round(b_ips, 2),
        "pairs": used,
        "pair_effects": [math.expm1(float(v)) for v in units[:200]],
        "windows_per_run": len(pairs[0].a.windows) if pairs else 0,
        "test": "20%-trimmed t on "
        + (
            "window pairs measured together, on one clock"
            if together
            else f"rounds of interleaved {slot_s:g} s slots"
            if slot_s
            else "window pairs, one arm after the other"
        )
        + ": mean ln(inferences/s) of B minus A (sequential)",
        "together": together,
        "slot_s": slot_s,
        "live_ab": True,
    }
    return sequential_check(
        tp,
        throughput.check_names(c),
        Scale.log_ratio(-tp.tolerance),
        estimates=estimates,
        design=design,
        n=used,
        details=details,
    )


def memory_sources(ab: ABInfo, policy: MemoryPolicy) -> list[str]:
    """The sources of the policy the session samples (from its start, or with samples)."""
    have = {s.source for s in ab.memory} | set(ab.memory_sources)
    return [s for s in policy.sources if s in have]


def live_memory_checks(policy: Policy, ab: ABInfo, design: Design) -> list[CheckResult]:
    """One check per memory source the session sampled (per-process samples when there are
    any, else load steps)."""
    mp = policy.memory
    if not mp.enabled:
        return []
    out = []
    for src in memory_sources(ab, mp):
        name, metric = memory.check_names(src)
        check = partial(_memory_check, src, mp, ab.memory, design)
        out.append(guarded(check, name=name, metric=metric, **flags(mp)))
    return out


def _memory_check(
    src: str, mp: MemoryPolicy, samples: Sequence[ABMemorySample], design: Design
) -> CheckResult:
    mine = [s for s in samples if s.source == src]
    kind = "process" if any(s.kind == "process" for s in mine) else "load"
    mine = [s for s in mine if s.kind == kind]
    a = np.array([s.a for s in mine], dtype=np.float64)
    b = np.array([s.b for s in mine], dtype=np.float64)
    # no sample yet: the check is pending
    allowed = Allowed.of(mp, float(np.median(a)) if a.size else 0.0)
    scale = Scale.growth(allowed.margin, allowed.scale)
    counts = design.counts(f"memory.{src}", len(mine))
    estimates = prefix_estimates(b - a, counts)
    used = _used(estimates, counts)
    what = (
        "resident memory of each arm's own processes, sampled during block pairs"
        if kind == "process"
        else "memory step when each arm was loaded (load order alternated)"
    )
    details = {
        "source": src,
        "what": memory.LABEL.get(src, src),
        "kind": kind,
        "baseline_mib": mib(allowed.ref),
        "candidate_mib": mib(float(np.median(b[: max(used, 1)]))) if b.size else None,
        "allowed_mib": mib(allowed.margin),
        "tolerance": mp.tolerance,
        "slack_mib": mp.slack_mib,
        "samples": used,
        "test": f"t on paired samples B − A: {what} (sequential)",
        "live_ab": True,
    }
    return sequential_check(
        mp,
        memory.check_names(src),
        scale if a.size else replace(scale, tolerance=mp.tolerance),
        estimates=estimates,
        design=design,
        n=used,
        details=details,
    )
