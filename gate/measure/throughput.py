"""Throughput: inferences/s at fixed concurrency levels, per measurement window.

Each level is one closed-loop perf_analyzer run (``--concurrency-range C``) with the
recorded payloads (its ``--input-data`` steps, cycled) and an exact ``--request-count``.
Windows are cut from the profile export, not taken from perf_analyzer's own summary:
measured here, in request-count mode its printed "Throughput" is the request count over a
nominal one-second interval, not over the time the requests took. Completion times sorted,
the first ``warmup_requests`` dropped, window ``w`` spans ``window_requests`` consecutive
completions and its throughput is that count over the time between its first and last
boundary. A cool-down of ``2·C`` requests at the end is not measured (fewer requests are in
flight while the last ones drain).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gate.config.policy import ThroughputPolicy
from gate.errors import MeasurementError
from gate.evidence import ThroughputLevel, ThroughputRun
from gate.measure.latency import _clean, _run_once
from gate.tools import Tool


@dataclass(frozen=True)
class ThroughputSpec:
    model: str
    version: str | None
    url: str
    protocol: str
    input_data: Path
    batch_size: int
    timeout_s: float
    retries: int
    max_threads: int


def plan(policy: ThroughputPolicy, concurrency: int) -> tuple[int, int]:
    """(total requests to send, cool-down requests) for one level."""
    cooldown = 2 * concurrency
    return policy.warmup_requests + policy.windows * policy.window_requests + cooldown, cooldown


def level_argv(
    pa: Tool, spec: ThroughputSpec, concurrency: int, total: int, export: Path
) -> list[str]:
    argv = [
        str(pa.path),
        "-m",
        spec.model,
        "-u",
        spec.url,
        "-i",
        spec.protocol,
        "--input-data",
        str(spec.input_data),
        "--concurrency-range",
        str(concurrency),
        "--request-count",
        str(total),
        "--profile-export-file",
        str(export),
        "-b",
        str(spec.batch_size),
        # synchronous requests: one thread per request in flight
        "--max-threads",
        str(max(spec.max_threads, concurrency)),
    ]
    if spec.version:
        argv += ["-x", spec.version]
    return argv


def windows_from_completions(
    done_ns: np.ndarray[Any, Any], warmup: int, windows: int, window_requests: int
) -> tuple[list[float], float]:
    """Inferences/s per window from completion timestamps (ns), and the measured seconds."""
    t = np.sort(np.asarray(done_ns, dtype=np.float64))
    need = warmup + windows * window_requests + 1
    if t.size < need:
        raise MeasurementError(
            f"perf_analyzer completed {t.size} requests, {need} are needed for "
            f"{windows} windows of {window_requests}"
        )
    edges = t[warmup + window_requests * np.arange(windows + 1)]
    spans = np.diff(edges) / 1e9
    if np.any(spans <= 0):
        raise MeasurementError("a throughput window has no duration (timestamps did not advance)")
    return (window_requests / spans).tolist(), float((edges[-1] - edges[0]) / 1e9)


def parse_completions(path: Path, total: int) -> np.ndarray[Any, Any]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise MeasurementError(f"perf_analyzer wrote no profile export at {path}: {e}") from None
    try:
        data: dict[str, Any] = json.loads(raw.decode("utf-8", errors="replace"))
        reqs = [r for exp in data["experiments"] for r in exp["requests"]]
        done = np.array([int(r["response_timestamps"][-1]) for r in reqs], dtype=np.int64)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise MeasurementError(
            f"perf_analyzer's profile export {path} is unreadable: {e}"
        ) from None
    if done.size != total:
        raise MeasurementError(
            f"perf_analyzer exported {done.size} requests, expected {total}",
            hint="a request failed or the server dropped it; read perf_analyzer's stderr",
        )
    return done


def measure_level(
    pa: Tool, spec: ThroughputSpec, policy: ThroughputPolicy, concurrency: int, work_dir: Path
) -> ThroughputLevel:
    """One concurrency level; a hang or crash is retried ``spec.retries`` times."""
    total, _ = plan(policy, concurrency)
    env = pa.environ()
    failures: list[str] = []
    attempts = 0
    while attempts <= spec.retries:
        attempts += 1
        export = work_dir / f"throughput-c{concurrency}-{attempts}-{time.monotonic_ns()}.json"
        argv = level_argv(pa, spec, concurrency, total, export)
        rc, out, err = _run_once(argv, env, spec.timeout_s)
        try:
            if rc is None:
                failures.append(f"attempt {attempts}: no exit within {spec.timeout_s:g}s (killed)")
                continue
            if rc != 0:
                last = _clean(err or out, 600).strip().splitlines()[-1:] or [f"exit code {rc}"]
                failures.append(f"attempt {attempts}: exit code {rc}: {last[0]}")
                continue
            try:
                done = parse_completions(export, total)
                wins, seconds = windows_from_completions(
                    done, policy.warmup_requests, policy.windows, policy.window_requests
                )
            except MeasurementError as e:
                failures.append(f"attempt {attempts}: {e.message}")
                continue
        finally:
            with contextlib.suppress(OSError):
                export.unlink()
        return ThroughputLevel(
            concurrency=concurrency,
            windows=wins,
            window_requests=policy.window_requests,
            requests=total,
            seconds=seconds,
            perf_analyzer_args=argv[1:],
            attempts=attempts,
        )
    raise MeasurementError(
        f"throughput at concurrency {concurrency}: perf_analyzer failed {attempts} time(s): "
        f"{failures[-1]}",
        hint="read the server log; exit 3 is worth a retry",
        details="\n".join(failures),
    )


def measure_throughput(
    pa: Tool, spec: ThroughputSpec, policy: ThroughputPolicy, work_dir: Path, *, index: int
) -> ThroughputRun:
    """Every level of the policy, lowest concurrency first, on the running server."""
    work_dir.mkdir(parents=True, exist_ok=True)
    levels = [measure_level(pa, spec, policy, c, work_dir) for c in policy.concurrency]
    return ThroughputRun(index=index, levels=levels)
