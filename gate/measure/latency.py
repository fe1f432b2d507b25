"""Latency by replaying recorded traffic with the real ``perf_analyzer``.

One replay sends the warm-up requests and then every recorded request, in one perf_analyzer
process (``gate.measure.perf_analyzer`` runs it, with its timeout and retries): on the
recorded schedule when the traffic is timed, else at a fixed concurrency. perf_analyzer
sends request k with ``--input-data`` step k, so the profile export sorted by send timestamp
pairs with the traffic by index (the tests check this with a model whose latency encodes the
payload); the warm-up requests come first and are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gate.evidence import LatencyRun, PerfAnalyzerInfo
from gate.measure.perf_analyzer import (
    Invocation,
    Pace,
    PerfAnalyzerInputs,
    clean,
    client_summary,
    invocation,
    read_export,
    run_with_retries,
)
from gate.result import now_iso

if TYPE_CHECKING:
    from gate.tools import Tool


@dataclass(frozen=True)
class ReplaySpec:
    """One latency replay. ``timeout_s`` caps each perf_analyzer attempt (the attempt's own
    timeout follows from the work, see ``gate.measure.perf_analyzer.attempt_timeout``);
    ``retries`` is how many more attempts a hang, a crash or a bad export gets."""

    model: str
    version: str | None
    url: str
    protocol: str
    inputs: PerfAnalyzerInputs
    timeout_s: float
    retries: int
    max_threads: int
    concurrency: int = 1  # requests in flight when the traffic has no schedule
    cpus: tuple[int, ...] = ()  # the cores perf_analyzer runs on (empty: any)
    cap_last: bool = True  # False: the caller repeats the replay, see run_with_retries

    def invocation(self) -> Invocation:
        return invocation(
            self,
            self.inputs.input_data,
            self.inputs.total_requests,
            batch_size=self.inputs.batch_size,
            max_threads=self.max_threads,
            intervals=self.inputs.intervals,
            concurrency=self.concurrency,
            cpus=self.cpus,
        )


def latencies(
    sent_ns: np.ndarray[Any, Any], done_ns: np.ndarray[Any, Any], warmup: int
) -> tuple[list[float], list[float]]:
    """Per-request latencies (µs, in request order, warm-up dropped) and send offsets (µs)."""
    order = np.argsort(sent_ns, kind="stable")
    sent, done = sent_ns[order], done_ns[order]
    lat_us = (done - sent) / 1000.0
    offsets_us = (sent - sent[0]) / 1000.0
    return lat_us[warmup:].tolist(), offsets_us.tolist()


def _send_delays(offsets_us: list[float], intervals_us: Sequence[int], warmup: int) -> list[float]:
    """Actual minus scheduled send time per measured request (µs)."""
    if not intervals_us:
        return []
    sched = np.cumsum(np.asarray(intervals_us, dtype=np.float64))
    sched = sched - sched[0]
    act = np.asarray(offsets_us)
    delays: list[float] = (act - sched[: act.size])[warmup:].tolist()
    return delays


def replay(
    pa: Tool,
    spec: ReplaySpec,
    work_dir: Path,
    *,
    index: int,
    intervals_us: list[int] | None = None,
    pace: Pace | None = None,
) -> LatencyRun:
    """One measured replay. Raises MeasurementError after the retries are spent.

    ``intervals_us`` defaults to the schedule ``spec.inputs`` was written with; ``pace``,
    shared by the jobs on one server, bounds the attempts of traffic without a schedule.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    total, warmup = spec.inputs.total_requests, spec.inputs.warmup_requests
    started = now_iso()
    got = run_with_retries(
        pa,
        spec.invocation(),
        work_dir,
        lambda export: latencies(*read_export(export, total), warmup),
        name=f"profile-{index}",
        retries=spec.retries,
        cap_s=spec.timeout_s,
        pace=pace,
        schedule_s=spec.inputs.schedule_s,
        cap_last=spec.cap_last,
    )
    lat, offsets = got.value
    schedule = spec.inputs.intervals_us if intervals_us is None else intervals_us
    info = PerfAnalyzerInfo(
        path=str(pa.path),
        version=pa.version,
        args=got.argv[1:],
        attempts=got.attempts,
        stderr_tail=clean(got.stderr, 2000),
        client_summary=client_summary(got.stdout),
        retries=got.retries,
        seconds=got.seconds,
        timeout_s=got.timeout_s,
    )
    return LatencyRun(
        index=index,
        started_at=started,
        latencies_us=lat,
        send_delay_us=_send_delays(offsets, schedule, warmup),
        perf_analyzer=info,
    )
