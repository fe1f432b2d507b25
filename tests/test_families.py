"""The check families and the pure judge: one list, one guard, one power warning.

``gate.judge.families.judge(policy, evidence)`` must decide exactly what the families'
own functions and ``gate.judge.decide`` decide on the same samples, read nothing but its
arguments, change nothing in them, and fail closed when a statistic cannot be computed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_memory_checks import sim_run

from gate.config.policy import MemoryPolicy, Policy, ThroughputPolicy
from gate.evidence import ABInfo, Evidence, LatencyRun, Samples
from gate.judge.families import FAMILIES, judge
from gate.judge.protocol import Family, Noise, guarded, power_warning
from gate.result import CheckResult, CheckStatus, Verdict

POLICY = Policy(memory=MemoryPolicy(sources=("host",)), throughput=ThroughputPolicy(enabled=False))


def _runs(k: int, n: int, seed: int, scale: float = 1.0) -> tuple[LatencyRun, ...]:
    rng = np.random.default_rng(seed)
    return tuple(
        LatencyRun(
            index=i,
            started_at="t",
            latencies_us=(scale * rng.lognormal(6.2, 0.2, n)).tolist(),
        )
        for i in range(k)
    )


def _evidence(seed: int = 0, *, slower: float = 1.0, mem_mib: float = 40.0) -> Evidence:
    rng = np.random.default_rng(seed)
    base = Samples(runs=_runs(3, 300, seed), memory=tuple(sim_run(rng, 40.0) for _ in range(3)))
    cand = Samples(runs=_runs(1, 300, seed + 1, slower), memory=(sim_run(rng, mem_mib),))
    return Evidence(candidate=cand, baseline=base, baseline_where="store/baseline.json.gz")


def test_every_family_is_listed_once() -> None:
    assert sorted(f.family.value for f in FAMILIES) == sorted(m.value for m in Family)


def test_judge_decides_what_the_families_decide_together() -> None:
    """Stored mode: each family decides its checks at its Bonferroni share of alpha (the
    sequential design, one look at the end); a 30% slower model holding 200 MiB more fails
    both latency and memory, and the verdict is BLOCKED."""
    ev = _evidence(slower=1.3, mem_mib=240.0)
    got = judge(POLICY, ev)
    assert got.verdict is Verdict.BLOCKED
    status = {c.metric: c.status for c in got.checks}
    assert status == {
        "latency.shift": CheckStatus.FAIL,
        "latency.p95": CheckStatus.FAIL,
        "memory.host": CheckStatus.FAIL,
    }
    assert got.alpha == pytest.approx(POLICY.alpha / 3)  # three gating checks
    host = next(c for c in got.checks if c.metric == "memory.host")
    assert "MiB" in host.reason and "allowed" in host.reason  # worded by its family


def test_judge_is_pure() -> None:
    ev = _evidence(seed=3)
    before = [r.model_dump() for r in ev.candidate.runs + ev.candidate.memory]
    first, second = judge(POLICY, ev), judge(POLICY, ev)
    assert first == second
    assert [r.model_dump() for r in ev.candidate.runs + ev.candidate.memory] == before


def test_live_ab_judges_from_the_arms_only() -> None:
    """With a live session every check comes from its arms: the stored baseline beside it is
    not used, and memory is judged only from memory samples of the arms (none here)."""
    rng = np.random.default_rng(4)
    a = rng.lognormal(6.2, 0.2, 400)
    ab = ABInfo(
        model_a="demo__A",
        model_b="demo__B",
        baseline_model_dir="v1",
        block_size=100,
        block_warmup=5,
        latencies_a_us=a.tolist(),
        latencies_b_us=(a * 1.5).tolist(),
    )
    ev = _evidence(seed=5)
    ev = Evidence(ev.candidate, ev.baseline, ev.baseline_where, ab=ab)
    got = judge(POLICY, ev)
    shift = next(c for c in got.checks if c.metric == "latency.shift")
    assert "live_ab" in shift.details and shift.status is CheckStatus.FAIL
    assert not any(c.metric == "memory.host" for c in got.checks)


def test_without_a_baseline_latency_is_an_error_not_a_pass() -> None:
    got = judge(POLICY, Evidence(candidate=Samples(runs=_runs(1, 300, 0))))
    lat = [c for c in got.checks if c.metric.startswith("latency.")]
    assert lat and all(c.status is CheckStatus.ERROR for c in lat)
    assert got.verdict is Verdict.ERROR
    assert not any(c.metric.startswith("memory.") for c in got.checks)


def test_objective_values_are_returned_not_written() -> None:
    policy = Policy.model_validate(
        {
            "latency": {"shift": {"enabled": False}, "tails": []},
            "slo": {"objectives": ["latency.p95_ms <= 100"]},
            "memory": {"enabled": False},
            "throughput": {"enabled": False},
        }
    )
    ev = Evidence(candidate=Samples(runs=_runs(1, 300, 0)))
    got = judge(policy, ev)
    assert got.verdict is Verdict.PASS
    assert set(got.slo) == {"latency.p95_ms <= 100"}
    assert 0.5 < got.slo["latency.p95_ms <= 100"] < 1.0  # ms: lognormal(6.2, 0.2) µs


@pytest.mark.parametrize(
    "error", [ValueError("x"), FloatingPointError("x"), ZeroDivisionError("x")]
)
def test_one_guard_for_statistical_failures(error: Exception) -> None:
    def fails() -> CheckResult:
        raise error

    c = guarded(fails, name="n", metric="m", mode="regression", tolerance=0.05, critical=True)
    assert c.status is CheckStatus.ERROR and c.reason == "statistics failed: x"
    assert c.critical and c.tolerance == 0.05


def test_the_guard_does_not_hide_bugs() -> None:
    def bug() -> CheckResult:
        raise TypeError("a bug")

    with pytest.raises(TypeError):
        guarded(bug, name="n", metric="m", mode="regression")


def test_one_power_warning_with_the_verdicts_test() -> None:
    """A fixed-sample check warns when too noisy to decide; a sequential one only when it
    ended INCONCLUSIVE (a decided check needs no warning, whatever its MDE)."""
    noise = Noise("slowdown", "400 requests", "use longer traffic")
    base = CheckResult(
        name="latency shift", metric="latency.shift", status=CheckStatus.PASS, mode="regression"
    )
    noisy = base.model_copy(update={"tolerance": 0.05, "mde": 0.12})
    quiet = base.model_copy(update={"tolerance": 0.05, "mde": 0.09})
    unbounded = base.model_copy(update={"tolerance": 0.05, "mde": math.inf})
    assert power_warning(quiet, noise, 0.8) is None
    w = power_warning(noisy, noise, 0.8)
    assert w == (
        "latency shift: with 400 requests the smallest slowdown "
        "detectable with 80% power is +12.0% (tolerance +5.0%); use longer traffic"
    )
    assert "unbounded" in (power_warning(unbounded, noise, 0.8) or "")
    failed = noisy.model_copy(update={"status": CheckStatus.ERROR})
    assert power_warning(failed, noise, 0.8) is None
    seq = {"sequential": {"decided": True}}
    assert power_warning(noisy.model_copy(update={"details": seq}), noise, 0.8) is None
    undecided = noisy.model_copy(update={"details": seq, "status": CheckStatus.INCONCLUSIVE})
    assert power_warning(undecided, noise, 0.8) == w


def test_an_undecided_live_session_says_what_would_decide_it() -> None:
    """A live A/B session that ran out of budget warns in its own terms: the request pairs
    and run pairs it had, and a larger budget as the way to decide (its rounds cycle the
    traffic, so longer traffic would add nothing); never stored-mode words such as
    "None baseline runs"."""
    from gate.evidence import ABThroughputPair, Sampling, SamplingLook, ThroughputLevel

    rng = np.random.default_rng(6)
    a = rng.lognormal(6.2, 0.6, 120)

    def level(ips: float) -> ThroughputLevel:
        return ThroughputLevel(
            concurrency=1, windows=[ips] * 5, window_requests=200, requests=1050, seconds=1.0
        )

    pairs = [
        ABThroughputPair(concurrency=1, round=k, first="A", a=level(1000.0), b=level(1000.0 * f))
        for k, f in enumerate((0.7, 1.25, 0.8, 1.15), start=1)
    ]
    ab = ABInfo(
        model_a="demo__A",
        model_b="demo__B",
        baseline_model_dir="v1",
        block_size=20,
        block_warmup=2,
        latencies_a_us=a.tolist(),
        latencies_b_us=(a * np.exp(rng.normal(0.0, 0.6, a.size))).tolist(),
        throughput=pairs,
    )
    look = SamplingLook(
        round=4,
        t=1.0,
        final=True,
        seconds=120.0,
        requests=120,
        units={"blocks": 6, "throughput.c1": 4},
    )
    sampling = Sampling(mode="live", max_duration_s=120.0, max_requests=200_000, rho=1.0)
    sampling = sampling.model_copy(update={"looks": [look]})
    policy = Policy(
        latency={"tails": []},
        memory=MemoryPolicy(enabled=False),
        throughput=ThroughputPolicy(concurrency=(1,)),
    )
    ev = Evidence(candidate=Samples(runs=_runs(1, 120, 0)), ab=ab, sampling=sampling)
    got = judge(policy, ev)
    undecided = {c.metric for c in got.checks if c.status is CheckStatus.INCONCLUSIVE}
    assert {"latency.shift", "throughput.c1"} <= undecided
    shift = next(w for w in got.warnings if w.startswith("latency shift:"))
    tput = next(w for w in got.warnings if w.startswith("throughput c=1:"))
    assert "120 request pairs" in shift and "4 interleaved run pairs" in tput
    for w in (shift, tput):
        assert "ab.max_duration_s" in w and "None" not in w and "longer traffic" not in w
