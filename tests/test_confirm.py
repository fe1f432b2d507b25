"""A failure against the stored baseline is confirmed on fresh servers before it blocks
(``gate.app.confirm``, ``measure.confirm_runs``).

The server tests use the real tritonserver and perf_analyzer. The model of the first test is
the demo model that is slow only in the first server session it runs in (a marker file
outside the model folder says whether it ran before): what a co-tenant taking a core for the
length of one candidate session does to an unchanged model on a shared runner. The second
test's model is slow in every session: the confirmation must not clear a real regression.
The tests without a server judge simulated runs with the real judge: stored-only mode stops
at the first look where a check fails, and the confirming judgement is one final look on all
candidate runs (``gate.app.confirm.judge_again``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, alive
from scenario import gate_run

from gate.config.policy import Policy
from gate.evidence import Evidence, LatencyRun, Samples, Sampling, SamplingLook
from gate.judge.families import Judgement
from gate.judge.protocol import Family
from gate.result import CheckResult, CheckStatus, Verdict

SLOW_ONCE = '''
import time
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

MARKER = Path({marker!r})


class TritonPythonModel:
    """The demo model v1, made slow (a busy loop per request) in its first session only."""

    def initialize(self, args):
        rng = np.random.default_rng(0)
        self.w1 = rng.standard_normal((16, 64)).astype(np.float32) / 4.0
        self.w2 = rng.standard_normal((64, 4)).astype(np.float32) / 8.0
        self.busy_s = 0.0 if MARKER.exists() else 0.002
        MARKER.touch()

    def execute(self, requests):
        responses = []
        for request in requests:
            end = time.perf_counter() + self.busy_s
            while time.perf_counter() < end:
                pass
            x = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            h = np.maximum(x @ self.w1, 0.0)
            z = h @ self.w2
            e = np.exp(z - z.max(axis=1, keepdims=True))
            probs = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("PROBS", probs)]))
        return responses
'''


def _slow_once_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "models"
    shutil.copytree(
        FIXTURES / "models" / "v1" / "demo",
        repo / "demo",
        ignore=shutil.ignore_patterns("*.sig", "__pycache__"),
    )
    marker = tmp_path / "ran-once"
    (repo / "demo" / "1" / "model.py").write_text(SLOW_ONCE.format(marker=str(marker)))
    return repo, marker


@pytest.mark.server
def test_a_failure_of_one_slowed_session_is_not_a_block(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    """The first candidate session is 2 ms per request slower (several times the demo's
    latency): the first judgement fails latency or throughput; the confirming session on a
    fresh server is the unchanged model, and judged on both runs the shift and throughput
    checks no longer fail (the CI runner's false block was throughput c=4 −21%)."""
    store, _ = recorded_baseline
    repo, marker = _slow_once_repo(tmp_path)
    r = gate_run(tmp_path, store=store, repository=repo, policy="version: 1\n")
    assert marker.exists()
    run = r.run
    assert r.returncode in (0, 1), r.output  # a verdict, not an error
    stages = [s["name"] for s in run["stages"]]
    first = sum(run["runs"][0]["latencies_us"]) / len(run["runs"][0]["latencies_us"])
    confirmed = [w for w in run["warnings"] if "measure.confirm_runs" in w]
    if confirmed:
        # which checks the first judgement names depends on which failed by the look that
        # stopped it: stored-only sampling stops at the first look where a gating check fails
        # (a CI run saw throughput c=1 and c=4 fail there while the run-level latency shift,
        # on one candidate run, was still undecided)
        assert len(confirmed) == 1, run["warnings"]
        named = ("latency shift", "throughput c=1", "throughput c=4")
        assert any(name in confirmed[0].split(" failed on ")[0] for name in named), confirmed
        runs = _first_runs(confirmed[0]) + 1
        assert "server start #2" in stages and "judge again" in stages, stages
        assert len(run["runs"]) == runs and len(run["throughput"]) == runs
        assert r.checks["latency shift"]["candidate_runs"] == runs
        later = [sum(x["latencies_us"]) / len(x["latencies_us"]) for x in run["runs"][1:]]
        assert first > 2 * max(later), (first, later)  # only the first session was slowed
    else:
        # the first look did not fail: its interval on one candidate run against the stored
        # runs (a t with few degrees of freedom at the first look's share of alpha) can be
        # too wide on a noisy machine even for this slowdown (a CI runner: no second server
        # at all); then nothing is confirmed and the sampling went on, or the budget ended it
        assert "judge again" not in stages, stages
        assert run["sampling"]["stopped"] != "blocked", run["sampling"]
    # the sessions' own spread is part of the run-level tests: one slowed session alone does
    # not show a shift or a throughput drop (p95 is left out: on a machine busy with other
    # work the unchanged session's tail can be far off the baseline's too)
    for name in ("latency shift", "throughput c=1", "throughput c=4"):
        assert r.status[name] != "fail", (name, r.output)
    assert not alive(r.children)


@pytest.mark.server
def test_a_regression_in_every_session_is_still_blocked(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    """The slow fixture model is slow on every server: confirmed, still BLOCKED on latency."""
    store, _ = recorded_baseline
    r = gate_run(tmp_path, store=store, repository=FIXTURES / "models" / "slow")
    assert r.returncode == 1, r.output
    run = r.run
    assert run["verdict"] == "BLOCKED"
    confirmed = [w for w in run["warnings"] if "measure.confirm_runs" in w]
    assert len(confirmed) == 1, run["warnings"]
    # the first look that fails may come after one candidate run or, on a noisy machine,
    # after more (a CI runner: two); the confirmation is one run more on a fresh server
    runs = _first_runs(confirmed[0]) + 1
    assert len(run["runs"]) == runs, "the block was confirmed on one more fresh server"
    assert r.status["latency shift"] == "fail"
    assert r.checks["latency shift"]["candidate_runs"] == runs
    assert not alive(r.children)


@pytest.mark.server
def test_confirm_runs_0_blocks_on_the_first_runs(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    r = gate_run(
        tmp_path,
        store=store,
        repository=FIXTURES / "models" / "slow",
        edit={"retries: 2": "retries: 2\n  confirm_runs: 0"},
    )
    assert r.returncode == 1, r.output
    sampling = r.run["sampling"]
    assert sampling["stopped"] == "blocked", sampling
    # no run after the look that blocked (usually the first; a noisy machine may need two)
    assert len(r.run["runs"]) == sampling["looks"][-1]["round"]
    assert not any("measure.confirm_runs" in w for w in r.run["warnings"])
    assert "judge again" not in [s["name"] for s in r.run["stages"]]


def _first_runs(warning: str) -> int:
    """How many candidate runs the first (failed) judgement had, from the confirmation
    warning (``gate.app.confirm.confirmation_warning``)."""
    m = re.search(r"failed on the first (\d+) candidate run", warning)
    assert m, warning
    return int(m.group(1))


def _check(name: str, metric: str, status: CheckStatus) -> CheckResult:
    return CheckResult(name=name, metric=metric, status=status, mode="regression")


def _evidence(*, ab: bool, baseline: bool) -> Evidence:
    from gate.evidence import ABInfo

    s = Samples(runs=(LatencyRun(index=0, started_at="", latencies_us=[100.0, 110.0]),))
    info = (
        ABInfo(model_a="a", model_b="b", baseline_model_dir="", block_size=1, block_warmup=0)
        if ab
        else None
    )
    return Evidence(candidate=s, baseline=s if baseline else None, ab=info)


def test_only_session_level_failures_against_the_store_are_confirmed() -> None:
    """Latency is confirmed only when it came from the stored runs (live A/B is paired in
    time already); accuracy never (the machine's load does not change answers)."""
    from gate.app.confirm import session_failures

    checks = (
        _check("latency shift", "latency.shift", CheckStatus.FAIL),
        _check("accuracy", "accuracy.top1", CheckStatus.FAIL),
        _check("throughput c=4", "throughput.c4", CheckStatus.FAIL),
        _check("memory (host)", "memory.host", CheckStatus.PASS),
    )
    fams = (Family.LATENCY, Family.ACCURACY, Family.THROUGHPUT, Family.MEMORY)
    j = Judgement(checks, Verdict.BLOCKED, families=fams)
    assert session_failures(_evidence(ab=False, baseline=True), j) == [
        "latency shift",
        "throughput c=4",
    ]
    assert session_failures(_evidence(ab=True, baseline=True), j) == ["throughput c=4"]
    assert session_failures(_evidence(ab=False, baseline=False), j) == []
    only_accuracy = Judgement(checks[1:2], Verdict.BLOCKED, families=fams[1:2])
    assert session_failures(_evidence(ab=False, baseline=True), only_accuracy) == []


POLICY = Policy.model_validate(
    {"latency": {"tails": []}, "memory": {"enabled": False}, "throughput": {"enabled": False}}
)


def _run(rng: np.random.Generator, i: int, level: float) -> LatencyRun:
    lat = level * np.exp(rng.normal(0, 0.01)) * rng.lognormal(0, 0.2, 400)
    return LatencyRun(index=i, started_at="t", latencies_us=lat.round(1).tolist())


def _look(m: int) -> SamplingLook:
    """The look after candidate run ``m`` of a 60 s budget, 10 s per run."""
    return SamplingLook(round=m, t=m / 6, seconds=10.0 * m, requests=400 * m, units={"runs": m})


def _stored(levels: list[float], looks: int) -> Evidence:
    """K = 3 quiet baseline runs at 500 µs, candidate runs at ``levels``, ``looks`` looks."""
    rng = np.random.default_rng(7)
    base = tuple(_run(rng, i, 500.0) for i in range(3))
    cand = tuple(_run(rng, i, lv) for i, lv in enumerate(levels))
    sampling = Sampling(
        mode="stored",
        max_duration_s=60.0,
        max_requests=10**6,
        rho=1.0,
        looks=[_look(m) for m in range(1, looks + 1)],
    )
    return Evidence(
        candidate=Samples(runs=cand),
        baseline=Samples(runs=base),
        baseline_where="store/b.json.gz",
        sampling=sampling,
    )


def test_one_slowed_session_fails_the_sequence_and_does_not_stand_when_judged_again() -> None:
    """The first candidate run 3x slower (a co-tenant on its core), the second as the
    baseline: the first look FAILs latency shift; judged once more on both runs (one final
    look), the check no longer fails and the sampling says it was confirmed."""
    from gate.app.confirm import judge_again, session_failures
    from gate.judge.families import judge

    first = _stored([1500.0], looks=1)
    j1 = judge(POLICY, first)
    assert j1.checks[0].status is CheckStatus.FAIL
    assert session_failures(first, j1) == ["latency shift"]
    both = _stored([1500.0, 500.0], looks=1)
    evidence, again = judge_again(POLICY, both, _look(2))
    (shift,) = again.checks
    assert shift.status is not CheckStatus.FAIL, shift
    assert shift.candidate_runs == 2 and shift.baseline_runs == 3
    assert evidence.sampling is not None and evidence.sampling.stopped == "confirmed"
    assert [lk.final for lk in evidence.sampling.looks] == [True]
    assert judge(POLICY, evidence).checks == again.checks  # the saved run judges the same


def test_the_same_sequence_with_one_more_look_would_keep_the_first_failure() -> None:
    """Why the confirmation is a judgement of its own: in the sequence the first decided look
    wins, so a second look on both runs cannot clear the first look's FAIL."""
    from gate.judge.families import judge

    (shift,) = judge(POLICY, _stored([1500.0, 500.0], looks=2)).checks
    assert shift.status is CheckStatus.FAIL and shift.details["sequential"]["look"] == 1
    assert shift.candidate_runs == 1  # decided on the first run


def test_a_regression_in_every_run_is_still_blocked_when_judged_again() -> None:
    from gate.app.confirm import judge_again

    evidence, again = judge_again(POLICY, _stored([1500.0, 1500.0], looks=1), _look(2))
    assert again.verdict is Verdict.BLOCKED and again.checks[0].status is CheckStatus.FAIL
    assert evidence.sampling is not None and evidence.sampling.stopped == "blocked"
