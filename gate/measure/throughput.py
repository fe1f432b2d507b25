"""Throughput: inferences/s at fixed concurrency levels, per measurement window.

Each level is one closed-loop perf_analyzer run (``--concurrency-range C``) with the
recorded payloads (its ``--input-data`` steps, cycled) and an exact ``--request-count``;
``gate.measure.perf_analyzer`` runs it, with its timeout and retries. Windows are cut from
the profile export, not taken from perf_analyzer's own summary: measured here, in
request-count mode its printed "Throughput" is the request count over a nominal one-second
interval, not over the time the requests took. Completion times sorted, the first
``warmup_requests`` dropped, window ``w`` spans ``window_requests`` consecutive completions
and its throughput is that count over the time between its first and last boundary. A
cool-down of ``2·C`` requests at the end is not measured (fewer requests are in flight while
the last ones drain).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gate.config.policy import ThroughputPolicy
from gate.errors import MeasurementError
from gate.evidence import ThroughputLevel, ThroughputRun
from gate.measure.perf_analyzer import Pace, invocation, read_export, run_with_retries
from gate.measure.server_stats import Watch

if TYPE_CHECKING:
    from gate.tools import Tool


@dataclass(frozen=True)
class ThroughputSpec:
    """Where and with what to measure; ``timeout_s`` caps each perf_analyzer attempt."""

    model: str
    version: str | None
    url: str
    protocol: str
    input_data: Path
    batch_size: int
    timeout_s: float
    retries: int
    max_threads: int
    cpus: tuple[int, ...] = ()  # the cores perf_analyzer runs on (empty: any)


def plan(policy: ThroughputPolicy, concurrency: int) -> tuple[int, int]:
    """(total requests to send, cool-down requests) for one level."""
    cooldown = 2 * concurrency
    return policy.warmup_requests + policy.windows * policy.window_requests + cooldown, cooldown


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


def measure_throughput(
    pa: Tool,
    spec: ThroughputSpec,
    policy: ThroughputPolicy,
    work_dir: Path,
    *,
    index: int,
    pace: Pace | None = None,
    watch: Callable[[], AbstractContextManager[Watch]] | None = None,
) -> ThroughputRun:
    """Every level of the policy, lowest concurrency first, on the running server. A level's
    hang, crash or bad export is retried ``spec.retries`` times; ``watch`` gives a context
    that reads Triton's per-model statistics around each level."""
    work_dir.mkdir(parents=True, exist_ok=True)
    levels: list[ThroughputLevel] = []
    for concurrency in policy.concurrency:
        total, _ = plan(policy, concurrency)
        job = invocation(
            spec,
            spec.input_data,
            total,
            batch_size=spec.batch_size,
            # synchronous requests: one thread per request in flight
            max_threads=max(spec.max_threads, concurrency),
            concurrency=concurrency,
            cpus=spec.cpus,
        )
        with watch() if watch is not None else nullcontext(Watch()) as stats:
            got = run_with_retries(
                pa,
                job,
                work_dir,
                partial(_windows, policy, total),
                name=f"throughput-c{concurrency}",
                retries=spec.retries,
                cap_s=spec.timeout_s,
                pace=pace,
                what=f"throughput at concurrency {concurrency}: ",
            )
        wins, seconds = got.value
        levels.append(
            ThroughputLevel(
                concurrency=concurrency,
                windows=wins,
                window_requests=policy.window_requests,
                requests=total,
                seconds=seconds,
                perf_analyzer_args=got.argv[1:],
                attempts=got.attempts,
                retries=got.retries,
                server_stats=stats.stats,
            )
        )
    return ThroughputRun(index=index, levels=levels)


def _windows(policy: ThroughputPolicy, total: int, export: Path) -> tuple[list[float], float]:
    """The windows of one level's profile export (``total`` requests sent)."""
    return windows_from_completions(
        read_export(export, total)[1],
        policy.warmup_requests,
        policy.windows,
        policy.window_requests,
    )
