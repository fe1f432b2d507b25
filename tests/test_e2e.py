"""End-to-end: the real CLI, the real tritonserver, the real perf_analyzer.

These tests start servers (a few seconds each) and are marked ``server``; CI runs them all.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, ROOT, alive, gate_cmd, run_gate, watch_children
from scenario import AA_POLICY, gate_run, gate_yaml

pytestmark = pytest.mark.server


def test_identical_model_passes(recorded_baseline: tuple[Path, Path], tmp_path: Path) -> None:
    """A/A: the unchanged model passes. alpha is 0.001 here so that this real-machine A/A
    test flakes at most once in a thousand runs (the default alpha 0.05 is a user choice).
    With stored baselines on a noisy shared machine the latency checks are usually too
    noisy to detect a 2x-tolerance change (INCONCLUSIVE, gate.judge.decide); this policy
    says ``inconclusive: pass``, so the run passes with a warning saying so."""
    store, _ = recorded_baseline
    r = gate_run(tmp_path, store=store, policy=AA_POLICY)
    assert r.returncode == 0, r.output
    assert "PASS" in r.stdout
    run = r.run
    assert run["verdict"] == "PASS"
    assert {c["name"] for c in run["checks"]} == {
        "latency shift",
        "latency p95",
        "memory (host)",
        "memory (gpu)",  # skipped: no GPU here
        "throughput c=1",
        "throughput c=4",
    }
    assert len(run["runs"][0]["latencies_us"]) == 400
    stage_names = [s["name"] for s in run["stages"]]
    for expected in ("config", "traffic", "tools", "server start #1", "replay #1", "judge"):
        assert expected in stage_names
    assert r.junit_failures() == []
    assert (r.reports / "summary.md").read_text().count("PASS") >= 1
    assert not alive(r.children)


def test_slow_model_is_blocked(recorded_baseline: tuple[Path, Path], tmp_path: Path) -> None:
    """Stored mode stops at the first look where a gating check fails: with 4 stored runs
    that is throughput (window level, small drift) or latency, whichever decides first."""
    store, _ = recorded_baseline
    r = gate_run(tmp_path, store=store, repository=FIXTURES / "models" / "slow")
    assert r.returncode == 1, r.output
    assert "BLOCKED" in r.stdout
    failures = r.junit_failures()
    assert failures, "a blocked run must carry a JUnit failure"
    assert any(
        ("latency shift" in f or "throughput" in f) and "tolerance" in f and "CI" in f
        for f in failures
    )
    assert r.run["sampling"]["stopped"] == "blocked"
    md = (r.reports / "summary.md").read_text()
    assert "BLOCKED" in md
    assert not alive(r.children)


def test_model_that_fails_to_load_is_exit_3(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    r = gate_run(tmp_path, store=store, repository=FIXTURES / "models" / "broken")
    assert r.returncode == 3, r.output
    # the server's own error message reaches the user and the report
    assert "weights.npz is missing" in r.output
    assert r.run["verdict"] == "ERROR" and r.run["error"]["exit_code"] == 3
    assert "weights.npz is missing" in r.run["server_log_tail"]
    assert any(s["status"] == "failed" for s in r.run["stages"])
    assert not alive(r.children), "tritonserver must not outlive a failed load"


def test_traffic_that_does_not_match_the_model_is_exit_2(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    from gate.inputs.traffic import Request, TensorSpec, Traffic, read_traffic, write_traffic

    t = read_traffic(FIXTURES / "traffic" / "demo-small.jsonl")
    renamed = Traffic(
        model="demo",
        inputs=(TensorSpec("FEATURES", "FP32", (16,)),),
        requests=tuple(Request(r.t_us, {"FEATURES": r.inputs["INPUT0"]}) for r in t.requests),
    )
    path = tmp_path / "wrong.jsonl"
    write_traffic(path, renamed)
    # against the stored baseline: other traffic than it was recorded with, before any server
    r = gate_run(tmp_path, store=store, traffic=path)
    assert r.returncode == 2, r.output
    assert "traffic_digest" in r.completed.stderr, r.output
    assert not {n for n in r.completed.names if n.startswith(("tritonserver", "perf_analyzer"))}
    # judged by an SLO alone (no baseline): the served model itself refuses the inputs
    r = gate_run(
        tmp_path,
        name="gate-slo.yaml",
        store=tmp_path / "empty-store",
        reports=tmp_path / "r2",
        traffic=path,
        policy="version: 1\nlatency: {shift: {enabled: false}, tails: []}\n"
        "memory: {enabled: false}\nthroughput: {enabled: false}\n"
        "slo: {objectives: ['latency.p95_ms <= 1000']}\n",
    )
    assert r.returncode == 2, r.output
    assert "INPUT0" in r.output or "FEATURES" in r.output
    assert not alive(r.children)


def test_ctrl_c_during_replay_leaves_nothing_behind(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    cfg = gate_yaml(tmp_path, store=store)
    proc = subprocess.Popen(
        gate_cmd("check", str(cfg)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    seen: set[int] = set()
    import psutil

    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    saw_pa = False
    # wait until perf_analyzer is running, then press Ctrl-C (SIGINT to the gate process)
    while time.monotonic() < deadline and proc.poll() is None:
        kids = parent.children(recursive=True)
        seen.update(k.pid for k in kids)
        if any(k.name() == "perf_analyzer" for k in kids if k.is_running()):
            saw_pa = True
            break
        time.sleep(0.02)
    assert saw_pa, "perf_analyzer never started"
    for k in parent.children(recursive=True):
        seen.add(k.pid)
        with contextlib.suppress(psutil.NoSuchProcess):  # a short-lived child may be gone
            seen.update(g.pid for g in k.children(recursive=True))
    proc.send_signal(signal.SIGINT)
    seen |= watch_children(proc, 120)  # type: ignore[arg-type]
    out, err = proc.communicate()
    assert proc.returncode == 130, out + err
    assert not alive(seen), f"left behind: {alive(seen)}"
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["error"]["kind"] == "Interrupted"


def test_replay_pairs_requests_by_index(tmp_path: Path, tools_ready: None) -> None:
    """The probe model sleeps INPUT0[0] ms: latencies must follow the traffic's payloads."""
    from gate.inputs.traffic import Request, TensorSpec, Traffic, write_traffic

    n = 80
    ms = [(i * 7) % 5 * 20.0 for i in range(n)]  # 0, 40, 80, 20, 60, ... ms
    reqs = []
    for i, m in enumerate(ms):
        x = np.zeros((1, 16), dtype=np.float32)
        x[0, 0] = m
        reqs.append(Request(i * 100_000, {"INPUT0": x}))
    path = tmp_path / "probe.jsonl"
    write_traffic(path, Traffic("probe", (TensorSpec("INPUT0", "FP32", (16,)),), tuple(reqs)))
    r = gate_run(
        tmp_path,
        "replay",
        args=("-q",),
        model="probe",
        repository=FIXTURES / "models" / "probe",
        traffic=path,
        # the probe serves ~25 requests/s: the throughput stage (not this test's subject)
        # took ~90 s of the test's ~105
        policy="version: 1\nthroughput: {enabled: false}\n",
    )
    assert r.returncode == 0, r.output
    lat_ms = np.array(r.run["runs"][0]["latencies_us"]) / 1000.0
    assert lat_ms.size == n
    excess = lat_ms - np.array(ms)
    # every request took at least its own sleep, and the pattern matches index by index
    # (a request paired with a payload that sleeps longer would show a negative excess;
    # one paired with a shorter sleep an excess of >= 20 ms, the step between levels). A
    # loaded CI machine adds queueing to some requests, so the bound is on most of them.
    assert np.all(excess > -0.5), excess.min()
    assert np.mean(excess < 19.5) >= 0.9, np.round(excess, 2)
    assert np.median(excess) < 10, np.round(excess, 2)
    assert not alive(r.children)


def test_doctor_finds_the_real_tools(tools_ready: None) -> None:
    res = run_gate("doctor", timeout=120)
    assert res.returncode == 0, res.output
    assert "tritonserver" in res.stdout and "perf_analyzer" in res.stdout
    assert "2." in res.stdout  # a perf_analyzer version like 2.48.0
