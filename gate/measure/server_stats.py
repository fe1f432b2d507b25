"""Triton's per-model statistics, as changes over one measurement.

``/v2/models/<m>/stats`` (tritonclient's ``get_inference_statistics``) holds cumulative
counters per model version: requests that succeeded or failed, and the count and total
nanoseconds of each phase a request goes through inside the server (queue, compute input,
compute infer, compute output). Read just before and just after a replay block, their
difference says where that block's time went on the server's side: beside the client's
end-to-end latency it separates a slowdown in the model (compute infer) from one in waiting
(queue) or outside Triton (network, HTTP, the client). The HTTP client answers with numbers,
the gRPC one (as JSON) with strings and without the zero fields: both read the same here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gate.errors import GateError
from gate.evidence import ServerPhase, ServerStats

#: The phases kept, in the order a request passes them (``success``: the whole request).
PHASES = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_statistics(raw: dict[str, Any], model: str, version: str = "") -> ServerStats:
    """The cumulative counters of ``model`` (summed over its versions, or only ``version``)
    in one answer of the statistics endpoint. ValueError when the model is not in it."""
    entries = [
        e
        for e in raw.get("model_stats", [])
        if e.get("name") == model and (not version or str(e.get("version", "")) == version)
    ]
    if not entries:
        raise ValueError(f"no statistics for model '{model}'")
    phases = {p: ServerPhase() for p in PHASES}
    inferences = executions = 0
    for e in entries:
        inferences += _int(e.get("inference_count"))
        executions += _int(e.get("execution_count"))
        stats = e.get("inference_stats", {}) or {}
        for p in PHASES:
            got = stats.get(p, {}) or {}
            old = phases[p]
            phases[p] = ServerPhase(
                count=old.count + _int(got.get("count")), ns=old.ns + _int(got.get("ns"))
            )
    return ServerStats(inferences=inferences, executions=executions, phases=phases)


def difference(before: ServerStats, after: ServerStats) -> ServerStats:
    """What happened between two readings of the same model's counters."""
    phases = {}
    for p, a in after.phases.items():
        b = before.phases.get(p, ServerPhase())
        phases[p] = ServerPhase(count=a.count - b.count, ns=a.ns - b.ns)
    return ServerStats(
        inferences=after.inferences - before.inferences,
        executions=after.executions - before.executions,
        phases=phases,
    )


def total(stats: Sequence[ServerStats]) -> ServerStats | None:
    """The sum of several measurements' changes (None for none)."""
    if not stats:
        return None
    phases: dict[str, ServerPhase] = {}
    for s in stats:
        for p, v in s.phases.items():
            old = phases.get(p, ServerPhase())
            phases[p] = ServerPhase(count=old.count + v.count, ns=old.ns + v.ns)
    return ServerStats(
        inferences=sum(s.inferences for s in stats),
        executions=sum(s.executions for s in stats),
        phases=phases,
    )


@dataclass
class Watch:
    """The change of one model's counters over a ``with`` body (None when either reading
    failed: the statistics are an aid to the reader, never a reason to fail a run)."""

    stats: ServerStats | None = None


@contextmanager
def watch(read: Callable[[], dict[str, Any]], model: str, version: str = "") -> Iterator[Watch]:
    """Read the counters before and after the body; ``Watch.stats`` holds the change."""
    out = Watch()
    before = _reading(read, model, version)
    yield out
    after = _reading(read, model, version)
    if before is not None and after is not None:
        out.stats = difference(before, after)


def _reading(read: Callable[[], dict[str, Any]], model: str, version: str) -> ServerStats | None:
    try:
        return parse_statistics(read(), model, version)
    except (GateError, ValueError, TypeError, AttributeError):
        return None
