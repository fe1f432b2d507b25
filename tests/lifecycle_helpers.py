"""Builders shared by the baseline-lifecycle tests (synthetic baselines and runs)."""

from __future__ import annotations

import numpy as np

from gate.baselines.store import Baseline
from gate.evidence import LatencyRun
from gate.result import CheckResult, CheckStatus, ModelInfo, RunResult, TrafficInfo, Verdict

ENV = {
    "triton_version": "2.51.0",
    "perf_analyzer_version": "2.48.0",
    "cpu_model": "Test CPU",
    "gpu_model": "none",
    "gpu_count": "0",
    "launcher": "local",
    "protocol": "http",
    "max_threads": "4",
    "traffic_digest": "sha256:" + "ab" * 32,
}


def runs(k: int = 3, n: int = 100, seed: int = 0) -> list[LatencyRun]:
    rng = np.random.default_rng(seed)
    return [
        LatencyRun(
            index=i,
            started_at="2026-11-28T00:00:00+00:00",
            latencies_us=[float(x) for x in rng.lognormal(6.2, 0.2, n)],
        )
        for i in range(k)
    ]


def baseline(tag: str = "a", env: dict[str, str] | None = None, k: int = 3) -> Baseline:
    return Baseline(
        model="demo",
        model_digest="sha256:" + "11" * 32,
        model_repository="/models",
        traffic_digest="sha256:" + "ab" * 32,
        traffic_requests=100,
        environment=dict(env or ENV),
        recorded_at="2026-11-28T00:00:00+00:00",
        git_commit="deadbeef" * 5,
        gate_version="0.1.0",
        runs=runs(k),
        source_run_ids=[tag],
    )


def shift_check(p_value: float) -> CheckResult:
    """A latency check as the judge leaves it: with p = 0.6 it passes (under the default
    policy), with p = 0.001 it fails: promote re-derives the verdict from exactly this."""
    status = CheckStatus.FAIL if p_value < 0.05 else CheckStatus.PASS
    return CheckResult(
        name="latency shift",
        metric="latency.shift",
        status=status,
        mode="regression",
        tolerance=0.05,
        effect=0.2 if status is CheckStatus.FAIL else 0.0,
        p_value=p_value,
        p_adjusted=p_value,
        mde=0.06,
    )


def checks_for(verdict: Verdict) -> list[CheckResult]:
    return {Verdict.PASS: [shift_check(0.6)], Verdict.BLOCKED: [shift_check(0.001)]}.get(
        verdict, []
    )


def run_result(
    verdict: Verdict = Verdict.PASS, k: int = 2, env: dict[str, str] | None = None, seed: int = 1
) -> RunResult:
    return RunResult(
        run_id=f"run-{seed}",
        command="check",
        gate_version="0.1.0",
        started_at="2026-11-28T00:00:00+00:00",
        model=ModelInfo(name="demo", repository="/models", digest="sha256:" + "22" * 32),
        traffic=TrafficInfo(
            path="t.jsonl", digest="sha256:" + "ab" * 32, requests=100, duration_s=1.0
        ),
        environment=dict(env or ENV),
        runs=runs(k, seed=seed),
        checks=checks_for(verdict),
        alpha=0.05,
        verdict=verdict,
        git_commit="c0ffee" * 6,
    )
