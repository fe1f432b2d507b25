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

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gate.config.policy import ThroughputPolicy
from gate.errors import MeasurementError
from gate.evidence import ThroughputLevel, ThroughputRun
from gate.measure.perf_analyzer import (
    Invocation,
    Pace,
    invocation,
    read_export,
    run_with_retries,
)
from gate.measure.server_stats import Watch
from gate.threads import at_once

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
        job = _job(spec, total, concurrency)
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


def _job(spec: ThroughputSpec, total: int, concurrency: int) -> Invocation:
    """The closed-loop perf_analyzer job sending ``total`` requests at ``concurrency``."""
    return invocation(
        spec,
        spec.input_data,
        total,
        batch_size=spec.batch_size,
        # synchronous requests: one thread per request in flight
        max_threads=max(spec.max_threads, concurrency),
        concurrency=concurrency,
        cpus=spec.cpus,
    )


def _windows(policy: ThroughputPolicy, total: int, export: Path) -> tuple[list[float], float]:
    """The windows of one level's profile export (``total`` requests sent)."""
    return windows_from_completions(
        read_export(export, total)[1],
        policy.warmup_requests,
        policy.windows,
        policy.window_requests,
    )


#: A common window holds at least this many completions of the slower arm on average (fewer
#: windows are cut when the overlap is short), so that no window is empty.
MIN_PER_WINDOW = 5


def common_windows(
    done_ns: Mapping[str, np.ndarray[Any, Any]], warmup: int, cooldown: int, windows: int
) -> tuple[dict[str, list[float]], float]:
    """Inferences/s of each arm in the same wall-clock windows (and their seconds in all).

    Two closed-loop runs started together never end together: request-count runs of equal
    size end when the faster arm's count is done, and the other then runs alone, faster. So
    the windows are cut from the span where every arm was past its ``warmup`` completions and
    not yet in its last ``cooldown`` (fewer requests in flight while they drain), and each
    arm's inferences/s in a window is its completions there over the window's length: both
    arms are measured over the very same moments. Up to ``windows`` windows, fewer when the
    slower arm would have under ``MIN_PER_WINDOW`` completions in one on average; a window
    with no completion of an arm raises MeasurementError (as does a span that is empty)."""
    t = {arm: np.sort(np.asarray(d, dtype=np.float64)) for arm, d in done_ns.items()}
    if any(x.size < warmup + cooldown + 2 for x in t.values()):
        raise MeasurementError("a throughput run completed too few requests to measure")
    start = max(float(x[warmup]) for x in t.values())
    end = min(float(x[x.size - cooldown - 1]) for x in t.values())
    if not end > start:
        raise MeasurementError(
            "the arms' throughput runs did not overlap (one ended before the other was warmed up)"
        )
    inside = min(int(np.count_nonzero((x > start) & (x <= end))) for x in t.values())
    n = max(1, min(windows, inside // MIN_PER_WINDOW))
    edges = np.linspace(start, end, n + 1)
    spans = np.diff(edges) / 1e9
    out: dict[str, list[float]] = {}
    for arm, x in t.items():
        counts, _ = np.histogram(x[(x > start) & (x <= end)], bins=edges)
        if np.any(counts == 0):
            raise MeasurementError(
                f"arm {arm} completed no request in a common throughput window of "
                f"{spans[0] * 1e3:.0f} ms"
            )
        out[arm] = (counts / spans).tolist()
    return out, (end - start) / 1e9


def measure_together(
    pa: Tool,
    specs: Mapping[str, ThroughputSpec],
    policies: Mapping[str, ThroughputPolicy],
    work_dir: Path,
    *,
    pace: Pace | None = None,
    watch: Callable[[str], AbstractContextManager[Watch]] | None = None,
) -> dict[str, ThroughputLevel]:
    """One concurrency level of every arm, measured at the same moment: a closed-loop
    perf_analyzer process per arm (``specs[arm]``, ``policies[arm]``: one level each, its
    ``window_requests`` sizing that arm's run), all started together (in ``specs``' order),
    and the windows cut on a common clock (:func:`common_windows`). Each process is retried
    as ``measure_throughput`` retries it; when a retry leaves the runs without a common span
    the pair is measured again once, then MeasurementError."""
    work_dir.mkdir(parents=True, exist_ok=True)
    arms = list(specs)
    levels = {arm: policies[arm].concurrency[0] for arm in arms}
    if len(set(levels.values())) != 1:
        raise ValueError("arms measured together share one concurrency level")
    c = levels[arms[0]]
    plans = {arm: plan(policies[arm], c) for arm in arms}
    error: MeasurementError | None = None
    for _ in range(2):
        got: dict[str, Any] = {}

        def one(arm: str, got: dict[str, Any] = got) -> None:
            spec, total = specs[arm], plans[arm][0]
            got[arm] = run_with_retries(
                pa,
                _job(spec, total, c),
                work_dir,
                partial(_completions, total),
                name=f"throughput-c{c}-{arm}",
                retries=spec.retries,
                cap_s=spec.timeout_s,
                pace=pace,
                what=f"throughput at concurrency {c} (arm {arm}): ",
            )

        with ExitStack() as stack:
            stats = {
                arm: stack.enter_context(watch(specs[arm].model) if watch else nullcontext(Watch()))
                for arm in arms
            }
            at_once(one, arms, "gate-throughput")
        warmup = max(policies[arm].warmup_requests for arm in arms)
        try:
            wins, seconds = common_windows(
                {arm: got[arm].value for arm in arms},
                warmup,
                plans[arms[0]][1],
                max(policies[arm].windows for arm in arms),
            )
        except MeasurementError as e:
            error = e
            continue
        return {
            arm: ThroughputLevel(
                concurrency=c,
                windows=wins[arm],
                window_requests=max(1, round(float(np.mean(wins[arm])) * seconds / len(wins[arm]))),
                requests=plans[arm][0],
                seconds=seconds,
                perf_analyzer_args=got[arm].argv[1:],
                attempts=got[arm].attempts,
                retries=got[arm].retries,
                server_stats=stats[arm].stats,
            )
            for arm in arms
        }
    assert error is not None
    raise error


def _completions(total: int, export: Path) -> np.ndarray[Any, Any]:
    return read_export(export, total)[1]
