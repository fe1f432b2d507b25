"""Parsing the input formats share: datatypes, shapes, tensor payloads, JSON (lines) files.

The traffic format (``gate.inputs.traffic``), its importers (``gate.inputs.importers``,
``gate.inputs.trace``) and eval sets (``gate.inputs.evalset``) read the same tensors the same
way, so a payload that one accepts the others accept too. A problem in one field is a
:class:`FieldProblem`; the caller, which knows the file and line, turns it into a one-line
``InputError``.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import math
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from gate.errors import InputError

Array = npt.NDArray[Any]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_Spec = TypeVar("_Spec", bound=_Named)

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


def raw_bytes(arr: Array, datatype: str) -> bytes:
    """Little-endian C-order bytes; BYTES as (uint32 LE length + bytes) per element."""
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(b)) + b for b in arr.ravel().tolist())
    return np.ascontiguousarray(arr, dtype=DTYPES[datatype]).tobytes()


def dims_match(pattern: Sequence[int], dims: Sequence[int]) -> bool:
    """Same rank and every dim equal, ``-1`` in ``pattern`` matching any size."""
    return len(pattern) == len(dims) and all(
        p in (-1, d) for p, d in zip(pattern, dims, strict=True)
    )


def fmt_shape(shape: Sequence[int]) -> str:
    """``[1, 16]``: a shape as messages write it."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


class FieldProblem(Exception):
    """A field-level problem; the caller adds the file and line to make an InputError."""

    def __init__(self, field_name: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message
        self.hint = hint


def is_int(v: Any) -> bool:
    """An integer that is not a bool (JSON ``true`` is not a dimension)."""
    return isinstance(v, int) and not isinstance(v, bool)


def parse_shape(value: Any, fld: str, *, allow_any: bool) -> tuple[int, ...]:
    """A JSON list of dims as a tuple; ``allow_any`` admits ``-1`` (any size, in headers)."""
    lowest = -1 if allow_any else 0
    if not isinstance(value, list) or not all(is_int(d) and d >= lowest for d in value):
        what = "-1 or non-negative integers" if allow_any else "non-negative integers"
        raise FieldProblem(fld, f"must be a list of {what}, got {short(value)}", "fix the shape")
    return tuple(value)


def short(value: Any) -> str:
    """A value cut to 40 characters for a one-line message."""
    text = json.dumps(value) if not isinstance(value, str | bytes) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def decode_b64(text: Any, datatype: str, shape: tuple[int, ...], fld: str) -> Array:
    """Raw little-endian bytes (base64) that must fill ``shape`` of ``datatype`` exactly."""
    if datatype == "BYTES":
        raise FieldProblem(
            fld,
            "b64 is not supported for BYTES tensors",
            "write BYTES tensors as 'data': a list of strings",
        )
    if not isinstance(text, str):
        raise FieldProblem(fld, f"must be a base64 string, got {short(text)}", "re-record it")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise FieldProblem(fld, f"not valid base64 ({e})", "re-record the request") from None
    dtype = DTYPES[datatype]
    need = math.prod(shape) * dtype.itemsize
    if len(raw) != need:
        raise FieldProblem(
            fld,
            f"{len(raw)} bytes do not fill shape {fmt_shape(shape)} of {datatype} (needs {need})",
            "re-record the request or fix its shape",
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def flatten(value: Any) -> list[Any]:
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


def nested_shape(value: Any) -> tuple[int, ...] | None:
    """Shape of a rectangular nested list, None when ragged."""
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    subs = {nested_shape(v) for v in value}
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


def decode_data(value: Any, datatype: str, shape: tuple[int, ...], fld: str) -> Array:
    """A nested or flat JSON list that must fill ``shape``, each value fit for ``datatype``
    (in range, no bools for numbers, strings only for BYTES, stored as UTF-8 ``bytes``)."""
    if not isinstance(value, list):
        raise FieldProblem(fld, f"must be a list, got {short(value)}", "write the values as a list")
    leaves = flatten(value)
    need = math.prod(shape)
    if len(leaves) != need:
        raise FieldProblem(
            fld,
            f"{len(leaves)} values do not fill shape {fmt_shape(shape)} (needs {need})",
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
        raise FieldProblem(fld, f"value {short(bad)} at index {i} is not {want} ({datatype})", fix)
    dtype = DTYPES[datatype]
    if datatype == "BYTES":
        arr = np.empty(need, dtype=object)
        for i, s in enumerate(leaves):
            arr[i] = s.encode("utf-8")
    elif datatype == "BOOL":
        if int in kinds and any(v not in (0, 1) for v in leaves):
            raise FieldProblem(fld, "BOOL values must be true/false or 0/1", "fix the values")
        arr = np.array(leaves, dtype=dtype)
    elif allowed == (int,):
        info = np.iinfo(dtype)
        if leaves and (min(leaves) < info.min or max(leaves) > info.max):
            raise FieldProblem(
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
            raise FieldProblem(
                fld, f"values outside the {datatype} range", "fix the values or the datatype"
            )
    return arr.reshape(shape)


def decode_payload(
    payload: Any, datatype: str, shape: tuple[int, ...], fld: str, *, b64: bool
) -> Array:
    """A tensor's payload in either form: base64 raw bytes, or a list of values."""
    if b64:
        return decode_b64(payload, datatype, shape, fld)
    return decode_data(payload, datatype, shape, fld)


def frozen(arr: Array) -> Array:
    """``arr`` made read-only: recorded payloads are never changed after reading."""
    arr.flags.writeable = False
    return arr


def unknown_keys(obj: Mapping[str, Any], allowed: Sequence[str], prefix: str) -> None:
    """Refuse the first key not in ``allowed``: a misspelt key must not be ignored."""
    for key in obj:
        if key not in allowed:
            raise FieldProblem(
                prefix + key,
                "unknown key",
                f"remove it or correct its spelling (allowed here: {', '.join(allowed)})",
            )


def named_tensors(
    raw: Mapping[str, Any],
    specs: Sequence[_Spec],
    prefix: str,
    parse: Callable[[Any, _Spec, str], Array],
    *,
    unknown: Callable[[str], tuple[str, str]],
    missing_hint: str,
) -> dict[str, Array]:
    """One read-only array per spec from ``raw`` (name → tensor), each read by ``parse``.

    A name that is no spec's is refused with ``unknown(name)`` (message, hint), a spec
    ``raw`` lacks with ``missing_hint``: a request carries exactly the declared inputs.
    """
    known = {s.name for s in specs}
    for name in raw:
        if name not in known:
            raise FieldProblem(f"{prefix}{name}", *unknown(name))
    arrays: dict[str, Array] = {}
    for spec in specs:
        fld = f"{prefix}{spec.name}"
        if spec.name not in raw:
            raise FieldProblem(fld, "missing input", missing_hint)
        arrays[spec.name] = frozen(parse(raw[spec.name], spec, fld))
    return arrays


def meta_dtype(value: Any) -> str:
    """A datatype as Triton's metadata or config writes it (``TYPE_FP32``, ``STRING``) in
    the traffic format's words (``FP32``, ``BYTES``)."""
    text = str(value)
    text = text.removeprefix("TYPE_")
    return "BYTES" if text == "STRING" else text


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
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


def _invalid_json(e: ValueError | RecursionError, where: str, hint: str) -> InputError:
    """What ``json.loads`` raised, as one line at ``where``: bad syntax, nesting too deep for
    the parser, or a number too long to convert (a ``ValueError`` but no ``JSONDecodeError``).
    """
    if isinstance(e, json.JSONDecodeError):
        return InputError(f"{where}: invalid JSON: {e.msg} at column {e.colno}", hint=hint)
    if isinstance(e, RecursionError):
        return InputError(f"{where}: invalid JSON: nested too deeply", hint=hint)
    return InputError(
        f"{where}: invalid JSON: {str(e).split(';')[0]}",
        hint="no value of a tensor needs that many digits: fix or re-export the file",
    )


def json_line(text: str, where: str, what: str) -> dict[str, Any]:
    """One line of a JSON-lines file (traffic, eval sets) as the object it must hold.

    ``where`` names the file and line, ``what`` the record the line should be ("the
    header", "a request"). Every failure is one InputError there (``_invalid_json``, or a
    value that is not an object).
    """
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise _invalid_json(e, where, f"each line must be one JSON object ({what})") from None
    if not isinstance(obj, dict):
        raise InputError(
            f"{where}: expected a JSON object ({what}), got {type(obj).__name__}",
            hint="each line must be one JSON object",
        )
    return obj


def read_json_file(
    path: Path, *, invalid_hint: str, empty: tuple[str, str] | None = None, errors: str = "strict"
) -> Any:
    """The JSON document in ``path``; every failure is a one-line InputError naming the file.

    ``empty`` is the (message, hint) for a blank file when it deserves its own words (a trace
    Triton has not finished writing); ``errors`` is how undecodable bytes are read.
    """
    try:
        text = path.read_text(encoding="utf-8", errors=errors)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found", hint="check the path") from None
    except UnicodeDecodeError as e:
        raise InputError(
            f"{path}: not UTF-8 text (byte {e.start + 1})", hint="JSON files are UTF-8"
        ) from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}", hint="check the file") from None
    if empty is not None and not text.strip():
        raise InputError(f"{path}: {empty[0]}", hint=empty[1])
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        line = f":{e.lineno}" if isinstance(e, json.JSONDecodeError) else ""
        raise _invalid_json(e, f"{path}{line}", invalid_hint) from None
