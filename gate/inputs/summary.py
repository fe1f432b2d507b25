"""What ``gate traffic inspect`` prints about a recording: counts, arrivals, value ranges."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gate.inputs.parsing import fmt_shape
from gate.inputs.traffic import TRAFFIC_FORMAT, Traffic


@dataclass(frozen=True)
class InputSummary:
    """Per-input facts: what the header declares, what batches and values were recorded."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    non_finite: int = 0


@dataclass(frozen=True)
class TrafficSummary:
    """What ``gate traffic inspect`` shows: enough to see at a glance whether a recording
    is the one you meant (model, size, arrival rate and burstiness, value ranges)."""

    model: str
    source: str
    digest: str
    count: int
    timed: bool
    duration_s: float
    rate_rps: float | None = None
    gap_p50_ms: float | None = None
    gap_p95_ms: float | None = None
    gap_max_ms: float | None = None
    inputs: tuple[InputSummary, ...] = field(default_factory=tuple)


def summarize(traffic: Traffic) -> TrafficSummary:
    """Counts, arrival statistics and per-input value ranges of ``traffic``.

    ``rate_rps`` is (count - 1) / duration: the arrival rate between the first and last
    request. Value statistics skip NaN and infinities (counted in ``non_finite``); BYTES have
    none.
    """
    rate = p50 = p95 = gmax = None
    if traffic.timed and len(traffic.requests) > 1:
        t = np.array([r.t_us for r in traffic.requests], dtype=np.float64)
        gaps_ms = np.diff(t) / 1000.0
        p50, p95 = (float(v) for v in np.percentile(gaps_ms, [50, 95]))
        gmax = float(gaps_ms.max())
        if traffic.duration_s > 0:
            rate = (len(traffic.requests) - 1) / traffic.duration_s
    inputs: list[InputSummary] = []
    for spec in traffic.inputs:
        batches = sorted({r.inputs[spec.name].shape[0] for r in traffic.requests})
        if spec.datatype == "BYTES":
            inputs.append(InputSummary(spec.name, spec.datatype, spec.shape, tuple(batches)))
            continue
        lo, hi, total, n, bad = math.inf, -math.inf, 0.0, 0, 0
        for r in traffic.requests:
            vals = r.inputs[spec.name].astype(np.float64).ravel()
            finite = vals[np.isfinite(vals)]
            bad += vals.size - finite.size
            if finite.size:
                lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
                total += float(finite.sum())
                n += finite.size
        inputs.append(
            InputSummary(
                spec.name,
                spec.datatype,
                spec.shape,
                tuple(batches),
                min=lo if n else None,
                max=hi if n else None,
                mean=total / n if n else None,
                non_finite=bad,
            )
        )
    return TrafficSummary(
        model=traffic.model,
        source=traffic.source,
        digest=traffic.digest(),
        count=len(traffic.requests),
        timed=traffic.timed,
        duration_s=traffic.duration_s,
        rate_rps=rate,
        gap_p50_ms=p50,
        gap_p95_ms=p95,
        gap_max_ms=gmax,
        inputs=tuple(inputs),
    )


def _g(v: float | None, unit: str = "") -> str:
    return "-" if v is None else f"{v:.4g}{unit}"


def format_summary(summary: TrafficSummary, path: Path) -> str:
    """Readable multi-line text for ``gate traffic inspect FILE``."""
    s = summary
    lines = [
        f"traffic   {path}",
        f"format    {TRAFFIC_FORMAT}",
        f"model     {s.model}",
    ]
    if s.source:
        lines.append(f"source    {s.source}")
    lines.append(f"digest    {s.digest}")
    if s.timed:
        rate = f", {s.rate_rps:.1f} req/s" if s.rate_rps is not None else ""
        lines.append(f"requests  {s.count} over {s.duration_s:.3f} s{rate}")
        if s.gap_p50_ms is not None:
            lines.append(
                f"gaps      p50 {_g(s.gap_p50_ms, ' ms')}  p95 {_g(s.gap_p95_ms, ' ms')}  "
                f"max {_g(s.gap_max_ms, ' ms')}"
            )
    else:
        lines.append(f"requests  {s.count}, untimed (replayed at a fixed concurrency)")
    lines.append("inputs")
    for i in s.inputs:
        batches = ", ".join(str(b) for b in i.batch_sizes)
        text = f"  {i.name}  {i.datatype}  {fmt_shape(i.shape)}  batch sizes {batches}"
        if i.datatype != "BYTES":
            text += f"  min {_g(i.min)}  max {_g(i.max)}  mean {_g(i.mean)}"
        if i.non_finite:
            text += f"  non-finite {i.non_finite}"
        lines.append(text)
    return "\n".join(lines) + "\n"
