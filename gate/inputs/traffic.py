"""Recorded traffic (``gate-traffic/1``): read, write, check against a model, hand to perf_analyzer.

The gate judges a candidate model by replaying the *same* requests that the baseline saw, in
the same order and with the same inter-arrival times, so latencies pair by request index
(DESIGN §4, §5). This module owns that recording:

* the file format, a JSONL file (gzip when the name ends in ``.gz``) whose first line is a
  header naming the model and its input tensors, then one request per line;
* a strict reader: a malformed recording must stop the gate with exit 2 and a one-line message
  naming the file, the line and the field, never replay something other than what was recorded;
* an atomic writer, a digest that identifies the traffic whatever its encoding, so a baseline
  can refuse to be compared with a candidate that replayed different traffic;
* the check against the served model's metadata, and the files perf_analyzer replays from;
* a summary for ``gate traffic inspect`` and an importer of perf_analyzer's own input JSON.

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
import binascii
import contextlib
import gzip
import hashlib
import json
import math
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import numpy.typing as npt

from gate.errors import InfraError, InputError, ServerError
from gate.files import atomic_open

TRAFFIC_FORMAT = "gate-traffic/1"

#: Triton datatype -> numpy dtype of the decoded array. Explicitly little-endian: that is the
#: byte order of ``b64`` payloads and of Triton's binary tensor protocol.
DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}

_HEADER_KEYS = ("format", "model", "inputs", "source", "created_at")
_SPEC_KEYS = ("name", "datatype", "shape")
_REQUEST_KEYS = ("t_us", "inputs")
_TENSOR_KEYS = ("shape", "b64", "data")

#: perf_analyzer's first request waits this long after start (µs), so the first measured
#: request is not sent while the client is still setting up.
START_GAP_US = 1000

Array = npt.NDArray[Any]


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


def raw_bytes(arr: Array, datatype: str) -> bytes:
    """Little-endian C-order bytes; BYTES as (uint32 LE length + bytes) per element."""
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(b)) + b for b in arr.ravel().tolist())
    return np.ascontiguousarray(arr, dtype=DTYPES[datatype]).tobytes()


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
            if not _dims_match(s.shape, arr.shape[1:]):
                raise ValueError(f"request {i}: {s.name} shape {arr.shape} vs item {s.shape}")
            if s.datatype == "BYTES" and not all(isinstance(b, bytes) for b in arr.flat):
                raise ValueError(f"request {i}: {s.name} BYTES elements must be bytes")


def _dims_match(pattern: Sequence[int], dims: Sequence[int]) -> bool:
    """Same rank and every dim equal, ``-1`` in ``pattern`` matching any size."""
    return len(pattern) == len(dims) and all(
        p in (-1, d) for p, d in zip(pattern, dims, strict=True)
    )


def _fmt_shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


# --------------------------------------------------------------------------------------
# Decoding (shared by the reader and the perf_analyzer importer)
# --------------------------------------------------------------------------------------


class _Problem(Exception):
    """A field-level problem; the caller adds the file and line to make an InputError."""

    def __init__(self, field_name: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message
        self.hint = hint


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _parse_shape(value: Any, fld: str, *, allow_any: bool) -> tuple[int, ...]:
    lowest = -1 if allow_any else 0
    if not isinstance(value, list) or not all(_is_int(d) and d >= lowest for d in value):
        what = "-1 or non-negative integers" if allow_any else "non-negative integers"
        raise _Problem(fld, f"must be a list of {what}, got {_short(value)}", "fix the shape")
    return tuple(value)


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str | bytes) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _decode_b64(text: Any, datatype: str, shape: tuple[int, ...], fld: str) -> Array:
    if datatype == "BYTES":
        raise _Problem(
            fld,
            "b64 is not supported for BYTES tensors",
            "write BYTES tensors as 'data': a list of strings",
        )
    if not isinstance(text, str):
        raise _Problem(fld, f"must be a base64 string, got {_short(text)}", "re-record it")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise _Problem(fld, f"not valid base64 ({e})", "re-record the request") from None
    dtype = DTYPES[datatype]
    need = math.prod(shape) * dtype.itemsize
    if len(raw) != need:
        raise _Problem(
            fld,
            f"{len(raw)} bytes do not fill shape {_fmt_shape(shape)} of {datatype} (needs {need})",
            "re-record the request or fix its shape",
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _flatten(value: Any) -> list[Any]:
    """Leaves of a nested list in C order (a non-list value is one leaf)."""
    if not isinstance(value, list):
        return [value]
    out: list[Any] = []
    stack: list[Iterator[Any]] = [iter(value)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _nested_shape(value: Any) -> tuple[int, ...] | None:
    """Shape of a rectangular nested list, None when ragged."""
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    subs = {_nested_shape(v) for v in value}
    if len(subs) != 1 or None in subs:
        return None
    (sub,) = subs
    assert sub is not None
    return (len(value), *sub)


_ALLOWED_LEAVES: dict[str, tuple[type, ...]] = {
    "BOOL": (bool, int),
    "BYTES": (str,),
    "FP16": (int, float),
    "FP32": (int, float),
    "FP64": (int, float),
}


def _decode_data(value: Any, datatype: str, shape: tuple[int, ...], fld: str) -> Array:
    if not isinstance(value, list):
        raise _Problem(fld, f"must be a list, got {_short(value)}", "write the values as a list")
    leaves = _flatten(value)
    need = math.prod(shape)
    if len(leaves) != need:
        raise _Problem(
            fld,
            f"{len(leaves)} values do not fill shape {_fmt_shape(shape)} (needs {need})",
            "re-record the request or fix its shape",
        )
    allowed = _ALLOWED_LEAVES.get(datatype, (int,))
    kinds = set(map(type, leaves))
    if not kinds.issubset(allowed) or (bool in kinds and datatype != "BOOL"):
        i, bad = next(
            (i, v)
            for i, v in enumerate(leaves)
            if not isinstance(v, allowed) or (isinstance(v, bool) and datatype != "BOOL")
        )
        want, fix = {
            "BYTES": ("a string", "write BYTES values as strings"),
            "BOOL": ("true or false", "write BOOL values as true/false"),
        }.get(
            datatype,
            ("an integer", f"write {datatype} values as integers")
            if allowed == (int,)
            else ("a number", f"write {datatype} values as numbers"),
        )
        raise _Problem(fld, f"value {_short(bad)} at index {i} is not {want} ({datatype})", fix)
    dtype = DTYPES[datatype]
    if datatype == "BYTES":
        arr = np.empty(need, dtype=object)
        for i, s in enumerate(leaves):
            arr[i] = s.encode("utf-8")
    elif datatype == "BOOL":
        if int in kinds and any(v not in (0, 1) for v in leaves):
            raise _Problem(fld, "BOOL values must be true/false or 0/1", "fix the values")
        arr = np.array(leaves, dtype=dtype)
    elif allowed == (int,):
        info = np.iinfo(dtype)
        if leaves and (min(leaves) < info.min or max(leaves) > info.max):
            raise _Problem(
                fld,
                f"values outside the {datatype} range [{info.min}, {info.max}]",
                "fix the values or the datatype",
            )
        arr = np.array(leaves, dtype=dtype)
    else:
        try:
            wide = np.array(leaves, dtype=np.float64)
        except OverflowError:  # an integer beyond float64
            wide = None
        if wide is not None:
            with np.errstate(over="ignore"):
                arr = wide.astype(dtype)
        if wide is None or bool(np.any(np.isinf(arr) & np.isfinite(wide))):
            raise _Problem(
                fld, f"values outside the {datatype} range", "fix the values or the datatype"
            )
    return arr.reshape(shape)


def _frozen(arr: Array) -> Array:
    arr.flags.writeable = False
    return arr


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered text lines of a plain or gzip file; every failure is a one-line InputError."""
    gz = path.name.endswith(".gz")
    try:
        raw: IO[bytes] = path.open("rb")
    except FileNotFoundError:
        raise InputError(
            f"{path}: traffic file not found", hint="check the path, or record traffic first"
        ) from None
    except OSError as e:
        raise InputError(
            f"{path}: cannot read traffic file: {e.strerror or e}",
            hint="check the path and its permissions",
        ) from None
    with raw:
        magic = raw.read(2)
        raw.seek(0)
        if gz and magic != b"\x1f\x8b":
            raise InputError(
                f"{path}: not a gzip file although its name ends in .gz",
                hint="compress it with gzip, or drop the .gz from its name",
            )
        if not gz and magic == b"\x1f\x8b":
            raise InputError(
                f"{path}: gzip-compressed but its name does not end in .gz",
                hint="rename it to end in .gz, or decompress it",
            )
        stream: IO[bytes] | gzip.GzipFile = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        lineno = 0
        while True:
            try:
                line = stream.readline()
            except (OSError, EOFError, zlib.error) as e:
                raise InputError(
                    f"{path}:{lineno + 1}: gzip data is corrupt or truncated ({e})",
                    hint="re-copy or re-record the file",
                ) from None
            if not line:
                return
            lineno += 1
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(
                    f"{path}:{lineno}: not UTF-8 text (byte {e.start + 1})",
                    hint="traffic files are UTF-8 JSON lines",
                ) from None
            yield lineno, text


def _object(text: str, path: Path, lineno: int, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{path}:{lineno}: invalid JSON: {e.msg} at column {e.colno}",
            hint=f"each line must be one JSON object ({what})",
        ) from None
    if not isinstance(obj, dict):
        raise InputError(
            f"{path}:{lineno}: expected a JSON object ({what}), got {type(obj).__name__}",
            hint="each line must be one JSON object",
        )
    return obj


def _unknown_keys(obj: Mapping[str, Any], allowed: Sequence[str], prefix: str) -> None:
    for key in obj:
        if key not in allowed:
            raise _Problem(
                prefix + key,
                "unknown key",
                f"remove it or correct its spelling (allowed here: {', '.join(allowed)})",
            )


def _parse_header(obj: dict[str, Any]) -> tuple[str, tuple[TensorSpec, ...], str, str]:
    if "format" not in obj:
        raise _Problem(
            "format",
            f"missing; the first line must be a {TRAFFIC_FORMAT} header",
            f'start the file with {{"format": "{TRAFFIC_FORMAT}", "model": ..., "inputs": ...}}',
        )
    if obj["format"] != TRAFFIC_FORMAT:
        raise _Problem(
            "format",
            f"{_short(obj['format'])} is not {TRAFFIC_FORMAT!r}",
            "convert the file with 'gate traffic import', or fix the format tag",
        )
    _unknown_keys(obj, _HEADER_KEYS, "")
    model = obj.get("model")
    if not isinstance(model, str) or not model:
        raise _Problem("model", f"must be a non-empty string, got {_short(model)}", "name it")
    raw_inputs = obj.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise _Problem(
            "inputs",
            f"must be a non-empty list of input specs, got {_short(raw_inputs)}",
            'list the model inputs: [{"name": ..., "datatype": ..., "shape": [...]}]',
        )
    specs: list[TensorSpec] = []
    for i, spec in enumerate(raw_inputs):
        where = f"inputs[{i}]"
        if not isinstance(spec, dict):
            raise _Problem(where, "must be an object", "write {name, datatype, shape}")
        _unknown_keys(spec, _SPEC_KEYS, where + ".")
        for key in _SPEC_KEYS:
            if key not in spec:
                raise _Problem(f"{where}.{key}", "missing", "add it")
        name = spec["name"]
        if not isinstance(name, str) or not name:
            raise _Problem(f"{where}.name", "must be a non-empty string", "name the input")
        if any(s.name == name for s in specs):
            raise _Problem(f"{where}.name", f"duplicate input {name!r}", "list each input once")
        datatype = spec["datatype"]
        if datatype not in DTYPES:
            raise _Problem(
                f"{where}.datatype",
                f"unknown datatype {_short(datatype)}",
                f"use one of {', '.join(DTYPES)}",
            )
        shape = _parse_shape(spec["shape"], f"{where}.shape", allow_any=True)
        specs.append(TensorSpec(name, datatype, shape))
    source, created = obj.get("source", ""), obj.get("created_at", "")
    for key, val in (("source", source), ("created_at", created)):
        if not isinstance(val, str):
            raise _Problem(key, f"must be a string, got {_short(val)}", "quote it")
    return model, tuple(specs), source, created


def _parse_request(obj: dict[str, Any], specs: Sequence[TensorSpec]) -> Request:
    _unknown_keys(obj, _REQUEST_KEYS, "")
    t_us = obj.get("t_us")
    if t_us is not None and not _is_int(t_us):
        raise _Problem("t_us", f"must be an integer, got {_short(t_us)}", "round to whole µs")
    raw_inputs = obj.get("inputs")
    if not isinstance(raw_inputs, dict):
        raise _Problem(
            "inputs", f"must be an object, got {_short(raw_inputs)}", "map input names to tensors"
        )
    known = {s.name for s in specs}
    for name in raw_inputs:
        if name not in known:
            raise _Problem(
                f"inputs.{name}",
                "input is not declared in the header",
                f"remove it or add it to the header (declared: {', '.join(sorted(known))})",
            )
    arrays: dict[str, Array] = {}
    for spec in specs:
        fld = f"inputs.{spec.name}"
        if spec.name not in raw_inputs:
            raise _Problem(fld, "missing input", "every request must carry every header input")
        arrays[spec.name] = _frozen(_parse_tensor(raw_inputs[spec.name], spec, fld))
    return Request(t_us, arrays)


def _parse_tensor(value: Any, spec: TensorSpec, fld: str) -> Array:
    if not isinstance(value, dict):
        raise _Problem(fld, "must be an object with 'shape' and 'b64' or 'data'", "fix it")
    _unknown_keys(value, _TENSOR_KEYS, fld + ".")
    if "shape" not in value:
        raise _Problem(fld + ".shape", "missing", "add the request shape, batch dim first")
    shape = _parse_shape(value["shape"], fld + ".shape", allow_any=False)
    if len(shape) != len(spec.shape) + 1 or not _dims_match(spec.shape, shape[1:]):
        raise _Problem(
            fld + ".shape",
            f"{_fmt_shape(shape)} does not match header shape {_fmt_shape(spec.shape)} "
            "after the batch dim",
            "the request shape is [batch, *header shape] (-1 in the header matches any size)",
        )
    if shape[0] < 1:
        raise _Problem(fld + ".shape", "batch dim must be at least 1", "fix the shape")
    has_b64, has_data = "b64" in value, "data" in value
    if has_b64 == has_data:
        raise _Problem(
            fld,
            "needs exactly one of 'b64' or 'data'" + (", got both" if has_b64 else ""),
            "keep one payload encoding per tensor",
        )
    if has_b64:
        return _decode_b64(value["b64"], spec.datatype, shape, fld + ".b64")
    return _decode_data(value["data"], spec.datatype, shape, fld + ".data")


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
    for lineno, text in _lines(path):
        if not text.strip():
            continue
        try:
            if header is None:
                header = _parse_header(_object(text, path, lineno, "the header"))
                header_line = lineno
                continue
            req = _parse_request(_object(text, path, lineno, "a request"), header[1])
            if timed is None:
                timed = req.t_us is not None
            elif timed != (req.t_us is not None):
                raise _Problem(
                    "t_us",
                    "present on some requests and absent on others"
                    if timed
                    else "absent on the first request but present here",
                    "give every request a t_us, or none",
                )
            if req.t_us is not None:
                if req.t_us < 0:
                    raise _Problem("t_us", f"{req.t_us} is negative", "offsets start at 0")
                if req.t_us < prev_t:
                    raise _Problem(
                        "t_us",
                        f"{req.t_us} is before the previous request's {prev_t}",
                        "requests must be in arrival order (sort them by t_us)",
                    )
                prev_t = req.t_us
            requests.append(req)
        except _Problem as p:
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

    try:
        with atomic_open(path) as f, contextlib.ExitStack() as stack:
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
    except OSError as e:
        raise InfraError(f"{path}: cannot write traffic file: {e.strerror or e}") from None


# --------------------------------------------------------------------------------------
# Check against the served model
# --------------------------------------------------------------------------------------


def _meta_dtype(value: Any) -> str:
    text = str(value)
    text = text.removeprefix("TYPE_")
    return "BYTES" if text == "STRING" else text


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
            str(m["name"]): (_meta_dtype(m["datatype"]), tuple(int(d) for d in m["shape"]))
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
    problems: list[tuple[str, str]] = []
    specs = {s.name: s for s in traffic.inputs}
    # Traffic-side names first: that message names both sides (a renamed input).
    for name in specs:
        if name not in model_inputs:
            problems.append(
                (
                    f"{source}: input '{name}' is not an input of the model "
                    f"(model has {', '.join(model_inputs) or 'none'})",
                    "re-record traffic for this model, or rename the input in the traffic",
                )
            )
    for name in model_inputs:
        if name not in specs:
            problems.append(
                (
                    f"{source}: model input '{name}' is missing from the traffic "
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
                    f"{source}: input '{name}': traffic datatype {spec.datatype} but the model "
                    f"expects {mtype}",
                    "re-record the traffic or convert its payloads",
                )
            )
            continue
        problem = _shape_problem(traffic, spec, mshape, max_batch_size)
        if problem is not None:
            what, fix = problem
            problems.append((f"{source}: input '{name}': {what}", fix))
    if problems:
        msg, hint = problems[0]
        if len(problems) > 1:
            more = len(problems) - 1
            msg += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise InputError(msg, hint=hint)
    return warnings


def _shape_problem(
    traffic: Traffic, spec: TensorSpec, mshape: tuple[int, ...], max_batch_size: int
) -> tuple[str, str] | None:
    if max_batch_size > 0:
        item = mshape[1:]
        if len(item) != len(spec.shape) or not all(
            m == -1 or s == -1 or m == s for m, s in zip(item, spec.shape, strict=True)
        ):
            return (
                f"traffic item shape {_fmt_shape(spec.shape)} is incompatible with the model "
                f"shape {_fmt_shape(mshape)} (first dim is the batch)",
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
            if not _dims_match(item, shape[1:]):
                return (
                    f"request {i} has shape {_fmt_shape(shape)}, incompatible with the model "
                    f"shape {_fmt_shape(mshape)}",
                    "re-record the request with the model's input shape",
                )
        return None
    for i, req in enumerate(traffic.requests):
        shape = req.inputs[spec.name].shape
        if not _dims_match(mshape, shape):
            return (
                f"request {i} has shape {_fmt_shape(shape)} but the model (max_batch_size 0, "
                f"no batch dim) expects {_fmt_shape(mshape)}",
                "re-record traffic with the model's full input shape",
            )
    return None


# --------------------------------------------------------------------------------------
# perf_analyzer replay files
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# Summary (gate traffic inspect)
# --------------------------------------------------------------------------------------


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
        text = f"  {i.name}  {i.datatype}  {_fmt_shape(i.shape)}  batch sizes {batches}"
        if i.datatype != "BYTES":
            text += f"  min {_g(i.min)}  max {_g(i.max)}  mean {_g(i.mean)}"
        if i.non_finite:
            text += f"  non-finite {i.non_finite}"
        lines.append(text)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Import perf_analyzer --input-data JSON
# --------------------------------------------------------------------------------------


def import_perf_analyzer_json(
    path: Path, *, model: str, rate_rps: float | None, inputs: Sequence[TensorSpec]
) -> Traffic:
    """Turn a perf_analyzer ``--input-data`` JSON into traffic, one request per data entry.

    Each entry maps input names to ``{"content": [...], "shape": [...]}``,
    ``{"b64": "...", "shape": [...]}`` or a bare list; ``shape`` is the item shape (no
    batch dim) and may be left out when ``inputs`` fixes it or a nested list shows it. The
    batch dim 1 is added to every request. ``inputs`` supplies the datatypes (the JSON has
    none). perf_analyzer's JSON has no arrival times: with ``rate_rps`` requests arrive at that
    constant rate, else the traffic is untimed. Multi-stream files (entries that are lists)
    are refused. Errors are InputError naming the file and the field.
    """
    if rate_rps is not None and not (rate_rps > 0 and math.isfinite(rate_rps)):
        raise InputError(
            f"rate {rate_rps} req/s is not a positive number", hint="give a rate such as 100"
        )
    specs = tuple(inputs)
    if not specs:
        raise InputError(f"{path}: no input specs given", hint="name the model's inputs")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}", hint="check the file") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{path}:{e.lineno}: invalid JSON: {e.msg} at column {e.colno}",
            hint="fix the JSON syntax",
        ) from None

    def fail(fld: str, msg: str, hint: str) -> InputError:
        return InputError(f"{path}: field '{fld}': {msg}", hint=hint)

    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise fail("data", "missing or not a list", 'perf_analyzer input JSON is {"data": [...]}')
    for key in doc:
        if key not in ("data", "validation_data"):
            raise fail(key, "unknown key", "remove it (allowed: data, validation_data)")
    entries: list[Any] = doc["data"]
    if not entries:
        raise fail("data", "no entries", "the file needs at least one request")
    requests: list[Request] = []
    for i, entry in enumerate(entries):
        where = f"data[{i}]"
        if isinstance(entry, list):
            raise fail(where, "multi-stream data (a list of steps) is not supported", "flatten it")
        if not isinstance(entry, dict):
            raise fail(where, "must be an object mapping input names", "fix the entry")
        arrays: dict[str, Array] = {}
        try:
            for name in entry:
                if name not in {s.name for s in specs}:
                    raise _Problem(
                        f"{where}.{name}",
                        "not one of the given inputs",
                        f"inputs are {', '.join(s.name for s in specs)}",
                    )
            for spec in specs:
                if spec.name not in entry:
                    raise _Problem(f"{where}.{spec.name}", "missing input", "add it")
                arr = _import_tensor(entry[spec.name], spec, f"{where}.{spec.name}")
                arrays[spec.name] = _frozen(arr.reshape((1, *arr.shape)))
        except _Problem as p:
            raise fail(p.field, p.message, p.hint) from None
        t_us = round(i * 1e6 / rate_rps) if rate_rps is not None else None
        requests.append(Request(t_us, arrays))
    return Traffic(
        model=model,
        inputs=specs,
        requests=tuple(requests),
        source=f"perf_analyzer input data {path.name}"
        + (f" at {rate_rps:g} req/s" if rate_rps is not None else ""),
    )


def _import_tensor(value: Any, spec: TensorSpec, fld: str) -> Array:
    shape: tuple[int, ...] | None = None
    if isinstance(value, list):
        payload, kind = value, "content"
    elif isinstance(value, dict):
        _unknown_keys(value, ("content", "b64", "shape"), fld + ".")
        if ("content" in value) == ("b64" in value):
            raise _Problem(fld, "needs exactly one of 'content' or 'b64'", "fix the entry")
        kind = "content" if "content" in value else "b64"
        payload = value[kind]
        if "shape" in value:
            shape = _parse_shape(value["shape"], fld + ".shape", allow_any=False)
            if not _dims_match(spec.shape, shape):
                raise _Problem(
                    fld + ".shape",
                    f"{_fmt_shape(shape)} does not match the input shape {_fmt_shape(spec.shape)}",
                    "fix the shape or the input spec",
                )
    else:
        raise _Problem(fld, f"must be a list or an object, got {_short(value)}", "fix it")
    if shape is None:
        if -1 not in spec.shape:
            shape = spec.shape
        else:
            nested = _nested_shape(payload) if kind == "content" else None
            if nested is None or not _dims_match(spec.shape, nested):
                raise _Problem(
                    fld + ".shape",
                    f"missing, and input shape {_fmt_shape(spec.shape)} has variable dims",
                    "add a 'shape' to the entry",
                )
            shape = nested
    if kind == "b64":
        return _decode_b64(payload, spec.datatype, shape, fld + ".b64")
    return _decode_data(payload, spec.datatype, shape, fld + ".content")


__all__ = [
    "DTYPES",
    "TRAFFIC_FORMAT",
    "InputSummary",
    "Request",
    "TensorSpec",
    "Traffic",
    "TrafficSummary",
    "format_summary",
    "import_perf_analyzer_json",
    "read_traffic",
    "summarize",
    "validate_against_model",
    "write_traffic",
]
