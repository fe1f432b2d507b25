"""benchmarks/decisive.py's reading and counting, without servers: run.json → outcome → table.

The benchmark's numbers are only as good as what it counts: a BLOCKED on throughput must not
count as "blocked on latency", a crash (no run.json) must show as ERROR rather than vanish,
and the replay time must exclude server start and model loads. Runs of the real CLI are
``--smoke`` in ``.ci/run``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT


@pytest.fixture(scope="module")
def bench() -> Any:
    spec = importlib.util.spec_from_file_location(
        "decisive", Path(ROOT) / "benchmarks" / "decisive.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["decisive"] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


STAGES = [
    {"name": "signatures", "seconds": 1.0},
    {"name": "server start", "seconds": 5.0},
    {"name": "model load (A/B)", "seconds": 2.0},
    {"name": "replay A", "seconds": 3.0},
    {"name": "replay B", "seconds": 4.0},
    {"name": "server stop", "seconds": 1.0},
    {"name": "judge", "seconds": 0.5},
]


def _record(verdict: str, checks: list[dict[str, str]]) -> dict[str, Any]:
    return {"verdict": verdict, "checks": checks, "stages": STAGES}


def test_replay_time_is_the_stages_between_model_load_and_server_stop(bench: Any) -> None:
    stages = [(s["name"], s["seconds"]) for s in STAGES]
    assert bench.replay_seconds(stages) == 7.0
    assert bench.replay_seconds([("signatures", 1.0), ("server start", 2.0)]) is None


def test_outcomes_and_hits(bench: Any) -> None:
    lat = {"name": "latency p50", "metric": "latency.shift", "status": "fail"}
    tp = {"name": "throughput c=4", "metric": "throughput.c4", "status": "fail"}
    inc = {"name": "latency p95", "metric": "latency.p95", "status": "inconclusive"}
    blocked_lat = bench.outcome_from_run(
        "slower-20pct", "quiet", 1, 1, _record("BLOCKED", [lat]), 9.0
    )
    blocked_tp = bench.outcome_from_run(
        "slower-20pct", "quiet", 2, 1, _record("BLOCKED", [tp]), 9.0
    )
    unsure = bench.outcome_from_run(
        "slower-20pct", "quiet", 3, 1, _record("INCONCLUSIVE", [inc]), 9.0
    )
    crash = bench.outcome_from_run("slower-20pct", "quiet", 4, 3, None, 2.0, "boom\nTraceback: x\n")
    assert blocked_lat.failed == ["latency.shift"] and blocked_lat.replay_s == 7.0
    assert unsure.inconclusive == ["latency.p95"]
    assert (crash.verdict, crash.error, crash.replay_s) == ("ERROR", "Traceback: x", None)
    case = bench.CASES["slower-20pct"]
    assert [bench.hit(case, o) for o in (blocked_lat, blocked_tp, unsure, crash)] == [
        True,
        False,
        False,
        False,
    ]
    outcomes = [blocked_lat, blocked_tp, unsure, crash]
    assert bench.cell(case, outcomes) == "1/4 (BLOCKED 2, INCONCLUSIVE 1, ERROR 1)"
    s = bench.summary(outcomes, ["slower-20pct"], ["quiet"])["slower-20pct/quiet"]
    assert (s["runs"], s["hits"], s["replay_s_median_decided"]) == (4, 1, 7.0)
    # a PASS with exit 0 counts for the pass rows, an A/A BLOCKED counts as a false alarm
    ok = bench.outcome_from_run("unchanged", "loaded", 1, 0, _record("PASS", []), 8.0)
    aa = bench.outcome_from_run("aa", "loaded", 1, 1, _record("BLOCKED", [lat]), 8.0)
    assert bench.hit(bench.CASES["unchanged"], ok) and bench.hit(bench.CASES["aa"], aa)


def test_table_has_a_row_per_case_and_the_timing_rows(bench: Any) -> None:
    ok = bench.outcome_from_run("unchanged", "quiet", 1, 0, _record("PASS", []), 8.0)
    slow = bench.outcome_from_run("slower-10x", "quiet", 1, 1, _record("BLOCKED", []), 8.0)
    text = bench.table([ok, slow], ["unchanged", "slower-10x"], ["quiet", "loaded"])
    lines = text.splitlines()
    assert lines[0].startswith("| case | quiet | target | loaded | target |")
    assert "| unchanged model → PASS (exit 0) | 1/1 (PASS 1) | ≥ 19/20 | – |" in text
    assert "| 10× slower: replay time, median (max) | 7.0 s (max 7.0 s) |" in text
    assert "median replay time to a decided verdict, unchanged model | 7.0 s" in text


def test_smoke_arguments(bench: Any) -> None:
    args = bench.parse_args(["--smoke"])
    assert (args.runs, args.cases, args.modes, args.requests) == (
        1,
        ["unchanged", "slower-10x"],
        ["quiet"],
        400,
    )
    with pytest.raises(SystemExit):
        bench.parse_args(["--cases", "nope"])


def test_resume_makes_only_the_runs_the_file_lacks_in_one_sittings_order(
    bench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 20-run table over several sittings: the second sitting reads the first's ``--out``,
    keeps its runs, and makes the rest in the order one long sitting would have. ``run_one``
    and the traffic are replaced by recorders here (this tests the scheduling, not gate);
    ``.ci/run``'s ``--smoke`` runs the real CLI."""
    made: list[tuple[int, str, str]] = []

    def fake_run(case: Any, mode: str, run: int, *_: Any) -> Any:
        made.append((run, mode, case.key))
        return bench.Outcome(case.key, mode, run, 0, "PASS", stages=[("round 1 (A/B)", 1.0)])

    monkeypatch.setattr(bench, "run_one", fake_run)
    monkeypatch.setattr(bench, "make_traffic", lambda path, count: path)
    monkeypatch.setattr(bench, "load", lambda mode, bound: contextlib.nullcontext())
    out = tmp_path / "d.json"
    base = ["--cases", "unchanged,aa", "--modes", "quiet,loaded", "--out", str(out)]
    base += ["--keep", str(tmp_path / "keep")]
    assert bench.main(["--runs", "3", *base]) == 0
    one_sitting = list(made)
    assert len(one_sitting) == 12

    # the first sitting stops after its first three runs; the second resumes to 3 runs
    partial = json.loads(out.read_text())
    partial["outcomes"] = partial["outcomes"][:3]
    out.write_text(json.dumps(partial))
    made.clear()
    assert bench.main(["--runs", "3", "--resume", *base]) == 0
    assert made == one_sitting[3:]
    record = json.loads(out.read_text())
    assert len(record["outcomes"]) == 12
    assert len(record["commands"]) == 2 and "--resume" in record["commands"][1]
    assert {(o["run"], o["mode"], o["case"]) for o in record["outcomes"]} == set(one_sitting)
    assert record["outcomes"][0]["stages"] == [["round 1 (A/B)", 1.0]]

    # other recorded traffic would not count alike
    with pytest.raises(SystemExit, match="--requests 1200, not 400"):
        bench.main(["--runs", "3", "--resume", "--requests", "400", *base])
