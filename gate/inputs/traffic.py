"""Recorded traffic (``gate-traffic/1``): the format, its reader, writer and model check.

The gate judges a candidate model by replaying the *same* requests that the baseline saw, in
the same order and with the same inter-arrival times, so latencies pair by request index.
This module owns that recording and nothing else:

* the file format, a JSONL file (gzip when the name ends in ``.gz``) whose first line is a
  header naming the model and its input tensors, then one request per line;
* a strict reader: a malformed recording must stop the gate with exit 2 and a one-line message
  naming the file, the line and the field, never replay something other than what was recorded;
* an atomic writer, a digest that identifies the traffic whatever its encoding, so a baseline
  can refuse to be compared with a candidate that replayed different traffic;
* the check against the served model's metadata.

Around it, each in its own module: the tensor parsing the input formats share
(``gate.inputs.parsing``), the summary ``gate traffic inspect`` prints
(``gate.inputs.summary``), the importers (``gate.inputs.importers``, ``gate.inputs.trace``)
and the files perf_analyzer replays from (``gate.measure.perf_analyzer``).

Format, one request per line after the header::

    {"format": "gate-traffic/1", "model": "demo",
     "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [16]}]}
    {"t_us": 0, "inputs": {"INPUT0": {"shape": [1, 16], "b64": "..."}}}
    {"t_us": 1834, "inputs": {"INPUT0": {"shape": [1, 16], "data": [[0.1, ...]]}}}

The header shape is the per-item shape (no batch dimension, ``-1`` = any size); a request's
shape has the batch dimension first. ``b64`` is the raw little-endian C-order bytes, ``data``
a nested or flat list of numbers (of strings for BYTES, which has no ``b64`` form).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from gate.errors import InputError, ServerError
from gate.files import atomic_open, os_errors
from gate.inputs.parsing import (
    DTYPES,
    Array,
    FieldProblem,
    decode_payload,
    dims_match,
    fmt_shape,
    is_int,
    json_line,
    meta_dtype,
    named_tensors,
    numbered_lines,
    parse_shape,
    raw_bytes,
    short,
    unknown_keys,
)
from gate.result import is_model_name

TRAFFIC_FORMAT = "gate-traffic/1"

_HEADER_KEYS = ("format", "model", "inputs", "source", "created_at")
_SPEC_KEYS = ("name", "datatype", "shape")
_REQUEST_KEYS = ("t_us", "inputs")
_TENSOR_KEYS = ("shape", "b64", "data")

# --------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorSpec:
    """One model input as the traffic header declares it: ``shape`` excludes the batch dim."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Request:
    """One recorded request: arrival offset (µs, or None when untimed) and decoded tensors.

    Arrays carry the request's full shape (batch dimension first) and the datatype's numpy
    dtype; BYTES tensors are object arrays of ``bytes``. Equality is bit-exact on the payloads
    (NaN equals the same NaN), which is what "the same traffic" means for a replay.
    """

    t_us: int | None
    inputs: dict[str, Array]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        if self.t_us != other.t_us or self.inputs.keys() != other.inputs.keys():
            return False
        for name, a in self.inputs.items():
            b = other.inputs[name]
            if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
                return False
            if a.dtype.kind == "O":
                if a.ravel().tolist() != b.ravel().tolist():
                    return False
            elif np.ascontiguousarray(a).tobytes() != np.ascontiguousarray(b).tobytes():
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Traffic:
    """A whole recording. Construction checks consistency (ValueError on a programming error:
    files are checked line by line, with InputError, before they get here)."""

    model: str
    inputs: tuple[TensorSpec, ...]
    requests: tuple[Request, ...]
    source: str = ""
    created_at: str = ""

    def __post_init__(self) -> None:
        _check_traffic(self)

    @property
    def timed(self) -> bool:
        """Whether arrival times were recorded: replay then keeps them (--request-intervals);
        untimed traffic is replayed at a fixed concurrency instead."""
        return self.requests[0].t_us is not None

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last arrival (0.0 when untimed)."""
        first, last = self.requests[0].t_us, self.requests[-1].t_us
        if first is None or last is None:
            return 0.0
        return (last - first) / 1e6

    def digest(self) -> str:
        """``sha256:<hex>`` of a canonical serialisation of what a replay sends.

        Covers the model name, the input specs and, per request, ``t_us`` and every tensor's
        name, datatype, shape and raw little-endian bytes (BYTES elements length-prefixed as on
        Triton's wire). It ignores the file's encoding (gzip or not, ``b64`` or ``data``) and
        the free-text ``source``/``created_at``: a baseline recorded from this traffic stays
        comparable after the file is re-encoded or re-annotated, and only then.
        """
        h = hashlib.sha256()
        head = {
            "format": TRAFFIC_FORMAT,
            "model": self.model,
            "inputs": [[s.name, s.datatype, list(s.shape)] for s in self.inputs],
            "timed": self.timed,
        }
        h.update(_canonical_json(head) + b"\n")
        for req in self.requests:
            h.update(b"R" + ("-" if req.t_us is None else str(req.t_us)).encode() + b"\n")
            for spec in self.inputs:
                arr = req.inputs[spec.name]
                h.update(_canonical_json([spec.name, spec.datatype, list(arr.shape)]))
                raw = raw_bytes(arr, spec.datatype)
                h.update(struct.pack("<Q", len(raw)))
                h.update(raw)
        return "sha256:" + h.hexdigest()


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _check_traffic(t: Traffic) -> None:
    if not t.inputs:
        raise ValueError("Traffic needs at least one input spec")
    if not t.requests:
        raise ValueError("Traffic needs at least one request")
    names = [s.name for s in t.inputs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate input names in {names}")
    for s in t.inputs:
        if s.datatype not in DTYPES:
            raise ValueError(f"input {s.name!r}: unknown datatype {s.datatype!r}")
    timed = t.requests[0].t_us is not None
    prev = 0
    for i, req in enumerate(t.requests):
        if (req.t_us is not None) != timed:
            raise ValueError(f"request {i}: t_us must be set on every request or on none")
        if req.t_us is not None:
            if req.t_us < 0 or req.t_us < prev:
                raise ValueError(f"request {i}: t_us {req.t_us} is negative or decreasing")
            prev = req.t_us
        if set(req.inputs) != set(names):
            raise ValueError(f"request {i}: inputs {sorted(req.inputs)} != header {names}")
        for s in t.inputs:
            arr = req.inputs[s.name]
            want = DTYPES[s.datatype]
            if arr.dtype.kind != want.kind or arr.dtype.itemsize != want.itemsize:
                raise ValueError(f"request {i}: {s.name} has dtype {arr.dtype}, want {want}")
            if arr.ndim != len(s.shape) + 1 or arr.shape[0] < 1:
                raise ValueError(f"request {i}: {s.name} shape {arr.shape} vs item {s.shape}")
            if not dims_match(s.shape, arr.shape[1:]):
                raise ValueError(f"request {i}: {s.name} shape {arr.shape} vs item {s.shape}")
            if s.datatype == "BYTES" and not all(isinstance(b, bytes) for b in arr.flat):
                raise ValueError(f"request {i}: {s.name} BYTES elements must be bytes")


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def _parse_header(obj: dict[str, Any]) -> tuple[str, tuple[TensorSpec, ...], str, str]:
    if "format" not in obj:
        raise FieldProblem(
            "format",
            f"missing; the first line must be a {TRAFFIC_FORMAT} header",
            f'start the file with {{"format": "{TRAFFIC_FORMAT}", "model": ..., "inputs": ...}}',
        )
    if obj["format"] != TRAFFIC_FORMAT:
        raise FieldProblem(
            "format",
            f"{short(obj['format'])} is not {TRAFFIC_FORMAT!r}",
            "convert the file with 'gate traffic import', or fix the format tag",
        )
    unknown_keys(obj, _HEADER_KEYS, "")
    model = obj.get("model")
    if not isinstance(model, str) or not model:
        raise FieldProblem("model", f"must be a non-empty string, got {short(model)}", "name it")
    if not is_model_name(model):
        raise FieldProblem(
            "model",
            f"{short(model)} is not a model name (one folder name: letters, digits, '_', '.', "
            "'-', not starting with '.')",
            "write the model's name as in the repository",
        )
    raw_inputs = obj.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise FieldProblem(
            "inputs",
            f"must be a non-empty list of input specs, got {short(raw_inputs)}",
            'list the model inputs: [{"name": ..., "datatype": ..., "shape": [...]}]',
        )
    specs: list[TensorSpec] = []
    for i, spec in enumerate(raw_inputs):
        where = f"inputs[{i}]"
        if not isinstance(spec, dict):
            raise FieldProblem(where, "must be an object", "write {name, datatype, shape}")
        unknown_keys(spec, _SPEC_KEYS, where + ".")
        for key in _SPEC_KEYS:
            if key not in spec:
                raise FieldProblem(f"{where}.{key}", "missing", "add it")
        name = spec["name"]
        if not isinstance(name, str) or not name:
            raise FieldProblem(f"{where}.name", "must be a non-empty string", "name the input")
        if any(s.name == name for s in specs):
            raise FieldProblem(f"{where}.name", f"duplicate input {name!r}", "list each input once")
        datatype = spec["datatype"]
        if datatype not in DTYPES:
            raise FieldProblem(
                f"{where}.datatype",
                f"unknown datatype {short(datatype)}",
                f"use one of {', '.join(DTYPES)}",
            )
        shape = parse_shape(spec["shape"], f"{where}.shape", allow_any=True)
        specs.append(TensorSpec(name, datatype, shape))
    source, created = obj.get("source", ""), obj.get("created_at", "")
    for key, val in (("source", source), ("created_at", created)):
        if not isinstance(val, str):
            raise FieldProblem(key, f"must be a string, got {short(val)}", "quote it")
    return model, tuple(specs), source, created


def _parse_request(obj: dict[str, Any], specs: Sequence[TensorSpec]) -> Request:
    unknown_keys(obj, _REQUEST_KEYS, "")
    t_us = obj.get("t_us")
    if t_us is not None and not is_int(t_us):
        raise FieldProblem("t_us", f"must be an integer, got {short(t_us)}", "round to whole µs")
    raw_inputs = obj.get("inputs")
    if not isinstance(raw_inputs, dict):
        raise FieldProblem(
            "inputs", f"must be an object, got {short(raw_inputs)}", "map input names to tensors"
        )
    declared = ", ".join(sorted(s.name for s in specs))
    arrays = named_tensors(
        raw_inputs,
        specs,
        "inputs.",
        _parse_tensor,
        unknown=lambda _: (
            "input is not declared in the header",
            f"remove it or add it to the header (declared: {declared})",
        ),
        missing_hint="every request must carry every header input",
    )
    return Request(t_us, arrays)


def _parse_tensor(value: Any, spec: TensorSpec, fld: str) -> Array:
    if not isinstance(value, dict):
        raise FieldProblem(fld, "must be an object with 'shape' and 'b64' or 'data'", "fix it")
    unknown_keys(value, _TENSOR_KEYS, fld + ".")
    if "shape" not in value:
        raise FieldProblem(fld + ".shape", "missing", "add the request shape, batch dim first")
    shape = parse_shape(value["shape"], fld + ".shape", allow_any=False)
    if len(shape) != len(spec.shape) + 1 or not dims_match(spec.shape, shape[1:]):
        raise FieldProblem(
            fld + ".shape",
            f"{fmt_shape(shape)} does not match header shape {fmt_shape(spec.shape)} "
            "after the batch dim",
            "the request shape is [batch, *header shape] (-1 in the header matches any size)",
        )
    if shape[0] < 1:
        raise FieldProblem(fld + ".shape", "batch dim must be at least 1", "fix the shape")
    has_b64, has_data = "b64" in value, "data" in value
    if has_b64 == has_data:
        raise FieldProblem(
            fld,
            "needs exactly one of 'b64' or 'data'" + (", got both" if has_b64 else ""),
            "keep one payload encoding per tensor",
        )
    kind = "b64" if has_b64 else "data"
    return decode_payload(value[kind], spec.datatype, shape, f"{fld}.{kind}", b64=has_b64)


def read_traffic(path: Path) -> Traffic:
    """Read and fully validate a ``gate-traffic/1`` file (gzip when the name ends in .gz).

    Strict on purpose: every problem raises :class:`InputError` with one line naming the file,
    the line number and the field, and a hint, because replaying something other than what
    was recorded would make the verdict meaningless. Blank lines are skipped.
    """
    header: tuple[str, tuple[TensorSpec, ...], str, str] | None = None
    requests: list[Request] = []
    timed: bool | None = None
    prev_t = 0
    header_line = 0
    for lineno, text in numbered_lines(path):
        if not text.strip():
            continue
        try:
            if header is None:
                header = _parse_header(json_line(text, f"{path}:{lineno}", "the header"))
                header_line = lineno
                continue
            req = _parse_request(json_line(text, f"{path}:{lineno}", "a request"), header[1])
            if timed is None:
                timed = req.t_us is not None
            elif timed != (req.t_us is not None):
                raise FieldProblem(
                    "t_us",
                    "present on some requests and absent on others"
                    if timed
                    else "absent on the first request but present here",
                    "give every request a t_us, or none",
                )
            if req.t_us is not None:
                if req.t_us < 0:
                    raise FieldProblem("t_us", f"{req.t_us} is negative", "offsets start at 0")
                if req.t_us < prev_t:
                    raise FieldProblem(
                        "t_us",
                        f"{req.t_us} is before the previous request's {prev_t}",
                        "requests must be in arrival order (sort them by t_us)",
                    )
                prev_t = req.t_us
            requests.append(req)
        except FieldProblem as p:
            raise InputError(
                f"{path}:{lineno}: field '{p.field}': {p.message}", hint=p.hint
            ) from None
    if header is None:
        raise InputError(
            f"{path}:1: the file is empty (no {TRAFFIC_FORMAT} header)",
            hint="record traffic into it, or point at the right file",
        )
    if not requests:
        raise InputError(
            f"{path}:{header_line + 1}: no requests after the header",
            hint="the traffic needs at least one request",
        )
    model, specs, source, created = header
    return Traffic(model, specs, tuple(requests), source=source, created_at=created)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def _to_jsonable(arr: Array, datatype: str) -> Any:
    if datatype != "BYTES":
        return arr.tolist()

    def conv(v: Any) -> Any:
        if isinstance(v, list):
            return [conv(x) for x in v]
        return bytes(v).decode("utf-8")

    return conv(arr.tolist())


def _request_line(req: Request, specs: Sequence[TensorSpec], encoding: str) -> dict[str, Any]:
    tensors: dict[str, Any] = {}
    for spec in specs:
        arr = req.inputs[spec.name]
        entry: dict[str, Any] = {"shape": list(arr.shape)}
        if encoding == "b64" and spec.datatype != "BYTES":
            entry["b64"] = base64.b64encode(raw_bytes(arr, spec.datatype)).decode("ascii")
        else:
            entry["data"] = _to_jsonable(arr, spec.datatype)
        tensors[spec.name] = entry
    line: dict[str, Any] = {}
    if req.t_us is not None:
        line["t_us"] = req.t_us
    line["inputs"] = tensors
    return line


def write_traffic(
    path: Path, traffic: Traffic, *, encoding: Literal["b64", "data"] = "b64"
) -> None:
    """Write ``traffic`` atomically; gzip (deterministic, mtime 0) when the name ends in .gz.

    ``encoding`` picks the payload form of numeric tensors: ``b64`` is compact and bit-exact;
    ``data`` is readable and also exact (floats are written with round-trip precision). BYTES
    are always ``data`` (the format has no b64 form for them), so their elements must be UTF-8.
    """
    if encoding not in ("b64", "data"):
        raise ValueError(f"encoding must be 'b64' or 'data', not {encoding!r}")
    if not is_model_name(traffic.model):
        raise InputError(
            f"{path}: model name {traffic.model[:60]!r} is not a model name (one folder name: "
            "letters, digits, '_', '.', '-', not starting with '.')",
            hint="pass the model's name as in the repository (--model)",
        )
    header: dict[str, Any] = {
        "format": TRAFFIC_FORMAT,
        "model": traffic.model,
        "inputs": [
            {"name": s.name, "datatype": s.datatype, "shape": list(s.shape)} for s in traffic.inputs
        ],
    }
    if traffic.source:
        header["source"] = traffic.source
    if traffic.created_at:
        header["created_at"] = traffic.created_at

    def dump(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"

    with (
        os_errors(f"{path}: cannot write traffic file"),
        atomic_open(path) as f,
        contextlib.ExitStack() as stack,
    ):
        out: IO[bytes] | gzip.GzipFile = f
        if path.name.endswith(".gz"):
            # mtime 0 and the final name: the same traffic gives the same bytes.
            gz = gzip.GzipFile(filename=path.name, mode="wb", fileobj=f, mtime=0)
            out = stack.enter_context(gz)
        out.write(dump(header))
        for i, req in enumerate(traffic.requests):
            try:
                out.write(dump(_request_line(req, traffic.inputs, encoding)))
            except UnicodeDecodeError:
                raise InputError(
                    f"{path}: request {i}: a BYTES element is not UTF-8 text",
                    hint="the format stores BYTES as strings; binary BYTES are unsupported",
                ) from None


# --------------------------------------------------------------------------------------
# Check against the served model
# --------------------------------------------------------------------------------------


def validate_against_model(
    traffic: Traffic, metadata: Mapping[str, Any], max_batch_size: int, source: str
) -> list[str]:
    """Check that the served model accepts every recorded request; return warnings.

    ``metadata`` is tritonclient's ``get_model_metadata()`` (HTTP dict; gRPC ``as_json``
    shapes given as strings also work). With ``max_batch_size > 0`` the first dim of each model
    shape is the batch dim: the item dims must match the traffic's and each request's batch
    must not exceed ``max_batch_size``. With 0 the request's full shape must match the model
    shape. ``-1`` in the model shape matches any size.

    Raises InputError naming ``source`` (the traffic file), the input and the difference:
    catching it here costs a second, finding it as a perf_analyzer failure costs a server
    start and an unreadable error. A different model name is only a warning (traffic is often
    recorded on a model's previous name or an alias).
    """
    try:
        model_inputs = {
            str(m["name"]): (meta_dtype(m["datatype"]), tuple(int(d) for d in m["shape"]))
            for m in metadata["inputs"]
        }
        model_name = str(metadata.get("name", ""))
    except (KeyError, TypeError, ValueError) as e:
        raise ServerError(
            f"model metadata from the server is malformed ({type(e).__name__}: {e})",
            hint="check the model's config.pbtxt and the server version",
        ) from None
    warnings: list[str] = []
    if model_name and model_name != traffic.model:
        warnings.append(
            f"{source}: traffic was recorded for model '{traffic.model}' "
            f"but is replayed against '{model_name}'"
        )
    problems = [
        (f"{source}: {what}", fix)
        for what, fix in _input_problems(traffic, model_inputs, max_batch_size)
    ]
    if problems:
        msg, hint = problems[0]
        if len(problems) > 1:
            more = len(problems) - 1
            msg += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise InputError(msg, hint=hint)
    return warnings


def _input_problems(
    traffic: Traffic, model_inputs: Mapping[str, tuple[str, tuple[int, ...]]], max_batch_size: int
) -> list[tuple[str, str]]:
    """(what, fix) for every way the traffic's inputs do not fit the model's."""
    problems: list[tuple[str, str]] = []
    specs = {s.name: s for s in traffic.inputs}
    # Traffic-side names first: that message names both sides (a renamed input).
    for name in specs:
        if name not in model_inputs:
            problems.append(
                (
                    f"input '{name}' is not an input of the model "
                    f"(model has {', '.join(model_inputs) or 'none'})",
                    "re-record traffic for this model, or rename the input in the traffic",
                )
            )
    for name in model_inputs:
        if name not in specs:
            problems.append(
                (
                    f"model input '{name}' is missing from the traffic "
                    f"(traffic has {', '.join(specs)})",
                    "re-record traffic for this model's inputs",
                )
            )
    for name, spec in specs.items():
        if name not in model_inputs:
            continue
        mtype, mshape = model_inputs[name]
        if mtype != spec.datatype:
            problems.append(
                (
                    f"input '{name}': traffic datatype {spec.datatype} but the model "
                    f"expects {mtype}",
                    "re-record the traffic or convert its payloads",
                )
            )
            continue
        problem = _shape_problem(traffic, spec, mshape, max_batch_size)
        if problem is not None:
            what, fix = problem
            problems.append((f"input '{name}': {what}", fix))
    return problems


def _shape_problem(
    traffic: Traffic, spec: TensorSpec, mshape: tuple[int, ...], max_batch_size: int
) -> tuple[str, str] | None:
    if max_batch_size > 0:
        item = mshape[1:]
        if len(item) != len(spec.shape) or not all(
            m == -1 or s == -1 or m == s for m, s in zip(item, spec.shape, strict=True)
        ):
            return (
                f"traffic item shape {fmt_shape(spec.shape)} is incompatible with the model "
                f"shape {fmt_shape(mshape)} (first dim is the batch)",
                "re-record traffic with the model's input shape",
            )
        for i, req in enumerate(traffic.requests):
            shape = req.inputs[spec.name].shape
            if shape[0] > max_batch_size:
                return (
                    f"request {i} has batch size {shape[0]} but the model's max_batch_size "
                    f"is {max_batch_size}",
                    "raise max_batch_size in config.pbtxt or split the request",
                )
            if not dims_match(item, shape[1:]):
                return (
                    f"request {i} has shape {fmt_shape(shape)}, incompatible with the model "
                    f"shape {fmt_shape(mshape)}",
                    "re-record the request with the model's input shape",
                )
        return None
    for i, req in enumerate(traffic.requests):
        shape = req.inputs[spec.name].shape
        if not dims_match(mshape, shape):
            return (
                f"request {i} has shape {fmt_shape(shape)} but the model (max_batch_size 0, "
                f"no batch dim) expects {fmt_shape(mshape)}",
                "re-record traffic with the model's full input shape",
            )
    return None


__all__ = [
    "TRAFFIC_FORMAT",
    "Request",
    "TensorSpec",
    "Traffic",
    "read_traffic",
    "validate_against_model",
    "write_traffic",
]
