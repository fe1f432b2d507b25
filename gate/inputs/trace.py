"""Traffic in the lifecycle: import Triton trace files, cut long recordings down to size.

**Triton traces** (``tritonserver --trace-config mode=triton --trace-config triton,file=F
--trace-config level=TIMESTAMPS [--trace-config level=TENSORS] --trace-config rate=1``).
The file is a JSON list of events, several per request ``id``: the model name and
version, timestamps (``HTTP_RECV_START``, ``GRPC_WAITREAD_END``, ``REQUEST_START``… in ns) and,
with ``level=TENSORS``, each input tensor as ``{"name", "data": "v1,v2,…", "shape": "1,16",
"dtype": "FP32"}`` (activity ``TENSOR_QUEUE_INPUT``). A request arrives when the server began
receiving it: ``HTTP_RECV_START`` for HTTP, ``GRPC_WAITREAD_END`` for gRPC (its
``WAITREAD_START`` is when the server started *waiting*, long before), else ``REQUEST_START``.
Tensor values are printed by Triton with about 6 significant digits, so imported payloads are
close to, not bit-identical with, what was sent (the header's ``source`` says so). A trace with
timestamps only (``level=TIMESTAMPS``) gives the arrival process; the payloads then come from
another recording (``payloads``), cycled in order.

**Sampling** (``gate traffic sample``). A replay must see the production *arrival process*,
not only its payloads: queueing and batching depend on the gaps between requests. Thinning
(keeping each request with probability p) stretches every gap by 1/p — the rate drops and
the inter-arrival distribution changes (for a renewal process it becomes a geometric sum of
gaps). A **contiguous window** keeps the real gaps, bursts and their order exactly. Of all
windows of N requests (scanned with a stride so long recordings stay fast) the one whose
inter-arrival distribution is closest to the whole recording's (smallest two-sample
Kolmogorov–Smirnov distance) is taken, so the cut is not an unrepresentative quiet or busy
stretch. Untimed recordings are cut the same way (the first N requests by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gate.errors import InputError
from gate.inputs.parsing import DTYPES, read_json_file
from gate.inputs.traffic import Request, TensorSpec, Traffic

#: arrival timestamp names, in order of preference (see the module docstring)
ARRIVAL_EVENTS = ("HTTP_RECV_START", "GRPC_WAITREAD_END", "REQUEST_START")

#: at most this many candidate windows are scored by ``sample_window``
MAX_WINDOWS = 400


@dataclass
class _TraceRequest:
    id: str
    model: str | None = None
    version: str | None = None
    times: dict[str, int] | None = None
    tensors: dict[str, dict[str, Any]] | None = None


def _read_events(path: Path) -> list[dict[str, Any]]:
    doc = read_json_file(
        path,
        invalid_hint="is the trace complete? Triton finishes the file when the server stops",
        empty=(
            "empty trace file",
            "Triton writes the trace when the server stops (or per trace log-frequency)",
        ),
        errors="replace",
    )
    if not isinstance(doc, list) or not all(isinstance(e, dict) for e in doc):
        raise InputError(
            f"{path}: not a Triton trace (expected a JSON list of event objects)",
            hint="write it with --trace-config mode=triton --trace-config triton,file=PATH",
        )
    return doc


def _collect(paths: Sequence[Path]) -> dict[str, _TraceRequest]:
    reqs: dict[str, _TraceRequest] = {}
    for path in paths:
        for i, ev in enumerate(_read_events(path)):
            if "id" not in ev:
                raise InputError(f"{path}: event [{i}]: field 'id': missing", hint="not a trace?")
            rid = f"{path}#{ev['id']}" if len(paths) > 1 else str(ev["id"])
            r = reqs.setdefault(rid, _TraceRequest(rid, times={}, tensors={}))
            assert r.times is not None and r.tensors is not None
            if "model_name" in ev:
                r.model = str(ev["model_name"])
                r.version = str(ev.get("model_version", ""))
            for ts in ev.get("timestamps", ()) or ():
                if isinstance(ts, dict) and "name" in ts and "ns" in ts:
                    r.times.setdefault(str(ts["name"]), int(ts["ns"]))
            if ev.get("activity") == "TENSOR_QUEUE_INPUT":
                t = ev.get("tensor")
                if not isinstance(t, dict) or "name" not in t:
                    raise InputError(
                        f"{path}: event [{i}]: field 'tensor': missing or without a name"
                    )
                r.tensors[str(t["name"])] = t
    return reqs


def _parse_shape(text: Any, where: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in str(text).split(",") if d.strip() != "")
    except ValueError:
        raise InputError(f"{where}: field 'shape': {text!r} is not a list of integers") from None
    if not dims or any(d < 0 for d in dims):
        raise InputError(
            f"{where}: field 'shape': {text!r} has no batch dimension",
            hint="the model must batch (max_batch_size > 0) for traffic import",
        )
    return dims


def _parse_values(t: dict[str, Any], shape: tuple[int, ...], where: str) -> np.ndarray[Any, Any]:
    dtype = str(t.get("dtype", "")).upper().removeprefix("TYPE_")
    if dtype not in DTYPES:
        raise InputError(f"{where}: field 'dtype': unknown datatype {t.get('dtype')!r}")
    if dtype == "BYTES":
        raise InputError(
            f"{where}: BYTES tensors cannot be imported from a trace "
            "(Triton prints them without a reversible encoding)",
            hint="record this model's traffic another way (perf_analyzer input JSON)",
        )
    raw = str(t.get("data", ""))
    items = [x.strip() for x in raw.split(",")] if raw.strip() else []
    try:
        if dtype == "BOOL":
            vals: list[Any] = [x.lower() in ("1", "true") for x in items]
        elif dtype.startswith("FP"):
            vals = [float(x) for x in items]
        else:
            vals = [int(x) for x in items]
    except ValueError as e:
        raise InputError(f"{where}: field 'data': {e}") from None
    n = int(np.prod(shape))
    if len(vals) != n:
        raise InputError(
            f"{where}: field 'data': {len(vals)} values for shape {list(shape)} ({n} expected)",
            hint="the trace may be truncated",
        )
    arr = np.array(vals, dtype=DTYPES[dtype]).reshape(shape)
    arr.setflags(write=False)
    return arr


def import_triton_trace(
    paths: Sequence[Path], *, model: str | None = None, payloads: Traffic | None = None
) -> tuple[Traffic, list[str]]:
    """Traffic from one or more Triton trace files; returns it with warnings.

    ``model`` picks one model when the trace holds several. Requests whose events lack an
    arrival timestamp or a model (sampled away, or cut off by the end of the file) are
    dropped with a warning. With ``payloads`` the trace's tensors are ignored and request
    ``i`` gets the payload of ``payloads.requests[i % len]``.
    """
    reqs = _collect(paths)
    where0 = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1})"
    warnings: list[str] = []
    models = sorted({r.model for r in reqs.values() if r.model})
    if not models:
        raise InputError(
            f"{where0}: no request names a model",
            hint="is it a mode=triton trace? (OpenTelemetry traces are not supported)",
        )
    if model is None:
        if len(models) > 1:
            raise InputError(
                f"{where0}: the trace holds several models ({', '.join(models)})",
                hint="pick one with --model",
            )
        model = models[0]
    elif model not in models:
        raise InputError(
            f"{where0}: no request for model '{model}' (found: {', '.join(models)})",
            hint="check --model",
        )
    chosen: list[tuple[int, _TraceRequest]] = []
    dropped = 0
    for r in reqs.values():
        if r.model != model:
            continue
        assert r.times is not None
        t = next((r.times[n] for n in ARRIVAL_EVENTS if n in r.times), None)
        if t is None:
            dropped += 1
            continue
        chosen.append((t, r))
    if dropped:
        warnings.append(f"{dropped} request(s) without an arrival timestamp were dropped")
    if not chosen:
        raise InputError(f"{where0}: no request of '{model}' has an arrival timestamp")
    chosen.sort(key=lambda x: (x[0], x[1].id))
    t0 = chosen[0][0]
    versions = sorted({r.version or "" for _, r in chosen})
    if len(versions) > 1:
        warnings.append(f"the trace mixes versions {', '.join(versions)} of '{model}'")

    with_tensors = [r for _, r in chosen if r.tensors]
    if payloads is None and not with_tensors:
        raise InputError(
            f"{where0}: the trace has timestamps but no tensors (level=TENSORS was not set)",
            hint="trace with --trace-config level=TENSORS, or give --payloads FILE for the data",
        )
    requests: list[Request] = []
    if payloads is not None:
        specs = payloads.inputs
        for i, (t, _) in enumerate(chosen):
            src = payloads.requests[i % len(payloads.requests)]
            requests.append(Request(round((t - t0) / 1000), dict(src.inputs)))
        if len(chosen) > len(payloads.requests):
            warnings.append(
                f"{len(chosen)} arrivals but {len(payloads.requests)} payloads: payloads reused"
            )
        source = f"Triton trace {where0} (arrivals) with payloads of '{payloads.model}'"
        return Traffic(model, specs, tuple(requests), source=source), warnings

    names: list[str] | None = None
    dtypes: dict[str, str] = {}
    item_shapes: dict[str, list[tuple[int, ...]]] = {}
    skipped = 0
    for t, r in chosen:
        assert r.tensors is not None
        if not r.tensors:
            skipped += 1
            continue
        where = f"{where0}: request id {r.id}"
        these = sorted(r.tensors)
        if names is None:
            names = these
        elif these != names:
            raise InputError(
                f"{where}: inputs {these} differ from the first request's {names}",
                hint="import one model's requests with a fixed set of inputs",
            )
        arrays = {}
        for name in these:
            tens = r.tensors[name]
            shape = _parse_shape(tens.get("shape"), f"{where} input {name}")
            arr = _parse_values(tens, shape, f"{where} input {name}")
            dt = str(tens.get("dtype", "")).upper().removeprefix("TYPE_")
            if dtypes.setdefault(name, dt) != dt:
                raise InputError(f"{where} input {name}: dtype {dt} differs ({dtypes[name]})")
            item_shapes.setdefault(name, []).append(shape[1:])
            arrays[name] = arr
        requests.append(Request(round((t - t0) / 1000), arrays))
    if skipped:
        warnings.append(f"{skipped} request(s) without tensors were dropped")
    assert names is not None
    specs_l = []
    for name in names:
        shapes = item_shapes[name]
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise InputError(f"{where0}: input {name} changes rank between requests")
        rank = ranks.pop()
        dims = tuple(
            shapes[0][k] if all(s[k] == shapes[0][k] for s in shapes) else -1 for k in range(rank)
        )
        specs_l.append(TensorSpec(name, dtypes[name], dims))
    # re-base arrival times on the first request kept
    first = requests[0].t_us or 0
    requests = [Request((q.t_us or 0) - first, q.inputs) for q in requests]
    source = (
        f"Triton trace {where0} (level=TENSORS; values as printed by Triton, ~6 significant digits)"
    )
    return Traffic(model, tuple(specs_l), tuple(requests), source=source), warnings


# --------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------


def ks_distance(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    """Two-sample Kolmogorov–Smirnov statistic sup |F_a − F_b| (equals scipy's ks_2samp)."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def ks_to_reference(window: np.ndarray[Any, Any], sorted_ref: np.ndarray[Any, Any]) -> float:
    """``ks_distance(window, ref)`` in O(n log m) for an already sorted reference.

    Between two consecutive distinct window values the window's ECDF is flat and the
    reference's is non-decreasing, so the supremum is reached just at or just before a
    window value: right limits ``|F_w(u) − F_r(u)|`` and left limits ``|F_w(u⁻) − F_r(u⁻)|``
    (ties handled by ``searchsorted`` sides). Scoring hundreds of windows of a long
    recording then costs window-sized work, not recording-sized work, per window.
    """
    u, counts = np.unique(window, return_counts=True)
    n, m = len(window), len(sorted_ref)
    fw_right = np.cumsum(counts) / n
    fw_left = fw_right - counts / n
    fr_right = np.searchsorted(sorted_ref, u, side="right") / m
    fr_left = np.searchsorted(sorted_ref, u, side="left") / m
    return float(max(np.max(np.abs(fw_right - fr_right)), np.max(np.abs(fw_left - fr_left))))


@dataclass(frozen=True)
class SampleInfo:
    start: int
    n: int
    ks: float | None  # KS distance of the window's inter-arrivals to the whole recording's
    rate_full: float | None
    rate_window: float | None


def sample_window(
    traffic: Traffic, n: int, *, start: int | None = None
) -> tuple[Traffic, SampleInfo]:
    """The contiguous window of ``n`` requests that best keeps the arrival process.

    ``start`` fixes the window's first request; otherwise (timed traffic) the window whose
    inter-arrival times are closest in KS distance to the whole recording's is chosen
    (ties: the earliest). Times are re-based so the window starts at 0.
    """
    total = len(traffic.requests)
    if n < 2:
        raise InputError(f"-n {n}: a sample needs at least 2 requests")
    if n > total:
        raise InputError(
            f"-n {n}: the recording has only {total} requests", hint="ask for fewer requests"
        )
    if start is not None and not 0 <= start <= total - n:
        raise InputError(f"--start {start}: must be between 0 and {total - n}")
    ks: float | None = None
    rate_full = rate_win = None
    if traffic.timed:
        t = np.array([r.t_us for r in traffic.requests], dtype=np.float64)
        gaps = np.diff(t)
        ref = np.sort(gaps)
        if start is None:
            stride = max(1, (total - n) // MAX_WINDOWS)
            best: tuple[float, int] | None = None
            for s in range(0, total - n + 1, stride):
                d = ks_to_reference(gaps[s : s + n - 1], ref)
                if best is None or d < best[0] - 1e-12:
                    best = (d, s)
            assert best is not None
            start = best[1]
        ks = ks_to_reference(gaps[start : start + n - 1], ref)
        span_full = t[-1] - t[0]
        span_win = t[start + n - 1] - t[start]
        rate_full = (total - 1) / span_full * 1e6 if span_full > 0 else None
        rate_win = (n - 1) / span_win * 1e6 if span_win > 0 else None
    elif start is None:
        start = 0
    window = traffic.requests[start : start + n]
    t0 = window[0].t_us
    reqs = tuple(
        Request(None if r.t_us is None or t0 is None else r.t_us - t0, r.inputs) for r in window
    )
    src = f"{traffic.source or 'traffic'}; requests {start}..{start + n - 1} of {total}"
    out = Traffic(traffic.model, traffic.inputs, reqs, source=src, created_at=traffic.created_at)
    return out, SampleInfo(start, n, ks, rate_full, rate_win)
