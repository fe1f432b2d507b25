"""Memory checks: a seeded simulation of memory steps, and the check's edge cases.

Memory model of one run (MiB), sampled every 100 ms during a replay of ``N`` samples:

    before_load ~ N(300, 5)                      the server alone (cancels out)
    level_run   = L + N(0, sd_run)                what this model costs on this server start
    series_t    = level_run + ramp_t + ar1_t + spike_t, quantised to 4 KiB pages

* ``ramp_t`` — +3 MiB over the first 10 samples (buffers filled by the first requests);
* ``ar1_t`` — AR(1), phi = 0.9, sd 0.5 MiB: strongly autocorrelated, like a real series;
* ``spike_t`` — 5% of samples, +Exp(4 MiB): garbage not yet collected, temporary tensors.

K = 3 baseline runs and 1 candidate run, as ``gate check`` does by default.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import lfilter

from gate.baselines.requirements import require_samples, require_samples_in_store
from gate.config.policy import MemoryPolicy, Mode, Policy, ThroughputPolicy
from gate.errors import ConfigError
from gate.evidence import MemoryRun, MemorySeries, ThroughputLevel, ThroughputRun
from gate.judge.decide import decide
from gate.judge.memory import explain, memory_checks
from gate.result import CheckStatus

MIB = 2.0**20
N_SAMPLES = 60
ALPHA = 0.05
POLICY = Policy(alpha=ALPHA, throughput=ThroughputPolicy(enabled=False))


def sim_run(rng: np.random.Generator, level_mib: float, *, sd_run: float = 1.0) -> MemoryRun:
    before = rng.normal(300.0, 5.0)
    level = level_mib + rng.normal(0.0, sd_run)
    ramp = np.minimum(np.arange(N_SAMPLES), 10) * 0.3
    ar = lfilter([1.0], [1.0, -0.9], rng.normal(0.0, 0.5 * math.sqrt(1 - 0.81), N_SAMPLES))
    spikes = (rng.random(N_SAMPLES) < 0.05) * rng.exponential(4.0, N_SAMPLES)
    series = before + level + ramp + ar + spikes
    pages = np.round(series * MIB / 4096) * 4096
    return MemoryRun(
        index=0,
        interval_s=0.1,
        series={
            "host": MemorySeries(
                source="host",
                before_load=float(np.round(before * MIB / 4096) * 4096),
                after_load=float(pages[0] - ramp[0] * MIB),
                t_s=[0.1 * i for i in range(N_SAMPLES)],
                values=pages.tolist(),
            )
        },
    )


def verdict_of(base: list[MemoryRun], cand: list[MemoryRun], policy: Policy = POLICY) -> str:
    checks, _ = memory_checks(policy, base, cand)
    (host,) = [c for c in checks if c.metric == "memory.host"]
    decided, _ = decide([host], policy.alpha)
    return decided[0].status.value


def naive_peak_rule(base: list[MemoryRun], cand: list[MemoryRun], tol: float) -> bool:
    """The rule teams write by hand: candidate peak within +tol of the baseline's peak."""
    bp = max(max(r.series["host"].attributable) for r in base)
    cp = max(max(r.series["host"].attributable) for r in cand)
    return cp > (1 + tol) * bp


def test_aa_false_alarm_rate_at_most_alpha_over_1000_runs() -> None:
    """A/A: the same model (a small one, 40 MiB, where spikes matter most), 1000 runs."""
    rng = np.random.default_rng(20261128)
    reps = 1000
    blocked = naive = 0
    for _ in range(reps):
        base = [sim_run(rng, 40.0) for _ in range(3)]
        cand = [sim_run(rng, 40.0)]
        blocked += verdict_of(base, cand) == "fail"
        naive += naive_peak_rule(base, cand, 0.10)
    bound = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    assert blocked / reps <= bound, blocked
    # the naive rule on the same data, side by side: spikes make it cry wolf
    assert naive > blocked


def test_level_is_held_at_the_margin() -> None:
    """The hardest null: the candidate costs exactly (1 + tol) * baseline + slack. With no
    slack and a small tolerance the margin is inside the noise, so the level is really
    exercised."""
    policy = Policy(
        alpha=ALPHA,
        memory=MemoryPolicy(tolerance=0.02, slack_mib=0),
        throughput=ThroughputPolicy(enabled=False),
    )
    rng = np.random.default_rng(7)
    reps = 300
    blocked = 0
    for _ in range(reps):
        base = [sim_run(rng, 200.0) for _ in range(3)]
        # baseline median attributable ~ level + ramp tail (~3 MiB)
        cand = [sim_run(rng, 200.0 + 0.02 * 203.0)]
        blocked += verdict_of(base, cand, policy) == "fail"
    assert blocked / reps <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps), blocked


def test_power_for_a_step_twice_the_allowed_growth() -> None:
    """A step of 2 x (10% + 32 MiB) on a 100 MiB model is blocked >= 95% of the time."""
    rng = np.random.default_rng(11)
    reps = 200
    allowed = 0.10 * 103.0 + 32.0
    blocked = 0
    for _ in range(reps):
        base = [sim_run(rng, 100.0) for _ in range(3)]
        cand = [sim_run(rng, 100.0 + 2 * allowed)]
        blocked += verdict_of(base, cand) == "fail"
    assert blocked / reps >= 0.95, blocked


def test_a_200_mib_step_is_blocked_with_a_reason_that_says_why() -> None:
    rng = np.random.default_rng(1)
    base = [sim_run(rng, 40.0) for _ in range(3)]
    cand = [sim_run(rng, 240.0)]
    checks, warnings = memory_checks(POLICY, base, cand)
    decided, verdict = decide(checks, ALPHA)
    decided = [explain(c) for c in decided]
    host = next(c for c in decided if c.metric == "memory.host")
    assert verdict.value == "BLOCKED" and host.status is CheckStatus.FAIL
    assert host.effect is not None and 4.0 < host.effect < 6.0
    assert host.ci_low is not None and host.ci_low > host.tolerance  # type: ignore[operator]
    assert host.p_value is not None and host.p_value < 1e-3
    assert host.n == N_SAMPLES and host.baseline_runs == 3 and host.mde is not None
    assert "MiB" in host.reason and "allowed" in host.reason and "more than" in host.reason
    assert "after load" in host.reason and "peak" in host.reason
    # no GPU here or in the simulation: the gpu check says so instead of passing silently
    gpu = next(c for c in decided if c.metric == "memory.gpu")
    assert gpu.status is CheckStatus.SKIPPED and gpu.reason
    assert warnings == []


def test_improvement_passes_and_says_so() -> None:
    rng = np.random.default_rng(2)
    base = [sim_run(rng, 240.0) for _ in range(3)]
    cand = [sim_run(rng, 40.0)]
    checks, _ = memory_checks(POLICY, base, cand)
    decided, _ = decide(checks, ALPHA)
    host = next(c for c in map(explain, decided) if c.metric == "memory.host")
    assert host.status is CheckStatus.PASS and "within" in host.reason
    assert host.effect is not None and host.effect < -0.5


def test_non_inferiority_blocks_unless_shown_within() -> None:
    rng = np.random.default_rng(3)
    ni = Policy(
        alpha=ALPHA,
        memory=MemoryPolicy(mode=Mode.NON_INFERIORITY),
        throughput=ThroughputPolicy(enabled=False),
    )
    base = [sim_run(rng, 40.0) for _ in range(3)]
    assert verdict_of(base, [sim_run(rng, 40.0)], ni) == "pass"
    assert verdict_of(base, [sim_run(rng, 240.0)], ni) == "fail"


def test_peak_check_is_opt_in() -> None:
    rng = np.random.default_rng(4)
    policy = Policy(memory=MemoryPolicy(peak=True, sources=("host",)))
    base = [sim_run(rng, 40.0) for _ in range(3)]
    checks, _ = memory_checks(policy, base, [sim_run(rng, 240.0)])
    assert [c.metric for c in checks] == ["memory.host", "memory.host.peak"]
    decided, _ = decide(checks, 0.05)
    assert all(c.status is CheckStatus.FAIL for c in decided)
    assert "peak" in explain(decided[1]).reason


def test_candidate_without_a_source_the_baseline_has_is_an_error() -> None:
    rng = np.random.default_rng(5)
    base = [sim_run(rng, 40.0) for _ in range(3)]
    cand = [MemoryRun(index=0, interval_s=0.1, notes=["host: process 7 is gone"])]
    checks, _ = memory_checks(POLICY, base, cand)
    host = next(c for c in checks if c.metric == "memory.host")
    assert host.status is CheckStatus.ERROR and "process 7 is gone" in host.reason
    _, verdict = decide(checks, ALPHA)
    assert verdict.value == "ERROR"


def test_disabled_memory_gives_no_checks() -> None:
    policy = Policy(memory=MemoryPolicy(enabled=False))
    assert memory_checks(policy, [], []) == ([], [])


# --------------------------------------------------------------------------------------
# A baseline without the samples a check needs: one line, exit 2, names file and fix
# --------------------------------------------------------------------------------------


def _tp(levels: tuple[int, ...]) -> list[ThroughputRun]:
    return [
        ThroughputRun(
            index=0,
            levels=[
                ThroughputLevel(
                    concurrency=c, windows=[1.0, 2.0], window_requests=10, requests=30, seconds=1
                )
                for c in levels
            ],
        )
    ]


@pytest.mark.parametrize(
    ("memory", "throughput", "field", "words"),
    [
        (False, True, "'memory'", "no memory samples"),
        (True, False, "'throughput'", "no throughput samples"),
        (True, True, "'throughput'", "concurrency 4"),
    ],
)
def test_baseline_without_samples_is_a_one_line_exit_2(
    memory: bool, throughput: bool, field: str, words: str
) -> None:
    rng = np.random.default_rng(6)
    base_mem = [sim_run(rng, 40.0)] if memory else []
    base_tp = _tp((1,)) if throughput else []
    with pytest.raises(ConfigError) as info:
        require_samples(
            Policy(),
            baseline_path=Path("/store/demo/baseline-x.json.gz"),
            config_path=Path("ci/gate.yaml"),
            base_memory=base_mem,
            base_throughput=base_tp,
        )
    err = info.value
    assert err.exit_code == 2 and "\n" not in err.message
    assert err.message.startswith("/store/demo/baseline-x.json.gz: field " + field)
    assert words in err.message
    assert err.hint is not None and "gate baseline record ci/gate.yaml" in err.hint


def test_baseline_missing_a_source_the_run_has_is_exit_2() -> None:
    rng = np.random.default_rng(8)
    base = [sim_run(rng, 40.0)]
    cand = [sim_run(rng, 40.0)]
    cand[0].series["gpu"] = cand[0].series["host"].model_copy(update={"source": "gpu"})
    with pytest.raises(ConfigError) as info:
        require_samples(
            Policy(),
            baseline_path=Path("b.json.gz"),
            config_path=Path("gate.yaml"),
            base_memory=base,
            base_throughput=_tp((1, 4)),
            cand_memory=cand,
        )
    assert "'gpu'" in info.value.message


def test_store_check_fails_before_measuring_only_when_no_baseline_has_samples(
    tmp_path: Path,
) -> None:
    from gate.baselines.store import Baseline, save_baseline

    def store_with(memory: list[MemoryRun], env: str) -> Path:
        b = Baseline(
            model="demo",
            model_digest="sha256:x",
            model_repository="r",
            traffic_digest="sha256:t",
            traffic_requests=1,
            environment={"cpu_model": env},
            recorded_at="now",
            gate_version="0",
            runs=[],
            memory=memory,
            throughput=_tp((1, 4)),
        )
        return save_baseline(tmp_path, b)

    old = store_with([], "old")
    with pytest.raises(ConfigError) as info:
        require_samples_in_store(Policy(), [old], Path("gate.yaml"))
    assert str(old) in info.value.message
    rng = np.random.default_rng(9)
    new = store_with([sim_run(rng, 40.0)], "new")
    require_samples_in_store(Policy(), [new, old], Path("gate.yaml"))  # one is usable


def test_memory_and_throughput_slos_use_the_stored_samples() -> None:
    """Absolute objectives (``slo.objectives``) on memory and throughput: a model holding
    240 MiB breaks 'host_peak_mib <= 100'; throughput windows carry a CI."""
    from gate.evidence import Samples
    from gate.judge.slo import slo_checks

    rng = np.random.default_rng(10)
    throughput = [
        ThroughputRun(
            index=0,
            levels=[
                ThroughputLevel(
                    concurrency=4,
                    windows=[980.0, 1010.0, 1000.0, 990.0, 1020.0],
                    window_requests=200,
                    requests=1058,
                    seconds=1.0,
                )
            ],
        )
    ]
    res = Samples(memory=(sim_run(rng, 240.0),), throughput=tuple(throughput))
    checks = slo_checks(
        (
            "memory.host_peak_mib <= 100",
            "memory.host_loaded_mib <= 300",
            "throughput.c4_ips >= 900",
        ),
        res,
        mode="non_inferiority",
        alpha=0.05,
        power=0.8,
    )
    decided, _ = decide(checks, 0.05)
    st = {c.metric: c.status for c in decided}
    assert st == {
        "slo.memory.host_peak_mib": CheckStatus.FAIL,
        "slo.memory.host_loaded_mib": CheckStatus.PASS,
        "slo.throughput.c4_ips": CheckStatus.PASS,
    }, [c.reason for c in decided]
    with pytest.raises(ConfigError):
        slo_checks(
            ("memory.gpu_peak_mib <= 1",), res, mode="non_inferiority", alpha=0.05, power=0.8
        )
