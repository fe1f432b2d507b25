"""Where the time went: Triton's per-model statistics beside end-to-end latency.

A latency check says *that* the candidate is slower; the server's own counters
(``ServerStats`` per replay or A/B block, ``gate.measure.server_stats``) say *where*: in the
model's execute (compute infer), waiting for an instance (queue), moving tensors (compute
input/output), or outside Triton (network, HTTP, the client). ``server_time`` sums them per
arm of a live A/B (or over the candidate's replays) into mean microseconds per request,
beside the client's mean end-to-end latency; the reports render the table. A pure function
of a ``RunResult``; None when no replay carried statistics.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from gate.evidence import ServerPhase, ServerStats
from gate.measure.server_stats import total
from gate.result import RunResult

#: Row labels, in the order a request passes them.
_PHASE_ROWS = (
    ("in Triton (whole request)", "success"),
    ("queue", "queue"),
    ("compute input", "compute_input"),
    ("compute infer (the model)", "compute_infer"),
    ("compute output", "compute_output"),
)
END_TO_END = "end to end (client)"
OUTSIDE = "outside Triton (network, HTTP, client)"


@dataclass(frozen=True)
class ServerTime:
    """Mean µs per request per row, one value per column (``None``: unknown)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[float | None, ...]], ...]
    requests: tuple[int, ...]  # requests Triton counted per column (warm-up included)

    @property
    def paired(self) -> bool:
        """Two arms of one server (a ratio column makes sense)."""
        return len(self.columns) == 2

    def ratio(self, values: tuple[float | None, ...]) -> float | None:
        a, b = values[0], values[-1]
        return b / a if self.paired and a and b is not None else None


def _column(stats: ServerStats, latencies_us: Sequence[float]) -> list[float | None]:
    e2e = statistics.fmean(latencies_us) if latencies_us else None
    values: list[float | None] = [e2e]
    values += [stats.mean_us(phase) for _, phase in _PHASE_ROWS]
    inside = stats.mean_us("success")
    values.append(e2e - inside if e2e is not None and inside is not None else None)
    return values


def server_time(result: RunResult) -> ServerTime | None:
    """The table for ``result``: both arms of its live A/B, else its candidate replays."""
    labels = (END_TO_END, *(label for label, _ in _PHASE_ROWS), OUTSIDE)
    cols: list[tuple[str, ServerStats, Sequence[float]]] = []
    ab = result.ab
    if ab is not None and ab.blocks:
        for arm, name, lat in (
            ("A", "baseline (A)", ab.latencies_a_us),
            ("B", "candidate (B)", ab.latencies_b_us),
        ):
            s = total([b.server_stats for b in ab.blocks if b.arm == arm and b.server_stats])
            if s is None:
                return None
            cols.append((name, s, lat))
    else:
        s = total([r.server_stats for r in result.runs if r.server_stats])
        if s is None:
            return None
        cols.append(("candidate", s, [x for r in result.runs for x in r.latencies_us]))
    values = [_column(s, lat) for _, s, lat in cols]
    rows = tuple((label, tuple(v[i] for v in values)) for i, label in enumerate(labels))
    return ServerTime(
        columns=tuple(name for name, _, _ in cols),
        rows=rows,
        requests=tuple(s.phases.get("success", ServerPhase()).count for _, s, _ in cols),
    )


def fmt_us(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f} µs"


def fmt_ratio(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}x"


NOTE = (
    "Mean per request; Triton's counters include the warm-up requests, the client's latency "
    "does not."
)


def one_line_summary(table: ServerTime) -> str:
    """``in Triton 210 → 420 µs (compute infer 80 → 290 µs, queue 12 → 15 µs)``."""

    def pair(label: str) -> str:
        vals = dict(table.rows)[label]
        return " → ".join(fmt_us(v).removesuffix(" µs") for v in vals) + " µs"

    head = f"time per request ({' → '.join(c.split(' ')[0] for c in table.columns)}): "
    return (
        head
        + f"in Triton {pair(_PHASE_ROWS[0][0])} (compute infer {pair(_PHASE_ROWS[3][0])}, "
        + f"queue {pair('queue')}); outside Triton {pair(OUTSIDE)}"
    )
