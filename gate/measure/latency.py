"""Latency by replaying recorded traffic with the real ``perf_analyzer``.

Facts this module is built on (DESIGN.md §10, re-checked here):
* with ``--request-intervals`` perf_analyzer's stability loop fails, so we run exactly
  ``--request-count N`` requests; it sends request k with ``--input-data`` step k, so the
  profile export sorted by send timestamp pairs with the traffic by index (checked with a
  model whose latency encodes the payload, see tests);
* warm-up requests go first in the same process and are dropped from the results;
* it hangs now and then (no output, no exit): every run has a timeout, and a hang or crash
  is retried a bounded number of times with a fresh export path (it refuses an existing one);
* the export embeds raw output bytes that are not UTF-8: decode with ``errors="replace"``;
  it prints a JSON-datatype warning once per request: filtered out of the kept stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gate.errors import MeasurementError
from gate.evidence import LatencyRun, PerfAnalyzerInfo
from gate.measure.perf_analyzer import PerfAnalyzerInputs
from gate.result import now_iso
from gate.signals import deferred_signals
from gate.tools import Tool

_NOISE = ("is not supported with JSON",)


def _clean(text: str, limit: int = 4000) -> str:
    lines = [ln for ln in text.splitlines() if not any(n in ln for n in _NOISE)]
    out = "\n".join(lines)
    return out[-limit:]


@dataclass(frozen=True)
class ReplaySpec:
    model: str
    version: str | None
    url: str
    protocol: str
    inputs: PerfAnalyzerInputs
    timeout_s: float
    retries: int
    max_threads: int
    concurrency: int = 1  # requests in flight when the traffic has no schedule


def build_argv(pa: Tool, spec: ReplaySpec, export: Path) -> list[str]:
    """perf_analyzer's argument list (never a shell string)."""
    argv = [
        str(pa.path),
        "-m",
        spec.model,
        "-u",
        spec.url,
        "-i",
        spec.protocol,
        "--input-data",
        str(spec.inputs.input_data),
        "--request-count",
        str(spec.inputs.total_requests),
        "--profile-export-file",
        str(export),
        "-b",
        str(spec.inputs.batch_size),
        "--max-threads",
        str(spec.max_threads),
    ]
    if spec.version:
        argv += ["-x", spec.version]
    if spec.inputs.intervals is not None:
        argv += ["--request-intervals", str(spec.inputs.intervals)]
    else:
        # untimed traffic: a fixed number of requests in flight (1: in recorded order)
        argv += ["--concurrency-range", str(spec.concurrency)]
    return argv


def parse_export(path: Path, total: int, warmup: int) -> tuple[list[float], list[float]]:
    """Per-request latencies (µs, in request order, warm-up dropped) and send offsets (µs)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise MeasurementError(f"perf_analyzer wrote no profile export at {path}: {e}") from None
    try:
        data: dict[str, Any] = json.loads(raw.decode("utf-8", errors="replace"))
        experiments = data["experiments"]
        reqs = [r for exp in experiments for r in exp["requests"]]
    except (ValueError, KeyError, TypeError) as e:
        raise MeasurementError(
            f"perf_analyzer's profile export {path} is unreadable: {e}"
        ) from None
    if len(reqs) != total:
        raise MeasurementError(
            f"perf_analyzer exported {len(reqs)} requests, expected {total}",
            hint="a request failed or the server dropped it; read perf_analyzer's stderr",
        )
    sent = np.array([int(r["timestamp"]) for r in reqs], dtype=np.int64)
    try:
        done = np.array([int(r["response_timestamps"][-1]) for r in reqs], dtype=np.int64)
    except (IndexError, KeyError):
        raise MeasurementError("a request in the profile export has no response") from None
    order = np.argsort(sent, kind="stable")
    lat_us = (done[order] - sent[order]) / 1000.0
    offsets_us = (sent[order] - sent[order][0]) / 1000.0
    return lat_us[warmup:].tolist(), offsets_us.tolist()


def _run_once(
    argv: list[str], env: dict[str, str], timeout_s: float
) -> tuple[int | None, str, str]:
    """Run perf_analyzer in its own process group; on timeout kill the group. rc None = hang."""
    with deferred_signals():  # a Ctrl-C inside Popen would leave an unreachable child
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        out, err = proc.communicate(timeout=timeout_s)
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace")
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _client_summary(stdout: str) -> str:
    lines = stdout.splitlines()
    keep = [
        ln.strip()
        for ln in lines
        if ln.strip().startswith(
            (
                "Request count",
                "Throughput",
                "Avg latency",
                "p50",
                "p90",
                "p95",
                "p99",
                "Avg send",
                "[WARNING]",
            )
        )
    ]
    return "\n".join(keep)


def replay(
    pa: Tool,
    spec: ReplaySpec,
    work_dir: Path,
    *,
    index: int,
    intervals_us: list[int] | None = None,
) -> LatencyRun:
    """One measured replay. Raises MeasurementError after the retries are spent."""
    work_dir.mkdir(parents=True, exist_ok=True)
    env = pa.environ()
    attempts = 0
    failures: list[str] = []
    started = now_iso()
    while attempts <= spec.retries:
        attempts += 1
        export = work_dir / f"profile-{index}-{attempts}-{time.monotonic_ns()}.json"
        argv = build_argv(pa, spec, export)
        rc, out, err = _run_once(argv, env, spec.timeout_s)
        if rc is None:
            failures.append(f"attempt {attempts}: no exit within {spec.timeout_s:g}s (killed)")
            continue
        if rc != 0:
            last = _clean(err or out, 600).strip().splitlines()[-1:] or [f"exit code {rc}"]
            failures.append(f"attempt {attempts}: exit code {rc}: {last[0]}")
            continue
        try:
            latencies, offsets = parse_export(
                export, spec.inputs.total_requests, spec.inputs.warmup_requests
            )
        except MeasurementError as e:
            failures.append(f"attempt {attempts}: {e.message}")
            continue
        finally:
            with contextlib.suppress(OSError):
                export.unlink()
        delays: list[float] = []
        if intervals_us is not None:
            sched = np.cumsum(np.asarray(intervals_us, dtype=np.float64))
            sched = sched - sched[0]
            act = np.asarray(offsets)
            delays = (act - sched[: act.size])[spec.inputs.warmup_requests :].tolist()
        info = PerfAnalyzerInfo(
            path=str(pa.path),
            version=pa.version,
            args=argv[1:],
            attempts=attempts,
            stderr_tail=_clean(err, 2000),
            client_summary=_client_summary(out),
        )
        return LatencyRun(
            index=index,
            started_at=started,
            latencies_us=latencies,
            send_delay_us=delays,
            perf_analyzer=info,
        )
    raise MeasurementError(
        f"perf_analyzer failed {attempts} time(s): {failures[-1]}",
        hint="read the server log and perf_analyzer's stderr in the report; "
        "exit 3 is worth a retry",
        details="\n".join(failures),
    )
