"""Stored-only mode, judged sequentially over candidate runs (``gate.judge.stored_runs``).

Runs are simulated (lognormal requests around a per-run level that drifts between server
starts): the judge is pure, so the looks ``gate check`` would record after each fresh
candidate run are written here as ``Sampling`` and judged as the live check judges them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gate.config.policy import Policy
from gate.evidence import Evidence, LatencyRun, Samples, Sampling, SamplingLook
from gate.judge.families import judge
from gate.result import CheckStatus, Verdict

POLICY = Policy.model_validate(
    {
        "latency": {"tails": []},
        "memory": {"enabled": False},
        "throughput": {"enabled": False},
    }
)


def _runs(rng: np.random.Generator, k: int, level: float, drift: float) -> tuple[LatencyRun, ...]:
    return tuple(
        LatencyRun(
            index=i,
            started_at="t",
            latencies_us=(level * math.exp(rng.normal(0, drift)) * rng.lognormal(0, 0.2, 400))
            .round(1)
            .tolist(),
        )
        for i in range(k)
    )


def _sampling(runs: int, total: int) -> Sampling:
    """Looks after candidate run 1, 2, …, ``runs``; the last is final when ``runs == total``."""
    looks = [
        SamplingLook(
            round=m,
            t=m / total,
            final=m == total,
            seconds=10.0 * m,
            requests=400 * m,
            units={"runs": m},
        )
        for m in range(1, runs + 1)
    ]
    return Sampling(
        mode="stored", max_duration_s=10.0 * total, max_requests=10**6, rho=1.0, looks=looks
    )


def _judge(base: tuple[LatencyRun, ...], cand: tuple[LatencyRun, ...], total: int) -> Evidence:
    return Evidence(
        candidate=Samples(runs=cand),
        baseline=Samples(runs=base),
        baseline_where="store/b.json.gz",
        sampling=_sampling(len(cand), total),
    )


def test_a_10x_slower_candidate_is_blocked_after_its_first_run() -> None:
    rng = np.random.default_rng(1)
    ev = _judge(_runs(rng, 3, 500.0, 0.03), _runs(rng, 1, 5000.0, 0.03), total=8)
    got = judge(POLICY, ev)
    (shift,) = got.checks
    assert got.verdict is Verdict.BLOCKED and shift.status is CheckStatus.FAIL
    assert shift.details["sequential"]["look"] == 1


def test_few_baseline_runs_end_inconclusive_and_say_k_is_the_floor() -> None:
    """K = 3 runs drifting 8% between server starts, an unchanged candidate: mostly no number
    of candidate runs can show a 5% tolerance kept, so at the budget the check is
    INCONCLUSIVE and names the baseline's K; false BLOCKs stay within alpha (0.05, one
    gating check) over 200 seeded sessions of up to 6 candidate runs."""
    status = []
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        base, cand = _runs(rng, 3, 500.0, 0.08), _runs(rng, 6, 500.0, 0.08)
        (shift,) = judge(POLICY, _judge(base, cand, total=6)).checks
        status.append(shift.status)
        if shift.status is CheckStatus.INCONCLUSIVE:
            assert shift.details["floor"]["baseline_runs"] == 3
            assert shift.details["sequential"]["final"]
    assert status.count(CheckStatus.FAIL) / 200 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 200)
    assert status.count(CheckStatus.INCONCLUSIVE) / 200 > 0.5


def test_many_quiet_baseline_runs_pass_an_unchanged_model() -> None:
    rng = np.random.default_rng(3)
    base = _runs(rng, 20, 500.0, 0.005)
    cand = _runs(rng, 4, 500.0, 0.005)
    got = judge(POLICY, _judge(base, cand, total=8))
    (shift,) = got.checks
    assert got.verdict is Verdict.PASS and shift.status is CheckStatus.PASS
    assert shift.details["sequential"]["decided"]


@pytest.mark.parametrize("seed", range(3))
def test_an_undecided_look_before_the_budget_is_pending(seed: int) -> None:
    rng = np.random.default_rng(10 + seed)
    base = _runs(rng, 3, 500.0, 0.05)
    got = judge(POLICY, _judge(base, _runs(rng, 1, 500.0, 0.05), total=6))
    (shift,) = got.checks
    seq = shift.details["sequential"]
    assert not seq["final"] and (seq["decided"] or shift.status is CheckStatus.INCONCLUSIVE)
