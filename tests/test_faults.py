"""Faults injected for real: each run must end with exit 3 (or 1/0 where a verdict stands),
a RunResult and reports saying what happened, no leftover processes, and the baseline store
untouched.

* the server killed (SIGKILL) while perf_analyzer replays;
* perf_analyzer hanging or crashing: a wrapper script configured as ``measure.perf_analyzer``
  that hangs (``exec sleep``) or kills itself with SIGSEGV on chosen calls, then runs the real
  binary; the timeout kills it and the bounded retry follows;
* a model whose ``initialize`` never returns;
* a read-only and a full reports directory (a read-only bind mount and a tiny tmpfs: the
  test runs as root, for whom file modes are no obstacle);
* two gate runs at once on the same baseline store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from conftest import FIXTURES, ROOT, alive, gate_cmd, watch_children, write_config
from scenario import AA_POLICY, SHORT_AA_POLICY, GateRun, gate_run, gate_yaml

pytestmark = pytest.mark.server


def store_digest(store: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(store.rglob("*")):
        if p.is_file() and not p.name.endswith(".lock"):
            h.update(str(p.relative_to(store)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _run_json(reports: Path) -> dict[str, object]:
    return dict(json.loads((reports / "run.json").read_text()))


# --------------------------------------------------------------------------------------
# The server dies mid-replay
# --------------------------------------------------------------------------------------


def _probe_traffic(tmp_path: Path, n: int = 120, sleep_ms: float = 80.0) -> Path:
    """Probe-model traffic that keeps perf_analyzer busy for ~n*sleep_ms (each request sleeps)."""
    from gate.inputs.traffic import Request, TensorSpec, Traffic, write_traffic

    reqs = []
    for i in range(n):
        x = np.zeros((1, 16), dtype=np.float32)
        x[0, 0] = sleep_ms
        reqs.append(Request(i * int(sleep_ms * 1000 + 5000), {"INPUT0": x}))
    path = tmp_path / "probe.jsonl"
    write_traffic(path, Traffic("probe", (TensorSpec("INPUT0", "FP32", (16,)),), tuple(reqs)))
    return path


def test_server_killed_mid_replay_is_exit_3(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    before = store_digest(store)
    cfg = write_config(
        tmp_path / "gate.yaml",
        model="probe",
        repository=FIXTURES / "models" / "probe",
        traffic=_probe_traffic(tmp_path),
        store=store,
        reports=tmp_path / "r",
    )
    cfg.write_text(cfg.read_text().replace("retries: 2", "retries: 1"))
    proc = subprocess.Popen(
        gate_cmd("replay", str(cfg)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    parent = psutil.Process(proc.pid)
    seen: set[int] = set()
    server = None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and server is None:
        kids = parent.children(recursive=True)
        seen.update(k.pid for k in kids)
        with contextlib.suppress(psutil.Error):
            if any(k.name() == "perf_analyzer" and "--input-data" in k.cmdline() for k in kids):
                server = next(k for k in kids if k.name() == "tritonserver")
        time.sleep(0.02)
    assert server is not None, "perf_analyzer never started"
    for k in parent.children(recursive=True):
        seen.add(k.pid)
        with contextlib.suppress(psutil.Error):
            seen.update(g.pid for g in k.children(recursive=True))
    server.kill()
    seen |= watch_children(proc, 300)  # type: ignore[arg-type]
    out, err = proc.communicate()
    assert proc.returncode == 3, out + err
    assert "tritonserver died during the replay" in out + err
    run = _run_json(tmp_path / "r")
    assert run["verdict"] == "ERROR"
    assert "died during the replay" in run["error"]["message"]  # type: ignore[index]
    assert any(s["status"] == "failed" for s in run["stages"])  # type: ignore[attr-defined]
    assert (tmp_path / "r" / "summary.md").is_file()
    assert not alive(seen), f"left behind: {alive(seen)}"
    assert store_digest(store) == before


# --------------------------------------------------------------------------------------
# perf_analyzer hangs or crashes
# --------------------------------------------------------------------------------------


def pa_wrapper(tmp_path: Path, *, fault: str, times: int = 0, calls: tuple[int, ...] = ()) -> Path:
    """A perf_analyzer that misbehaves on its first ``times`` measuring calls, or on the
    calls numbered in ``calls``, and otherwise runs the real binary. ``--version`` (the
    gate's probe) always passes through. The count is taken under ``flock``: a live round
    starts both arms' processes at once, and an unlocked read-increment-write let one read
    the file while the other had just truncated it, restarting the count."""
    from gate.tools import find_perf_analyzer

    real = find_perf_analyzer()
    ld = real.env.get("LD_LIBRARY_PATH", "")
    counter = tmp_path / "pa-calls"
    action = {"hang": "exec sleep 3600", "crash": "kill -SEGV $$"}[fault]
    chosen = " ".join(str(c) for c in calls)
    script = tmp_path / "perf_analyzer"
    script.write_text(
        f"""#!/bin/sh
export LD_LIBRARY_PATH="{ld}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"
if [ "$1" != "--version" ]; then
  step='n=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); echo $n > {counter}; echo $n'
  n=$(flock {counter}.lock sh -c "$step")
  if [ $n -le {times} ]; then {action}; fi
  case " {chosen} " in *" $n "*) {action};; esac
fi
exec {real.path} "$@"
"""
    )
    script.chmod(0o755)
    return script


def _pa_run(
    tmp_path: Path,
    store: Path,
    wrapper: Path,
    timeout_s: int,
    retries: int,
    *command: str,
    timeout: float = 300,
) -> GateRun:
    """``gate COMMAND`` (default check) with ``wrapper`` as perf_analyzer."""
    return gate_run(
        tmp_path,
        *command,
        timeout=timeout,
        store=store,
        policy=SHORT_AA_POLICY,
        edit={
            "timeout_s: 120": f"timeout_s: {timeout_s}",
            "retries: 2": f"retries: {retries}",
            "measure:\n": f"measure:\n  perf_analyzer: {wrapper}\n",
        },
    )


def test_perf_analyzer_hang_is_killed_and_retried_verdict_stands(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    before = store_digest(store)
    wrapper = pa_wrapper(tmp_path, fault="hang", times=1)
    r = _pa_run(tmp_path, store, wrapper, 25, 2, timeout=400)
    assert r.returncode in (0, 1), r.output  # the verdict stands after the retry
    assert r.run["verdict"] in ("PASS", "BLOCKED")
    lr, *later = r.run["runs"]  # stored mode adds candidate runs until decided or budget
    assert lr["perf_analyzer"]["attempts"] == 2
    assert all(x["perf_analyzer"]["attempts"] == 1 for x in later)  # one hang, one retry
    (retry,) = lr["perf_analyzer"]["retries"]
    assert retry["reason"].startswith("no exit within")
    assert any("perf_analyzer was retried in replay #1" in w for w in r.run["warnings"])
    assert len(lr["latencies_us"]) == 400
    assert not alive(r.children), "the hung perf_analyzer (sleep) must be killed"
    assert store_digest(store) == before


def test_perf_analyzer_hang_in_one_ab_block_is_bounded_and_reported(
    tmp_path: Path, tools_ready: None
) -> None:
    """measure.timeout_s stays at 300 s, yet the live round whose perf_analyzer hangs (the
    3rd call: round 2's first process; latency only, so every call is a round's) is killed
    after the timeout its work gives, the round repeated, and the failed attempt said in the
    round's first block and the run's warnings. A round's process used to get the whole
    cap: it repeats the round itself, so each process attempt counted as the last."""
    wrapper = pa_wrapper(tmp_path, fault="hang", calls=(3,))
    # 20 s of sampling, not the default 120: enough for round 2 to start (a round takes ~5 s
    # here; the last look is the one after which another round would pass the budget)
    r = gate_run(
        tmp_path,
        timeout=280,
        policy=AA_POLICY
        + "throughput: {enabled: false}\nmemory: {enabled: false}\nab: {max_duration_s: 20}\n",
        baseline=f"model_dir: {FIXTURES / 'models' / 'v1' / 'demo'}\nab_block_size: 100",
        edit={
            "timeout_s: 120": "timeout_s: 300",
            "measure:\n": f"measure:\n  perf_analyzer: {wrapper}\n",
        },
    )
    assert r.returncode == 0, r.output
    run = r.run
    blocks = run["ab"]["blocks"]
    retried = [(k, b) for k, b in enumerate(blocks) if b["retries"]]
    assert len(retried) == 1, [b["attempts"] for b in blocks]
    k, block = retried[0]
    assert block["attempts"] == 2 and k > 0  # round 1 (calls 1 and 2) went through
    assert all(b["attempts"] == 2 for b in blocks if b["started_at"] == block["started_at"])
    (retry,) = block["retries"]
    assert retry["reason"].startswith("no exit within") and "(killed)" in retry["reason"]
    assert retry["timeout_s"] <= 30  # from the round's work, not the 300 s cap
    warned = [w for w in run["warnings"] if "perf_analyzer was retried" in w]
    assert len(warned) == 1 and f"A/B block {k + 1} (arm {block['arm']}" in warned[0]
    assert "perf_analyzer was retried" in (r.reports / "summary.md").read_text()
    assert not alive(r.children), "the hung perf_analyzer (sleep) must be killed"


def test_perf_analyzer_that_always_hangs_is_exit_3(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    before = store_digest(store)
    r = _pa_run(tmp_path, store, pa_wrapper(tmp_path, fault="hang", times=99), 4, 1)
    assert r.returncode == 3, r.output
    assert "perf_analyzer failed 2 time(s)" in r.output and "no exit within 4s" in r.output
    assert r.run["error"]["kind"] == "MeasurementError"
    assert not alive(r.children), f"left behind: {alive(r.children)}"
    assert store_digest(store) == before


def test_perf_analyzer_crash_is_retried(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    wrapper = pa_wrapper(tmp_path, fault="crash", times=1)
    r = _pa_run(tmp_path, store, wrapper, 120, 2, "replay", "-q")
    assert r.returncode == 0, r.output
    assert r.run["runs"][0]["perf_analyzer"]["attempts"] == 2
    assert not alive(r.children)


def test_perf_analyzer_that_always_crashes_is_exit_3(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    r = _pa_run(tmp_path, store, pa_wrapper(tmp_path, fault="crash", times=99), 120, 1, "replay")
    assert r.returncode == 3, r.output
    assert "perf_analyzer failed 2 time(s)" in r.output and "exit code -11" in r.output
    assert not alive(r.children)


# --------------------------------------------------------------------------------------
# A model that never becomes ready
# --------------------------------------------------------------------------------------


def test_model_that_never_becomes_ready_is_exit_3(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    before = store_digest(store)
    r = gate_run(
        tmp_path,
        store=store,
        repository=FIXTURES / "models" / "neverready",
        edit={"load_timeout_s: 120": "load_timeout_s: 6"},
    )
    assert r.returncode == 3, r.output
    assert "loading model 'demo' did not finish" in r.output
    failed = [s["name"] for s in r.run["stages"] if s["status"] == "failed"]
    assert failed == ["model load #1"]
    assert not alive(r.children), f"left behind: {alive(r.children)}"
    assert store_digest(store) == before


# --------------------------------------------------------------------------------------
# Reports that cannot be written
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _mounted(target: Path, *commands: list[str]) -> Iterator[None]:
    target.mkdir(parents=True, exist_ok=True)
    for cmd in commands:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            subprocess.run(["umount", str(target)], capture_output=True, check=False)
            pytest.skip(f"cannot mount here ({' '.join(cmd)}: {r.stderr.strip()})")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def _kept_result(stderr: str) -> dict[str, object]:
    line = next(ln for ln in stderr.splitlines() if "the run result was kept in" in ln)
    path = Path(line.rsplit(" ", 1)[1])
    kept = dict(json.loads(path.read_text()))
    if kept.get("verdict") != "ERROR":
        path.unlink()
    return kept


def test_read_only_report_directory_is_exit_3_and_keeps_the_result(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    ro = tmp_path / "ro"
    with _mounted(
        ro,
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(ro)],
        ["mount", "-o", "remount,ro", str(ro)],
    ):
        r = gate_run(tmp_path, "replay", store=store, reports=ro / "r")
    assert r.returncode == 3, r.output
    assert "cannot" in r.completed.stderr and "Read-only file system" in r.completed.stderr
    kept = _kept_result(r.completed.stderr)
    assert kept["verdict"] == "MEASURED" and len(kept["runs"]) == 1  # type: ignore[arg-type]
    assert not alive(r.children)


def test_full_disk_while_writing_reports_is_exit_3(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    before = store_digest(store)
    full = tmp_path / "full"
    with _mounted(full, ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)]):
        with contextlib.suppress(OSError), open(full / "filler", "wb") as fh:
            for _ in range(64):
                fh.write(b"x" * 4096)
                fh.flush()
        r = gate_run(tmp_path, store=store, reports=full / "r", policy=SHORT_AA_POLICY)
    assert r.returncode == 3, r.output  # even a PASS is exit 3 without its reports
    assert "No space left on device" in r.completed.stderr
    kept = _kept_result(r.completed.stderr)
    assert kept["verdict"] in ("PASS", "BLOCKED")
    assert store_digest(store) == before
    assert not alive(r.children)


# --------------------------------------------------------------------------------------
# Two gate runs at once on one machine
# --------------------------------------------------------------------------------------


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        gate_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )


def test_two_checks_in_parallel(recorded_baseline: tuple[Path, Path], tmp_path: Path) -> None:
    """Both finish with a verdict and complete reports of their own; the store is untouched.
    (Each slows the other on two cores, so the verdict itself may differ from an A/A run.)"""
    store, _ = recorded_baseline
    before = store_digest(store)
    cfgs = [
        gate_yaml(
            tmp_path,
            name=f"gate{i}.yaml",
            store=store,
            reports=tmp_path / f"r{i}",
            policy=SHORT_AA_POLICY,
        )
        for i in (1, 2)
    ]
    procs = [_spawn("check", str(c), "-q") for c in cfgs]
    seen = [watch_children(p, 400) for p in procs]  # type: ignore[arg-type]
    outs = [p.communicate() for p in procs]
    ids = set()
    for i, (p, (out, err)) in enumerate(zip(procs, outs, strict=True), start=1):
        assert p.returncode in (0, 1), out + err
        run = _run_json(tmp_path / f"r{i}")
        assert run["verdict"] == ("PASS" if p.returncode == 0 else "BLOCKED")
        assert len(run["runs"][0]["latencies_us"]) == 400  # type: ignore[index]
        ids.add(run["run_id"])
    assert len(ids) == 2
    assert not alive(seen[0] | seen[1])
    assert store_digest(store) == before


def test_two_baseline_records_in_parallel(tmp_path: Path, tools_ready: None) -> None:
    """Two writers of the same baseline: both succeed and the stored file is whole."""
    from gate.baselines.store import find_baselines, load_baseline

    store = tmp_path / "store"
    cfgs = [
        write_config(tmp_path / f"gate{i}.yaml", store=store, reports=tmp_path / f"r{i}", runs=2)
        for i in (1, 2)
    ]
    procs = [_spawn("baseline", "record", str(c), "-q") for c in cfgs]
    seen = [watch_children(p, 400) for p in procs]  # type: ignore[arg-type]
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, out + err
    (path,) = find_baselines(store, "demo")
    b = load_baseline(path)  # checks the stored sha256
    assert len(b.runs) == 2
    assert not [p for p in store.rglob("*") if p.name.startswith((".tmp", "tmp"))]
    assert not alive(seen[0] | seen[1])


def test_sigterm_is_interrupted_and_leaves_nothing(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    """SIGTERM (what CI runners send on cancel) tears down like Ctrl-C: exit 130, a report."""
    store, _ = recorded_baseline
    cfg = write_config(
        tmp_path / "gate.yaml",
        model="probe",
        repository=FIXTURES / "models" / "probe",
        traffic=_probe_traffic(tmp_path),
        store=store,
        reports=tmp_path / "r",
    )
    proc = _spawn("replay", str(cfg))
    parent = psutil.Process(proc.pid)
    seen: set[int] = set()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        kids = parent.children(recursive=True)
        seen.update(k.pid for k in kids)
        with contextlib.suppress(psutil.Error):
            if any(k.name() == "perf_analyzer" and "--input-data" in k.cmdline() for k in kids):
                break
        time.sleep(0.02)
    for k in parent.children(recursive=True):
        seen.add(k.pid)
        with contextlib.suppress(psutil.Error):
            seen.update(g.pid for g in k.children(recursive=True))
    proc.send_signal(signal.SIGTERM)
    seen |= watch_children(proc, 120)  # type: ignore[arg-type]
    out, err = proc.communicate()
    assert proc.returncode == 130, out + err
    assert not alive(seen), f"left behind: {alive(seen)}"
    assert _run_json(tmp_path / "r")["error"]["kind"] == "Interrupted"  # type: ignore[index]
