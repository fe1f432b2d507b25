"""End-to-end memory, throughput and load modes: the real CLI, tritonserver and perf_analyzer.

The session baseline (``recorded_baseline``: the demo model, default policy) carries memory
series and throughput windows at concurrency 1 and 4; the candidates here are judged
against it. Runs are kept short: the machines are small and shared.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES, alive
from scenario import gate_run

from gate.baselines.store import find_baselines, load_baseline, save_baseline

pytestmark = pytest.mark.server

MIB = 2**20


def test_baseline_holds_memory_series_and_throughput_at_two_levels(
    recorded_baseline: tuple[Path, Path],
) -> None:
    store, _ = recorded_baseline
    (path,) = find_baselines(store, "demo")
    b = load_baseline(path)
    assert len(b.memory) == len(b.runs) == len(b.throughput) == 4
    for m in b.memory:
        host = m.series["host"]
        # the python-backend stub is a child of the server: the model costs tens of MiB
        assert 10 * MIB < host.loaded < 500 * MIB
        assert len(host.values) >= 2 and len(host.values) == len(host.t_s)
        assert "gpu" not in m.series and any(n.startswith("gpu:") for n in m.notes)
    for t in b.throughput:
        assert [lv.concurrency for lv in t.levels] == [1, 4]
        for lv in t.levels:
            assert len(lv.windows) == 5 and all(w > 0 for w in lv.windows)
            assert "--concurrency-range" in lv.perf_analyzer_args
    assert b.environment["load"] == "recorded"


def test_model_holding_200_mb_more_is_blocked_on_memory(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    r = gate_run(tmp_path, store=store, repository=FIXTURES / "models" / "hog")
    assert r.returncode == 1, r.output
    run, checks = r.run, r.checks
    host = checks["memory (host)"]
    assert host["status"] == "fail", host
    assert host["details"]["candidate_mib"] - host["details"]["baseline_mib"] > 180
    assert checks["memory (gpu)"]["status"] == "skipped"
    assert {"throughput c=1", "throughput c=4"} <= set(checks)
    cand = run["memory"][0]["series"]["host"]
    assert cand["after_load"] - cand["before_load"] > 200 * MIB
    (mem_failure,) = [f for f in r.junit_failures() if f.startswith("memory (host)")]
    # the failure line alone says what grew, by how much, against what allowance, and how
    # sure: the sequential design's interval (a fixed-sample p-value is no error rate after
    # several looks, so the line has none)
    assert "MiB" in mem_failure and "allowed" in mem_failure and "% CI " in mem_failure
    assert "memory (host)" in (r.reports / "summary.md").read_text()
    assert not alive(r.children)


def test_fixed_rate_load_replays_the_requested_count(tmp_path: Path, tools_ready: None) -> None:
    r = gate_run(
        tmp_path,
        "replay",
        args=("-q",),
        traffic=FIXTURES / "traffic" / "demo-small.jsonl",
        policy="version: 1\nthroughput: {enabled: false}\n",
        extra="load: {mode: rate, rate_rps: 150, duration_s: 1.5}\n",
    )
    assert r.returncode == 0, r.output
    run = r.run
    assert len(run["runs"][0]["latencies_us"]) == 225
    assert run["traffic"]["requests"] == 225
    assert run["traffic"]["duration_s"] == pytest.approx(224 / 150, abs=1e-3)
    assert run["environment"]["load"] == "rate:150rps:1.5s:constant"
    assert "--request-intervals" in run["runs"][0]["perf_analyzer"]["args"]
    assert run["memory"][0]["series"]["host"]["values"]
    assert run["throughput"] == []
    assert not alive(r.children)


def test_baseline_without_memory_samples_is_exit_2_before_measuring(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    (path,) = find_baselines(store, "demo")
    old = load_baseline(path).model_copy(update={"memory": []})
    old_store = tmp_path / "store"
    written = save_baseline(old_store, old)
    before = written.read_bytes()
    r = gate_run(tmp_path, store=old_store, timeout=120)
    assert r.returncode == 2, r.output
    run, cfg = r.run, r.config
    err = run["error"]
    assert "\n" not in err["message"] and err["exit_code"] == 2
    assert err["message"].startswith(f"{written}: field 'memory'")
    assert "no memory samples" in err["message"]
    assert f"gate baseline record {cfg}" in err["hint"]
    assert err["message"] in r.output.replace("\n", " ")
    assert written.read_bytes() == before
    stored = [p for p in old_store.rglob("*") if p.is_file() and p.name != ".lock"]
    assert stored == [written]  # nothing new stored (the writers' lock file aside)
    assert not any(s["name"].startswith("server start") for s in run["stages"])
    assert not r.children or not alive(r.children)


def test_baseline_replayed_in_another_load_mode_is_exit_2(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    r = gate_run(
        tmp_path, store=store, timeout=120, extra="load: {mode: concurrency, concurrency: 2}\n"
    )
    assert r.returncode == 2, r.output
    out = r.output.replace("\n", " ")
    assert "environment.load" in out and "'recorded'" in out
    assert "concurrency:2:recorded" in out
