"""The files perf_analyzer replays recorded traffic from: ``--input-data`` JSON and
``--request-intervals``, written here so that the traffic format (``gate.inputs.traffic``)
knows nothing of the tool."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gate.errors import InfraError, InputError
from gate.files import atomic_open
from gate.inputs.parsing import raw_bytes
from gate.inputs.traffic import Request, TensorSpec, Traffic

#: perf_analyzer's first request waits this long after start (µs), so the first measured
#: request is not sent while the client is still setting up.
START_GAP_US = 1000


@dataclass(frozen=True)
class PerfAnalyzerInputs:
    """Files for one perf_analyzer replay and the counts to pass with them.

    Run ``perf_analyzer --input-data input_data --request-count total_requests -b batch_size``
    plus ``--request-intervals intervals`` when it is set. The first ``warmup_requests``
    results (by send timestamp) are warm-up and are discarded.
    """

    input_data: Path
    intervals: Path | None
    total_requests: int
    warmup_requests: int
    batch_size: int
    #: the ``--request-intervals`` lines (µs), warm-up first; empty for untimed traffic
    intervals_us: tuple[int, ...] = ()

    @property
    def schedule_s(self) -> float:
        """Seconds the schedule spans (0.0 untimed): the least time the replay can take."""
        return sum(self.intervals_us) / 1e6


def _pa_entry(req: Request, specs: Sequence[TensorSpec], batched: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for spec in specs:
        arr = req.inputs[spec.name]
        shape = list(arr.shape[1:] if batched else arr.shape)
        if spec.datatype == "BYTES":
            flat = arr.ravel().tolist()
            entry[spec.name] = {"content": [bytes(b).decode("utf-8") for b in flat], "shape": shape}
        else:
            b64 = base64.b64encode(raw_bytes(arr, spec.datatype)).decode("ascii")
            entry[spec.name] = {"b64": b64, "shape": shape}
    return entry


def _intervals_us(t_us: Sequence[int], warmup: int) -> list[int]:
    """One positive gap per request, warm-up first; see write_perf_analyzer_inputs."""
    gaps = [b - a for a, b in itertools.pairwise(t_us)]
    median = max(1, round(float(np.median(gaps)))) if gaps else START_GAP_US
    # Warm-up: a start gap, then the median gap; the first measured request follows at the
    # median gap too (without warm-up it is request 0 and gets the start gap).
    out = [START_GAP_US] + [median] * warmup
    # Measured requests keep their recorded offsets: each is scheduled at
    # max(recorded offset, previous + 1 µs), so gaps of 0 (simultaneous arrivals) become
    # 1 µs without the schedule drifting: it catches up at the next gap wide enough.
    sched = 0
    for t in t_us[1:]:
        target = t - t_us[0]
        nxt = max(sched + 1, target)
        out.append(nxt - sched)
        sched = nxt
    return out


def write_perf_analyzer_inputs(
    traffic: Traffic, out_dir: Path, *, warmup: int, max_batch_size: int
) -> PerfAnalyzerInputs:
    """Write perf_analyzer's ``--input-data`` JSON (and ``--request-intervals`` when timed).

    ``input_data.json`` is ``{"data": [entry, ...]}``, one entry per request sent: first
    ``warmup`` warm-up copies of the first requests (cycled if the traffic is shorter), then
    every recorded request in order, so one perf_analyzer process warms the server up and then
    replays the measured requests. Numeric tensors are ``{"b64", "shape"}``, BYTES
    ``{"content": [str, ...], "shape"}``. For a batching model (``max_batch_size > 0``) the
    shape omits the batch dim and every request must have batch size 1 (InputError
    otherwise: mixed or larger batches are not supported by this replay yet); for
    ``max_batch_size == 0`` the full shape is written.

    ``request_intervals.txt`` (timed traffic only) holds one positive integer µs per line,
    ``total_requests`` lines. perf_analyzer sends request k at the cumulative sum of lines
    0..k: line 0 is a 1000 µs start gap, warm-up lines and the first measured request use the
    median recorded inter-arrival gap, and measured request i > 0 gets
    ``t_us[i] - t_us[i-1]`` (at least 1 µs: perf_analyzer needs positive values; a zero gap
    borrows from the next so offsets do not drift). Hence, for measured requests, the sum up
    to line ``warmup + i`` minus the sum up to line ``warmup`` is ``t_us[i] - t_us[0]``.

    Facts this relies on (the tests check them against the real tool): with
    ``--request-intervals`` perf_analyzer's stability loop fails, so run it with
    ``--request-count total_requests``; it sends request k with data step k, so its results
    sorted by send timestamp pair with the data entries by index, and entry ``warmup + i`` is
    recorded request ``i``.
    """
    if warmup < 0:
        raise ValueError("warmup must be >= 0")
    batched = max_batch_size > 0
    if batched:
        for i, req in enumerate(traffic.requests):
            for spec in traffic.inputs:
                b = req.inputs[spec.name].shape[0]
                if b != 1:
                    raise InputError(
                        f"request {i}: input '{spec.name}' has batch size {b}; mixed or larger "
                        "batch sizes are not supported by this replay yet",
                        hint="record one request per batch-1 item",
                    )
    reqs = traffic.requests
    order = [reqs[k % len(reqs)] for k in range(warmup)] + list(reqs)
    input_data = out_dir / "input_data.json"
    intervals: Path | None = None
    lines: list[int] = []
    try:
        data = {"data": [_pa_entry(r, traffic.inputs, batched) for r in order]}
        with atomic_open(input_data) as f:
            f.write(json.dumps(data, separators=(",", ":")).encode("utf-8"))
        if traffic.timed:
            t_us = [r.t_us for r in reqs if r.t_us is not None]
            lines = _intervals_us(t_us, warmup)
            intervals = out_dir / "request_intervals.txt"
            with atomic_open(intervals) as f:
                f.write("".join(f"{g}\n" for g in lines).encode("ascii"))
    except OSError as e:
        raise InfraError(
            f"{out_dir}: cannot write perf_analyzer inputs: {e.strerror or e}"
        ) from None
    except UnicodeDecodeError:
        raise InputError(
            "a BYTES element is not UTF-8 text", hint="perf_analyzer JSON carries strings only"
        ) from None
    return PerfAnalyzerInputs(
        input_data=input_data,
        intervals=intervals,
        total_requests=len(order),
        warmup_requests=warmup,
        batch_size=1,
        intervals_us=tuple(lines),
    )
