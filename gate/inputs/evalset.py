"""Labelled evaluation sets (``gate-eval/1``): read, digest, check against the served model.

An eval set is what the accuracy checks send through the running Triton server. Two encodings
hold the same content:

**JSONL** (``.jsonl``, or ``.jsonl.gz``): a header line, then one sample per line. Tensors use
the ``gate-traffic/1`` payload forms (``data``: nested list; ``b64``: raw little-endian
C-order bytes), but a sample is **one item, without the batch dimension** (the gate batches
samples itself, up to the model's ``max_batch_size``). ``shape`` may be left out when the
header's shape is fully known. Each sample carries either ``label`` (a class index, an
integer, scored against the argmax of the output: top-1 / top-k accuracy) or ``target`` (a
number or an array with the output's per-item shape: absolute and squared error)::

    {"format": "gate-eval/1", "model": "demo",
     "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [16]}]}
    {"inputs": {"INPUT0": {"data": [0.1, 0.2, ...]}}, "label": 2}
    {"inputs": {"INPUT0": {"b64": "..."}}, "label": 0}

**NPZ** (``.npz``, for large tensors): one array per model input, named by the input, with the
samples on the first axis (``INPUT0``: shape ``[N, 16]``), plus ``label`` (integer array
``[N]``) or ``target`` (``[N, ...]``). Datatypes follow the arrays' numpy dtypes (float32 →
FP32, int64 → INT64, ...).

All samples of one set use the same kind of label and the same item shapes, so a set is held
as one stacked array per input and every score is computed vectorised. Bad files are a
one-line :class:`~gate.errors.InputError` (exit 2) naming the file, the line or array and the
field; so is a set that does not fit the served model (:func:`validate_against_model`).
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gate.errors import InputError
from gate.inputs.parsing import DTYPES, json_line
from gate.inputs.parsing import FieldProblem as _Problem
from gate.inputs.parsing import decode_b64 as _decode_b64
from gate.inputs.parsing import decode_data as _decode_data
from gate.inputs.parsing import dims_match as _dims_match
from gate.inputs.parsing import fmt_shape as _fmt_shape
from gate.inputs.parsing import meta_dtype as _meta_dtype
from gate.inputs.parsing import numbered_lines as _lines
from gate.inputs.traffic import TensorSpec

EVAL_FORMAT = "gate-eval/1"
_HEADER_KEYS = ("format", "model", "inputs", "source", "created_at")
_SAMPLE_KEYS = ("inputs", "label", "target", "id")
_TENSOR_KEYS = ("shape", "b64", "data")

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class EvalSet:
    """A whole eval set: stacked inputs (samples on axis 0) and labels or targets."""

    path: str
    inputs: tuple[TensorSpec, ...]
    arrays: dict[str, Array]
    labels: npt.NDArray[np.int64] | None
    targets: npt.NDArray[np.float64] | None
    model: str = ""

    @property
    def size(self) -> int:
        return int(next(iter(self.arrays.values())).shape[0])

    @property
    def kind(self) -> str:
        """``"label"`` (classification) or ``"target"`` (regression)."""
        return "label" if self.labels is not None else "target"

    def digest(self) -> str:
        """``sha256:`` over specs, every input's raw bytes and the labels/targets.

        Independent of the encoding (JSONL, gzip, NPZ), so a baseline's per-sample scores pair
        with a candidate's only when both saw the very same samples in the same order.
        """
        h = hashlib.sha256()
        head = [[s.name, s.datatype, list(s.shape)] for s in self.inputs]
        h.update(json.dumps({"format": EVAL_FORMAT, "inputs": head}, sort_keys=True).encode())
        for s in self.inputs:
            a = self.arrays[s.name]
            h.update(s.name.encode() + b"\0" + json.dumps(list(a.shape)).encode())
            if a.dtype.kind == "O":
                for v in a.ravel().tolist():
                    h.update(len(v).to_bytes(4, "little") + v)
            else:
                h.update(np.ascontiguousarray(a).tobytes())
        if self.labels is not None:
            h.update(b"label" + np.ascontiguousarray(self.labels, dtype="<i8").tobytes())
        if self.targets is not None:
            h.update(b"target" + json.dumps(list(self.targets.shape)).encode())
            h.update(np.ascontiguousarray(self.targets, dtype="<f8").tobytes())
        return "sha256:" + h.hexdigest()


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


#: a class index above this is no class index (and would overflow the int64 labels)
MAX_LABEL = 2**31 - 1
#: the largest .npz the gate unpacks (uncompressed): a zip bomb stops here, not in memory
MAX_NPZ_BYTES = 4 * 1024**3


def read_eval_set(path: Path, *, allow_non_finite: bool = False) -> EvalSet:
    """Read a ``gate-eval/1`` JSONL(.gz) or ``.npz`` eval set; InputError on anything wrong.

    A non-finite target is always refused; NaN or infinite input values unless
    ``allow_non_finite`` (the policy's ``accuracy.allow_non_finite``): a NaN that reaches
    the model by accident turns its scores into noise that pairs with nothing.
    """
    if path.exists() and not path.is_file():  # a folder, or a FIFO that would block
        raise InputError(f"{path}: the eval set is not a regular file", hint="check the path")
    es = _read_npz(path) if path.name.endswith(".npz") else _read_jsonl(path)
    _require_finite(es, inputs=not allow_non_finite)
    return es


def _require_finite(es: EvalSet, *, inputs: bool) -> None:
    """Targets are always finite (a NaN target scores nothing); inputs unless allowed."""
    hint = (
        "clean the eval set, or set accuracy.allow_non_finite: true in the policy if the "
        "model is meant to see such values"
    )
    for name, arr in es.arrays.items() if inputs else ():
        if arr.dtype.kind == "f" and arr.size and not bool(np.isfinite(arr).all()):
            i = int(np.argmin(np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1)))
            raise InputError(
                f"{es.path}: input '{name}': sample {i} holds a NaN or infinite value", hint=hint
            )
    if es.targets is not None and es.targets.size and not bool(np.isfinite(es.targets).all()):
        flat = np.isfinite(es.targets).reshape(es.targets.shape[0], -1).all(axis=1)
        raise InputError(
            f"{es.path}: field 'target': sample {int(np.argmin(flat))} is NaN or infinite",
            hint="regression targets must be finite numbers",
        )


def _dtype_name(dt: np.dtype[Any]) -> str | None:
    for name, want in DTYPES.items():
        if name == "BYTES":
            continue
        if dt.kind == want.kind and dt.itemsize == want.itemsize:
            return name
    if dt.kind in "OSU":
        return "BYTES"
    return None


def _check_labels(labels: Array, where: str) -> npt.NDArray[np.int64]:
    if labels.dtype.kind == "b" or labels.dtype.kind not in "iu":
        raise InputError(
            f"{where}: field 'label': labels must be integer class indices, got dtype "
            f"{labels.dtype}",
            hint="store class indices (0, 1, ...) as 'label', or use 'target' for regression",
        )
    if labels.ndim != 1:
        raise InputError(
            f"{where}: field 'label': must be one class index per sample (shape [N]), got "
            f"shape {_fmt_shape(labels.shape)}",
            hint="store one integer per sample",
        )
    if labels.size and int(labels.min()) < 0:
        raise InputError(
            f"{where}: field 'label': negative class index {int(labels.min())}",
            hint="class indices start at 0",
        )
    if labels.size and int(labels.max()) > MAX_LABEL:  # before the cast: uint64 would wrap
        raise InputError(
            f"{where}: field 'label': class index {int(labels.max())} is larger than any "
            f"class count (at most {MAX_LABEL})",
            hint="store class indices (0, 1, ...), not raw ids or hashes",
        )
    return labels.astype(np.int64)


def _read_npz(path: Path) -> EvalSet:
    try:
        with np.load(path, allow_pickle=False) as z:
            size = sum(i.file_size for i in z.zip.infolist()) if hasattr(z, "zip") else 0
            if size > MAX_NPZ_BYTES:
                raise InputError(
                    f"{path}: the .npz unpacks to {size} bytes, over the {MAX_NPZ_BYTES}-byte "
                    "limit",
                    hint="use a smaller eval set (a sample of the data is enough to judge)",
                )
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(f"{path}: eval set not found", hint="check accuracy.eval_set") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise InputError(
            f"{path}: not a readable .npz eval set ({type(e).__name__})",
            hint="write it with numpy.savez",
        ) from None
    for name, arr in data.items():
        if arr.ndim == 0:
            raise InputError(
                f"{path}: array '{name}' is a single value (0-d); it needs the samples on its "
                "first axis",
                hint="store one entry per sample, e.g. label with shape [N]",
            )
    labels = data.pop("label", None)
    targets = data.pop("target", None)
    if (labels is None) == (targets is None):
        raise InputError(
            f"{path}: needs exactly one of the arrays 'label' (class indices) or 'target' "
            f"(regression targets); found arrays {sorted(data) + (['label'] if labels is not None else []) + (['target'] if targets is not None else [])}",  # noqa: E501
            hint="add a 'label' or a 'target' array with one entry per sample",
        )
    if not data:
        raise InputError(f"{path}: no input arrays", hint="store one array per model input")
    sizes = {k: int(v.shape[0]) for k, v in data.items()}
    n = int((labels if labels is not None else targets).shape[0])  # type: ignore[union-attr]
    specs = []
    for name, arr in data.items():
        if sizes[name] != n:
            raise InputError(
                f"{path}: array '{name}' has {sizes[name]} samples on axis 0 but the labels "
                f"have {n}",
                hint="every array needs one entry per sample on its first axis",
            )
        dt = _dtype_name(arr.dtype)
        if dt is None:
            raise InputError(
                f"{path}: array '{name}': dtype {arr.dtype} has no Triton datatype",
                hint="use a numeric dtype (float32, int64, ...)",
            )
        if dt == "BYTES":
            arr = np.array([str(v).encode() for v in arr.ravel()], dtype=object).reshape(arr.shape)
            data[name] = arr
        specs.append(TensorSpec(name, dt, tuple(int(d) for d in arr.shape[1:])))
    lab = _check_labels(labels, str(path)) if labels is not None else None
    tgt = None
    if targets is not None:
        if targets.dtype.kind not in "iuf":
            raise InputError(
                f"{path}: array 'target': dtype {targets.dtype} is not numeric",
                hint="regression targets must be numbers",
            )
        tgt = targets.astype(np.float64)
    return EvalSet(str(path), tuple(specs), data, lab, tgt)


def _read_jsonl(path: Path) -> EvalSet:
    specs: tuple[TensorSpec, ...] | None = None
    model = ""
    cols: dict[str, list[Array]] = {}
    labels: list[int] = []
    targets: list[Array] = []
    kind: str | None = None
    if not path.is_file():
        raise InputError(f"{path}: eval set not found", hint="check accuracy.eval_set in gate.yaml")
    try:
        for lineno, text in _lines(path):
            where = f"{path}: line {lineno}"
            if not text.strip():
                continue
            if specs is None:
                specs, model = _parse_header(json_line(text, where, "the header"), where)
                cols = {s.name: [] for s in specs}
                continue
            obj = json_line(text, where, "a sample")
            k = _parse_sample(obj, specs, where, cols, labels, targets)
            if kind is None:
                kind = k
            elif k != kind:
                raise InputError(
                    f"{where}: field '{k}': this sample has a {k} but earlier samples have a "
                    f"{kind}",
                    hint="use 'label' for every sample (classification) or 'target' for every "
                    "sample (regression)",
                )
    except InputError as e:
        e.message = e.message.replace("traffic file", "eval set")
        e.hint = e.hint.replace("traffic files are", "eval sets are") if e.hint else e.hint
        raise
    if specs is None:
        raise InputError(f"{path}: empty eval set (no header line)", hint="see gate.inputs.evalset")
    if kind is None:
        raise InputError(
            f"{path}: the eval set has no samples", hint="add samples after the header"
        )
    arrays = {name: np.stack(v) for name, v in cols.items()}
    lab = np.asarray(labels, dtype=np.int64) if kind == "label" else None
    tgt = None
    if kind == "target":
        shapes = {t.shape for t in targets}
        if len(shapes) != 1:
            raise InputError(
                f"{path}: field 'target': samples have targets of different shapes "
                f"{sorted(shapes)}",
                hint="every target must have the output's per-item shape",
            )
        tgt = np.stack(targets).astype(np.float64)
    return EvalSet(str(path), specs, arrays, lab, tgt, model)


def _parse_header(obj: Mapping[str, Any], where: str) -> tuple[tuple[TensorSpec, ...], str]:
    if obj.get("format") != EVAL_FORMAT:
        raise InputError(
            f"{where}: field 'format': expected {EVAL_FORMAT!r}, got {obj.get('format')!r}",
            hint=f'the first line must be a header like {{"format": "{EVAL_FORMAT}", '
            '"inputs": [{"name": ..., "datatype": ..., "shape": [...]}]}',
        )
    unknown = sorted(set(obj) - set(_HEADER_KEYS))
    if unknown:
        raise InputError(
            f"{where}: unknown header key '{unknown[0]}'",
            hint=f"allowed: {', '.join(_HEADER_KEYS)}",
        )
    raw = obj.get("inputs")
    if not isinstance(raw, list) or not raw:
        raise InputError(
            f"{where}: field 'inputs': must be a non-empty list", hint="see gate.inputs.evalset"
        )
    specs = []
    for i, s in enumerate(raw):
        fld = f"inputs[{i}]"
        if not isinstance(s, dict) or set(s) != {"name", "datatype", "shape"}:
            raise InputError(
                f"{where}: field '{fld}': needs exactly name, datatype and shape",
                hint='e.g. {"name": "INPUT0", "datatype": "FP32", "shape": [16]}',
            )
        if s["datatype"] not in DTYPES:
            raise InputError(
                f"{where}: field '{fld}.datatype': unknown datatype {s['datatype']!r}",
                hint=f"one of {', '.join(DTYPES)}",
            )
        shape = s["shape"]
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in shape
        ):
            raise InputError(
                f"{where}: field '{fld}.shape': must be a list of integers (-1 = any)",
                hint="the per-item shape, without the batch dimension",
            )
        specs.append(TensorSpec(str(s["name"]), str(s["datatype"]), tuple(shape)))
    return tuple(specs), str(obj.get("model", ""))


def _parse_sample(
    obj: Mapping[str, Any],
    specs: tuple[TensorSpec, ...],
    where: str,
    cols: dict[str, list[Array]],
    labels: list[int],
    targets: list[Array],
) -> str:
    unknown = sorted(set(obj) - set(_SAMPLE_KEYS))
    if unknown:
        raise InputError(
            f"{where}: unknown key '{unknown[0]}'", hint=f"allowed: {', '.join(_SAMPLE_KEYS)}"
        )
    tensors = obj.get("inputs")
    if not isinstance(tensors, dict):
        raise InputError(
            f"{where}: field 'inputs': must be an object", hint="see gate.inputs.evalset"
        )
    names = [s.name for s in specs]
    if set(tensors) != set(names):
        raise InputError(
            f"{where}: field 'inputs': has {sorted(tensors)} but the header declares {names}",
            hint="give every sample exactly the header's inputs",
        )
    for s in specs:
        fld = f"inputs.{s.name}"
        t = tensors[s.name]
        if not isinstance(t, dict) or set(t) - set(_TENSOR_KEYS) or ("b64" in t) == ("data" in t):
            raise InputError(
                f"{where}: field '{fld}': needs 'data' or 'b64' (and optionally 'shape')",
                hint='e.g. {"data": [0.1, 0.2]}',
            )
        if "shape" in t:
            shape = t["shape"]
            if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
            ):
                raise InputError(
                    f"{where}: field '{fld}.shape': must be a list of non-negative integers",
                    hint="the item's shape, without the batch dimension",
                )
            shape_t = tuple(shape)
        elif all(d >= 0 for d in s.shape):
            shape_t = s.shape
        else:
            raise InputError(
                f"{where}: field '{fld}.shape': required, the header shape "
                f"{_fmt_shape(s.shape)} has a variable dimension",
                hint="give the item's shape",
            )
        if not _dims_match(s.shape, shape_t):
            raise InputError(
                f"{where}: field '{fld}.shape': {_fmt_shape(shape_t)} does not match the "
                f"header's {_fmt_shape(s.shape)} (samples have no batch dimension)",
                hint="give the item's shape, without the batch dimension",
            )
        try:
            if "b64" in t:
                arr = _decode_b64(t["b64"], s.datatype, shape_t, fld)
            else:
                arr = _decode_data(t["data"], s.datatype, shape_t, fld)
        except _Problem as p:
            raise InputError(f"{where}: field '{p.field}': {p.message}", hint=p.hint) from None
        if cols[s.name] and cols[s.name][0].shape != arr.shape:
            raise InputError(
                f"{where}: field '{fld}': item shape {_fmt_shape(arr.shape)} differs from the "
                f"first sample's {_fmt_shape(cols[s.name][0].shape)}",
                hint="all samples of an eval set need the same item shape",
            )
        cols[s.name].append(arr)
    has_label, has_target = "label" in obj, "target" in obj
    if has_label == has_target:
        raise InputError(
            f"{where}: needs exactly one of 'label' (class index) or 'target' (regression)",
            hint='e.g. "label": 2',
        )
    if has_label:
        v = obj["label"]
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v > MAX_LABEL:
            raise InputError(
                f"{where}: field 'label': must be a non-negative integer class index, got "
                f"{json.dumps(v)[:40]}",
                hint="write the class index (0, 1, ...); use 'target' for regression values",
            )
        labels.append(v)
        return "label"
    v = obj["target"]
    tarr: Array | None
    try:
        tarr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        tarr = None
    if tarr is None or tarr.dtype.kind != "f" or not np.all(np.isfinite(tarr)):
        raise InputError(
            f"{where}: field 'target': must be a finite number or a rectangular list of "
            f"numbers, got {json.dumps(v)[:40]}",
            hint="write the regression target as numbers",
        )
    targets.append(tarr)
    return "target"


# --------------------------------------------------------------------------------------
# Checking against the served model
# --------------------------------------------------------------------------------------


def validate_against_model(
    es: EvalSet, metadata: Mapping[str, Any], max_batch_size: int, output: str
) -> None:
    """Raise a one-line InputError when the eval set cannot be scored on this model.

    Checks the inputs (names, datatypes, item shapes; with ``max_batch_size > 0`` the model's
    first dim is the batch dim) and that ``output`` exists; labels must index the output's
    last dimension, targets must have the output's per-item shape.
    """
    src = es.path
    model_inputs = {
        str(m["name"]): (_meta_dtype(m["datatype"]), tuple(int(d) for d in m["shape"]))
        for m in metadata["inputs"]
    }
    outputs = {
        str(m["name"]): (_meta_dtype(m["datatype"]), tuple(int(d) for d in m["shape"]))
        for m in metadata["outputs"]
    }
    specs = {s.name: s for s in es.inputs}
    for name in specs:
        if name not in model_inputs:
            raise InputError(
                f"{src}: input '{name}' is not an input of the model (model has "
                f"{', '.join(model_inputs) or 'none'})",
                hint="rename the input in the eval set or point accuracy.eval_set at the "
                "right file",
            )
    for name in model_inputs:
        if name not in specs:
            raise InputError(
                f"{src}: model input '{name}' is missing from the eval set (it has "
                f"{', '.join(specs)})",
                hint="give every sample all of the model's inputs",
            )
    for name, spec in specs.items():
        mtype, mshape = model_inputs[name]
        item = mshape[1:] if max_batch_size > 0 else mshape
        if mtype != spec.datatype:
            raise InputError(
                f"{src}: input '{name}': eval set datatype {spec.datatype} but the model "
                f"expects {mtype}",
                hint="convert the eval set's tensors to the model's datatype",
            )
        got = es.arrays[name].shape[1:]
        if not _dims_match(item, got):
            raise InputError(
                f"{src}: input '{name}': eval set item shape {_fmt_shape(got)} but the model "
                f"expects {_fmt_shape(item)} per item",
                hint="reshape the eval set's samples (without the batch dimension)",
            )
    if output not in outputs:
        raise InputError(
            f"{src}: output '{output}' is not an output of the model (model has "
            f"{', '.join(outputs)})",
            hint="set accuracy.output in gate.yaml to one of the model's outputs",
        )
    _, oshape = outputs[output]
    oitem = oshape[1:] if max_batch_size > 0 else oshape
    if es.labels is not None:
        classes = oitem[-1] if oitem else 1
        if classes > 0 and es.labels.size and int(es.labels.max()) >= classes:
            raise InputError(
                f"{src}: field 'label': class index {int(es.labels.max())} but output "
                f"'{output}' has {classes} classes",
                hint="labels must index the output's last dimension (0..classes-1)",
            )
    elif es.targets is not None:
        tshape = es.targets.shape[1:]
        if math.prod(tshape) != math.prod(d for d in oitem if d >= 0) and -1 not in oitem:
            raise InputError(
                f"{src}: field 'target': per-sample target shape {_fmt_shape(tshape)} but "
                f"output '{output}' has item shape {_fmt_shape(oitem)}",
                hint="give each sample a target with the output's per-item shape",
            )


def default_output(metadata: Mapping[str, Any]) -> str:
    """The output scored when the config names none: the model's only (or first) output."""
    outs = metadata.get("outputs") or []
    if not outs:
        raise InputError("the model declares no outputs", hint="set accuracy.output")
    return str(outs[0]["name"])
