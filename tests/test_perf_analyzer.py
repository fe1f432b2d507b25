"""gate.measure.perf_analyzer without a server: flags, the timeout that follows the work,
retries recorded with their reasons, the export reader, and the warnings a run gets.

The retry loop runs the real perf_analyzer against a port nothing listens on (it fails in
milliseconds with its own message); the process-group kill is shown on real ``sleep``s.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
import pytest

from gate.errors import MeasurementError
from gate.evidence import (
    ABBlock,
    ABInfo,
    LatencyRun,
    PerfAnalyzerInfo,
    PerfAnalyzerRetry,
    ThroughputLevel,
    ThroughputRun,
)
from gate.measure.perf_analyzer import (
    FACTOR,
    FLOOR_S,
    Invocation,
    Pace,
    attempt_timeout,
    read_export,
    retry_note,
    retry_warnings,
    run_once,
    run_with_retries,
)
from gate.result import RunResult
from gate.tools import Tool


def _job(tmp_path: Path, **kw: object) -> Invocation:
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"data": [{"INPUT0": {"content": [0.0] * 16, "shape": [16]}}]}))
    args: dict[str, object] = {
        "model": "demo",
        "version": None,
        "url": "127.0.0.1:1",
        "protocol": "http",
        "input_data": data,
        "requests": 5,
        "batch_size": 1,
        "max_threads": 4,
    }
    args.update(kw)
    return Invocation(**args)  # type: ignore[arg-type]


def test_flags_follow_the_schedule_or_the_concurrency(tmp_path: Path) -> None:
    pa = Tool("perf_analyzer", Path("/opt/pa"), "2.48.0", "config")
    untimed = _job(tmp_path, concurrency=3, version="2").argv(pa, tmp_path / "e.json")
    assert untimed[0] == "/opt/pa"
    assert untimed[untimed.index("--concurrency-range") + 1] == "3"
    assert untimed[untimed.index("-x") + 1] == "2"
    assert untimed[untimed.index("--request-count") + 1] == "5"
    timed = _job(tmp_path, intervals=tmp_path / "iv.txt").argv(pa, tmp_path / "e.json")
    assert timed[timed.index("--request-intervals") + 1] == str(tmp_path / "iv.txt")
    assert "--concurrency-range" not in timed and "-x" not in timed


def test_the_timeout_follows_the_work_and_the_cap_bounds_it() -> None:
    # half a second of traffic: the floor, not the 300 s cap
    assert attempt_timeout(0.5, 300, timeouts_so_far=0, last=False) == FLOOR_S
    # more work: a multiple of it, doubled after each attempt that timed out
    assert attempt_timeout(20, 300, timeouts_so_far=0, last=False) == FACTOR * 20
    assert attempt_timeout(20, 300, timeouts_so_far=1, last=False) == 2 * FACTOR * 20
    assert (
        attempt_timeout(20, 2 * FACTOR * 20 - 1, timeouts_so_far=1, last=False)
        == 2 * FACTOR * 20 - 1
    )
    # the cap is the whole bound for the last attempt and for work nothing estimates
    assert attempt_timeout(0.5, 300, timeouts_so_far=0, last=True) == 300
    assert attempt_timeout(None, 300, timeouts_so_far=0, last=False) == 300
    assert attempt_timeout(0.5, 4, timeouts_so_far=0, last=False) == 4


def test_pace_estimates_work_from_the_schedule_or_what_was_seen() -> None:
    pace = Pace()
    assert pace.work_s(100) is None  # untimed, nothing seen yet: unknown
    assert pace.work_s(100, schedule_s=0.5) == 0.5
    pace.observe(200, 2.0)
    pace.observe(100, 0.5)  # the slowest pace is kept
    assert pace.work_s(100) == pytest.approx(1.0)
    assert pace.work_s(100, schedule_s=3.0) == 3.0  # a model that keeps up: the schedule


def test_every_failed_attempt_is_kept_with_its_reason(tmp_path: Path, tools_ready: None) -> None:
    from gate.tools import find_perf_analyzer

    pa = find_perf_analyzer()
    seen: list[Path] = []

    def parse(export: Path) -> int:
        seen.append(export)
        return 1

    with pytest.raises(MeasurementError) as info:
        run_with_retries(
            pa, _job(tmp_path), tmp_path, parse, name="t", retries=2, cap_s=30, what="here: "
        )
    err = info.value
    assert err.message.startswith("here: perf_analyzer failed 3 time(s): attempt 3: exit code")
    assert "Couldn't connect to server" in err.message  # perf_analyzer's own words
    assert [ln.split(":")[0] for ln in (err.details or "").splitlines()] == [
        "attempt 1",
        "attempt 2",
        "attempt 3",
    ]
    assert not seen  # a failed exit is never parsed
    assert not list(tmp_path.glob("t-*.json"))  # no export left behind


def test_a_hung_attempt_is_killed_with_its_process_group() -> None:
    script = "sleep 60 & echo $!; sleep 60"
    rc, out, _ = run_once(["sh", "-c", script], {"PATH": "/bin:/usr/bin"}, 1)
    assert rc is None  # a hang, killed
    child = int(out.split()[0])  # the background sleep, in the same group
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _export(path: Path, reqs: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"experiments": [{"requests": reqs}]}))
    return path


def test_export_must_hold_every_request_with_a_response(tmp_path: Path) -> None:
    ok = [
        {"timestamp": 10, "response_timestamps": [15, 20]},
        {"timestamp": 5, "response_timestamps": [9]},
    ]
    sent, done = read_export(_export(tmp_path / "a.json", ok), 2)
    assert sent.tolist() == [10, 5] and done.tolist() == [20, 9]
    with pytest.raises(MeasurementError, match="exported 2 requests, expected 3"):
        read_export(tmp_path / "a.json", 3)
    with pytest.raises(MeasurementError, match="has no response"):
        read_export(_export(tmp_path / "b.json", [{"timestamp": 1, "response_timestamps": []}]), 1)
    with pytest.raises(MeasurementError, match="wrote no profile export"):
        read_export(tmp_path / "none.json", 1)
    (tmp_path / "c.json").write_bytes(b"{\xff")
    with pytest.raises(MeasurementError, match="unreadable"):
        read_export(tmp_path / "c.json", 1)


def _retry(attempt: int = 1, seconds: float = 10.0) -> PerfAnalyzerRetry:
    return PerfAnalyzerRetry(
        attempt=attempt, reason="no exit within 10s (killed)", seconds=seconds, timeout_s=10
    )


def test_retries_become_warnings_naming_where_and_survive_run_json() -> None:
    info = PerfAnalyzerInfo(path="pa", version="2.48.0", args=[], attempts=2, retries=[_retry()])
    result = RunResult(run_id="r", command="check", gate_version="0", started_at="t")
    result.runs = [
        LatencyRun(index=0, started_at="t", latencies_us=[1.0]),
        LatencyRun(index=1, started_at="t", latencies_us=[1.0], perf_analyzer=info),
    ]
    level = ThroughputLevel(
        concurrency=4, windows=[1.0], window_requests=1, requests=3, seconds=1.0, retries=[_retry()]
    )
    result.throughput = [ThroughputRun(index=0, levels=[level])]
    result.ab = ABInfo(
        model_a="d__A",
        model_b="d__B",
        baseline_model_dir="/m",
        block_size=100,
        block_warmup=5,
        blocks=[
            ABBlock(arm="A", start=0, stop=100),
            ABBlock(arm="B", start=0, stop=100, attempts=3, retries=[_retry(1), _retry(2, 20.0)]),
        ],
    )
    warnings = retry_warnings(RunResult.from_json(result.to_json()))
    assert warnings == [
        "perf_analyzer was retried in replay #2: 1 failed attempt(s) retried, 10.0 s lost "
        "(attempt 1: no exit within 10s (killed))",
        "perf_analyzer was retried in throughput #1 at concurrency 4: 1 failed attempt(s) "
        "retried, 10.0 s lost (attempt 1: no exit within 10s (killed))",
        "perf_analyzer was retried in A/B block 2 (arm B, requests 0-99): 2 failed attempt(s) "
        "retried, 30.0 s lost (attempt 1: no exit within 10s (killed))",
    ]
    assert retry_note([]) == ""
    assert retry_note([_retry()]).startswith("; 1 failed attempt(s) retried")
