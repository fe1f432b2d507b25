"""End-to-end accuracy and SLO checks: the real CLI, tritonserver and perf_analyzer.

The baseline is the demo model v1 with the demo eval set (5000 labelled samples);
``fixtures/models/lessaccurate`` predicts another class on ~3% of inputs (about -3 points
top-1) at the same latency, so only the accuracy check can block it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, alive, run_gate, write_config
from scenario import GateRun, gate_run

pytestmark = pytest.mark.server

EVAL = FIXTURES / "eval" / "demo.jsonl.gz"
ACC = f"accuracy:\n  eval_set: {EVAL}\n"


@pytest.fixture(scope="module")
def acc_baseline(
    tmp_path_factory: pytest.TempPathFactory, tools_ready: None
) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("accbase")
    policy = root / "policy.yaml"
    # alpha 0.001: the latency checks of this real-machine A/A run flake at most 1 in 1000;
    # inconclusive: pass, because 2 stored runs on a busy machine leave the latency checks
    # INCONCLUSIVE (gate.judge.decide), and these tests are about accuracy: so is a short
    # sampling budget (accuracy is measured once on the eval set; more candidate runs only
    # sample latency and throughput, for up to the default 120 s)
    policy.write_text(
        "version: 1\nalpha: 0.001\ninconclusive: pass\n"
        "agreement: {enabled: true, max_abs_diff: 0.0001}\nab: {max_duration_s: 15}\n"
    )
    cfg = write_config(
        root / "gate.yaml",
        store=root / "store",
        reports=root / "r",
        runs=2,
        policy=policy,
        extra=ACC,
    )
    res = run_gate("baseline", "record", str(cfg), "-q", timeout=400)
    assert res.returncode == 0, res.output
    yield root / "store", policy


def _run(tmp_path: Path, store: Path, policy: Path, repo: str = "v1") -> GateRun:
    r = gate_run(
        tmp_path, store=store, policy=policy, repository=FIXTURES / "models" / repo, extra=ACC
    )
    assert not alive(r.children)
    return r


def test_unchanged_model_passes_accuracy(acc_baseline: tuple[Path, Path], tmp_path: Path) -> None:
    store, policy = acc_baseline
    r = _run(tmp_path, store, policy)
    assert r.returncode == 0, r.output
    by = r.checks
    assert by["accuracy top1"]["status"] == "pass"
    assert by["accuracy top1"]["details"]["losses"] == 0
    assert by["agreement top-1"]["status"] == "pass"
    assert r.run["accuracy"]["samples"] == 5000
    assert 0.90 < r.run["accuracy"]["summary"]["top1"] < 0.95
    names = [s["name"] for s in r.run["stages"]]
    assert names.index("accuracy") > names.index("replay #1")  # after the replay


def test_less_accurate_model_is_blocked(acc_baseline: tuple[Path, Path], tmp_path: Path) -> None:
    store, policy = acc_baseline
    r = _run(tmp_path, store, policy, repo="lessaccurate")
    assert r.returncode == 1, r.output
    top1 = r.checks["accuracy top1"]
    assert top1["status"] == "fail"
    assert 0.015 < top1["effect"] < 0.06 and top1["ci_low"] > 0.01
    fails = r.junit_failures()
    assert any("accuracy top1" in f and "drop" in f and "newly wrong" in f for f in fails)


def test_new_model_gated_on_slos_alone(tmp_path: Path, tools_ready: None) -> None:
    """No baseline at all: a policy with only SLOs runs, and blocks a broken objective."""
    store = tmp_path / "empty-store"
    for limit, want, protocol in (("0.90", 0, "grpc"), ("0.96", 1, "http")):
        r = gate_run(
            tmp_path,
            store=store,
            reports=tmp_path / limit,
            policy="version: 1\nlatency: {shift: {enabled: false}, tails: []}\n"
            "accuracy: {checks: []}\n"
            f"slo:\n  objectives: ['latency.p95_ms <= 5000', 'accuracy.top1 >= {limit}']\n",
            extra=ACC + f"  protocol: {protocol}\n  batch_size: 5\n",
        )
        assert r.returncode == want, r.output
        run = r.run
        assert run["accuracy"]["protocol"] == protocol and run["accuracy"]["batch_size"] == 5
        assert {c["metric"] for c in run["checks"]} == {"slo.latency.p95_ms", "slo.accuracy.top1"}
    assert not store.exists()


def test_eval_set_not_matching_the_model_is_exit_2_and_stores_nothing(
    tmp_path: Path, tools_ready: None
) -> None:
    ev = tmp_path / "eval.npz"
    np.savez(ev, INPUT0=np.zeros((300, 8), np.float32), label=np.zeros(300, np.int64))
    r = gate_run(
        tmp_path, "baseline", "record", args=("-q",), runs=2, extra=f"accuracy:\n  eval_set: {ev}\n"
    )
    assert r.returncode == 2, r.output
    assert "item shape [8] but the model expects [16]" in r.output
    assert not (tmp_path / "store").exists()
    assert not alive(r.children)
