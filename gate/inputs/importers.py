"""Traffic from perf_analyzer's own ``--input-data`` JSON (``gate traffic import``).

A stop-gap for a model with no recorded traffic: the JSON carries payloads but no arrival
times, so requests get a constant rate (or none). Triton traces, which do carry arrivals,
are imported by ``gate.inputs.trace``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gate.errors import InputError
from gate.inputs.parsing import (
    Array,
    FieldProblem,
    decode_payload,
    dims_match,
    fmt_shape,
    named_tensors,
    nested_shape,
    parse_shape,
    read_json_file,
    short,
    unknown_keys,
)
from gate.inputs.traffic import Request, TensorSpec, Traffic


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
    doc = read_json_file(path, invalid_hint="fix the JSON syntax")
    try:
        entries = _entries(doc)
        requests = [
            Request(
                round(i * 1e6 / rate_rps) if rate_rps is not None else None,
                _entry_inputs(entry, specs, f"data[{i}]"),
            )
            for i, entry in enumerate(entries)
        ]
    except FieldProblem as p:
        raise InputError(f"{path}: field '{p.field}': {p.message}", hint=p.hint) from None
    return Traffic(
        model=model,
        inputs=specs,
        requests=tuple(requests),
        source=f"perf_analyzer input data {path.name}"
        + (f" at {rate_rps:g} req/s" if rate_rps is not None else ""),
    )


def _entries(doc: Any) -> list[Any]:
    """The ``data`` list of an input JSON document (``validation_data`` is allowed, unused)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise FieldProblem(
            "data", "missing or not a list", 'perf_analyzer input JSON is {"data": [...]}'
        )
    for key in doc:
        if key not in ("data", "validation_data"):
            raise FieldProblem(key, "unknown key", "remove it (allowed: data, validation_data)")
    if not doc["data"]:
        raise FieldProblem("data", "no entries", "the file needs at least one request")
    return list(doc["data"])


def _entry_inputs(entry: Any, specs: Sequence[TensorSpec], where: str) -> dict[str, Array]:
    """One data entry as a batch-1 request's tensors."""
    if isinstance(entry, list):
        raise FieldProblem(
            where, "multi-stream data (a list of steps) is not supported", "flatten it"
        )
    if not isinstance(entry, dict):
        raise FieldProblem(where, "must be an object mapping input names", "fix the entry")
    return named_tensors(
        entry,
        specs,
        f"{where}.",
        lambda value, spec, fld: _import_tensor(value, spec, fld)[np.newaxis],
        unknown=lambda _: (
            "not one of the given inputs",
            f"inputs are {', '.join(s.name for s in specs)}",
        ),
        missing_hint="add it",
    )


def _import_tensor(value: Any, spec: TensorSpec, fld: str) -> Array:
    shape: tuple[int, ...] | None = None
    if isinstance(value, list):
        payload, kind = value, "content"
    elif isinstance(value, dict):
        unknown_keys(value, ("content", "b64", "shape"), fld + ".")
        if ("content" in value) == ("b64" in value):
            raise FieldProblem(fld, "needs exactly one of 'content' or 'b64'", "fix the entry")
        kind = "content" if "content" in value else "b64"
        payload = value[kind]
        if "shape" in value:
            shape = parse_shape(value["shape"], fld + ".shape", allow_any=False)
            if not dims_match(spec.shape, shape):
                raise FieldProblem(
                    fld + ".shape",
                    f"{fmt_shape(shape)} does not match the input shape {fmt_shape(spec.shape)}",
                    "fix the shape or the input spec",
                )
    else:
        raise FieldProblem(fld, f"must be a list or an object, got {short(value)}", "fix it")
    if shape is None:
        if -1 not in spec.shape:
            shape = spec.shape
        else:
            nested = nested_shape(payload) if kind == "content" else None
            if nested is None or not dims_match(spec.shape, nested):
                raise FieldProblem(
                    fld + ".shape",
                    f"missing, and input shape {fmt_shape(spec.shape)} has variable dims",
                    "add a 'shape' to the entry",
                )
            shape = nested
    return decode_payload(payload, spec.datatype, shape, f"{fld}.{kind}", b64=kind == "b64")
