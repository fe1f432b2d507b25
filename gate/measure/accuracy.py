"""Accuracy: send the eval set through the running Triton server and score every sample.

Runs in the same server session as the latency replay, after it (so its requests cannot
disturb the latencies), with ``tritonclient`` over HTTP or gRPC: samples are batched up to
the model's ``max_batch_size`` and the batches sent from a small pool of threads, one client
per thread. Outputs come back in sample order whatever order the batches finish in.

Built-in per-sample scores (all vectorised numpy):

* with class labels: ``top1`` and ``topK`` (1.0 when the label is among the K largest outputs);
* with regression targets: ``mae`` (mean absolute error over the item's values) and ``mse``;
* user metrics: ``module:function`` or an entry point in the ``gate.metrics`` group, called as
  ``fn(outputs, labels_or_targets) -> per-sample scores`` (a 1-D array, one float per sample;
  ``outputs`` has the samples on axis 0). A function attribute ``higher_is_better = False``
  marks an error-like score (default: higher is better).
"""

from __future__ import annotations

import importlib
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gate.errors import ConfigError, InputError, MeasurementError
from gate.evidence import AccuracyRecord, EncodedArray
from gate.inputs.evalset import EvalSet

Array = npt.NDArray[Any]
MetricFn = Callable[[Array, Array], Any]

_TOPK = re.compile(r"^top([1-9][0-9]?)$")
BUILTIN_LABEL_METRICS = ("top1", "top5")
BUILTIN_TARGET_METRICS = ("mae", "mse")
ENTRY_POINT_GROUP = "gate.metrics"
#: top-k indices kept per sample for labels (agreement and later re-scoring need no more)
KEEP_TOP = 5


def metric_kind(name: str) -> str | None:
    """``"label"`` or ``"target"`` for a built-in metric name, None for anything else."""
    if _TOPK.match(name):
        return "label"
    if name in BUILTIN_TARGET_METRICS:
        return "target"
    return None


def builtin_higher_is_better(name: str) -> bool:
    return metric_kind(name) == "label"


def load_user_metric(name: str, spec: str | None, where: str) -> MetricFn:
    """Resolve ``module:function`` (when ``spec`` is given) or the entry point ``name``."""
    if spec is None:
        from importlib.metadata import entry_points

        eps = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not eps:
            raise ConfigError(
                f"{where}: unknown accuracy metric '{name}' (built-in: top1..top99, mae, mse; "
                f"no '{ENTRY_POINT_GROUP}' entry point of that name is installed)",
                hint="correct the name, or declare it in gate.yaml under accuracy.custom_metrics "
                "as name: module:function",
            )
        fn = eps[0].load()
    else:
        mod, _, attr = spec.partition(":")
        if not mod or not attr:
            raise ConfigError(
                f"{where}: custom metric '{name}': {spec!r} is not 'module:function'",
                hint="e.g. my_metrics:f1_per_sample",
            )
        try:
            fn = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(
                f"{where}: custom metric '{name}': cannot load {spec} ({e})",
                hint="make the module importable (installed, or on PYTHONPATH)",
            ) from None
    if not callable(fn):
        raise ConfigError(f"{where}: custom metric '{name}': {spec or name} is not callable")
    return fn  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------
# Scoring (pure)
# --------------------------------------------------------------------------------------


def _flat_classes(outputs: Array) -> Array:
    return np.asarray(outputs).reshape(outputs.shape[0], -1)


def top_indices(outputs: Array, k: int) -> npt.NDArray[np.int32]:
    """Indices of the k largest outputs per sample, largest first (ties: lowest index)."""
    z = _flat_classes(outputs)
    k = min(k, z.shape[1])
    order = np.argsort(-z, axis=1, kind="stable")[:, :k]
    return order.astype(np.int32)


def score(
    es: EvalSet,
    outputs: Array,
    metrics: Sequence[str],
    user: Mapping[str, MetricFn] | None = None,
) -> tuple[dict[str, npt.NDArray[np.float64]], dict[str, bool]]:
    """Per-sample scores for each metric name, and whether higher is better for each."""
    user = user or {}
    out: dict[str, npt.NDArray[np.float64]] = {}
    hib: dict[str, bool] = {}
    n = es.size
    for name in metrics:
        m = _TOPK.match(name)
        if m and name not in user:
            if es.labels is None:
                raise InputError(
                    f"{es.path}: metric '{name}' needs class labels but the eval set has "
                    "regression targets",
                    hint="use mae/mse for targets, or give the samples a 'label'",
                )
            k = int(m.group(1))
            idx = top_indices(outputs, k)
            out[name] = np.any(idx == es.labels[:, None], axis=1).astype(np.float64)
            hib[name] = True
        elif name in BUILTIN_TARGET_METRICS and name not in user:
            if es.targets is None:
                raise InputError(
                    f"{es.path}: metric '{name}' needs regression targets but the eval set "
                    "has class labels",
                    hint="use top1/topK for labels, or give the samples a 'target'",
                )
            d = np.asarray(outputs, dtype=np.float64).reshape(n, -1) - es.targets.reshape(n, -1)
            out[name] = (np.abs(d) if name == "mae" else d * d).mean(axis=1)
            hib[name] = False
        else:
            fn = user[name]
            ref = es.labels if es.labels is not None else es.targets
            assert ref is not None
            vals = np.asarray(fn(np.asarray(outputs), ref), dtype=np.float64)
            if vals.shape != (n,) or not np.all(np.isfinite(vals)):
                raise InputError(
                    f"custom metric '{name}' returned shape {vals.shape} (or non-finite values); "
                    f"it must return one finite float per sample, shape ({n},)",
                    hint="return a 1-D array of per-sample scores",
                )
            out[name] = vals
            hib[name] = bool(getattr(fn, "higher_is_better", True))
    return out, hib


def compact_outputs(
    outputs: Array, kind: str, max_bytes: int
) -> tuple[EncodedArray | None, EncodedArray | None, str]:
    """The outputs to store: float32 if they fit ``max_bytes``, else float16, else none.

    Top-k indices (int32, k <= 5) are always kept for labels, so top-1 agreement with a
    later candidate works even when the full outputs are too large to keep.
    """
    a = np.asarray(outputs)
    tops = EncodedArray.encode(top_indices(a, KEEP_TOP)) if kind == "label" else None
    if a.dtype.kind not in "fiu":
        return None, tops, f"outputs of dtype {a.dtype} are not stored"
    n32 = a.size * 4
    if n32 <= max_bytes:
        return EncodedArray.encode(a.astype("<f4")), tops, "float32"
    if n32 // 2 <= max_bytes:
        return EncodedArray.encode(a.astype("<f2")), tops, "float16 (float32 exceeds the bound)"
    return None, tops, f"not stored: {n32 / 1e6:.1f} MB exceeds accuracy.max_output_mb"


# --------------------------------------------------------------------------------------
# Sending the eval set through Triton
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalSpec:
    model: str
    version: str
    url: str  # host:port
    protocol: str
    output: str
    batch_size: int  # 0: the model has no batch dimension, one sample per request
    concurrency: int
    timeout_s: float


def _client_module(protocol: str) -> Any:
    if protocol == "grpc":
        import tritonclient.grpc as mod
    else:
        import tritonclient.http as mod
    return mod


def infer_all(es: EvalSet, spec: EvalSpec) -> Array:
    """Every sample's ``spec.output``, in sample order (samples on axis 0)."""
    mod = _client_module(spec.protocol)
    from tritonclient.utils import InferenceServerException

    n = es.size
    step = max(spec.batch_size, 1)
    chunks = [(s, min(s + step, n)) for s in range(0, n, step)]
    local = threading.local()
    deadline = time.monotonic() + spec.timeout_s

    def client() -> Any:
        c = getattr(local, "client", None)
        if c is None:
            if spec.protocol == "grpc":
                c = mod.InferenceServerClient(url=spec.url)
            else:
                c = mod.InferenceServerClient(
                    url=spec.url, network_timeout=spec.timeout_s, connection_timeout=30.0
                )
            local.client = c
        return c

    def run(chunk: tuple[int, int]) -> tuple[int, Array]:
        if time.monotonic() > deadline:
            raise MeasurementError(
                f"accuracy evaluation took longer than {spec.timeout_s:g} s",
                hint="raise accuracy.timeout_s or use a smaller eval set",
            )
        s, e = chunk
        inputs = []
        for t in es.inputs:
            arr = es.arrays[t.name][s:e]
            if spec.batch_size == 0:
                arr = arr[0]
            inp = mod.InferInput(t.name, list(arr.shape), t.datatype)
            if spec.protocol == "grpc":
                inp.set_data_from_numpy(np.ascontiguousarray(arr))
            else:
                inp.set_data_from_numpy(np.ascontiguousarray(arr), binary_data=True)
            inputs.append(inp)
        if spec.protocol == "grpc":
            outs = [mod.InferRequestedOutput(spec.output)]
        else:
            outs = [mod.InferRequestedOutput(spec.output, binary_data=True)]
        try:
            res = client().infer(spec.model, inputs, model_version=spec.version, outputs=outs)
        except InferenceServerException as ex:
            raise MeasurementError(
                f"accuracy request for samples {s}..{e - 1} failed: {ex.message()}",
                hint="see the server log; the model must accept the eval set's tensors",
            ) from None
        got = res.as_numpy(spec.output)
        if got is None:
            raise MeasurementError(f"the server returned no output '{spec.output}'")
        if spec.batch_size == 0:
            got = got[None, ...]
        return s, np.asarray(got)

    parts: dict[int, Array] = {}
    with ThreadPoolExecutor(max_workers=max(1, spec.concurrency)) as pool:
        for s, arr in pool.map(run, chunks):
            parts[s] = arr
    try:
        return np.concatenate([parts[s] for s, _ in chunks], axis=0)
    except ValueError as e:
        raise MeasurementError(
            f"output '{spec.output}' has inconsistent shapes across batches ({e})"
        ) from None


def evaluate(
    es: EvalSet,
    spec: EvalSpec,
    metrics: Sequence[str],
    user: Mapping[str, MetricFn],
    *,
    digest: str,
    max_output_bytes: int,
) -> AccuracyRecord:
    """Send the eval set, score it, and pack scores and compact outputs into a record."""
    t0 = time.perf_counter()
    outputs = infer_all(es, spec)
    if outputs.shape[0] != es.size:
        raise MeasurementError(
            f"got {outputs.shape[0]} outputs for {es.size} samples from output '{spec.output}'"
        )
    scores, hib = score(es, outputs, metrics, user)
    enc_out, tops, note = compact_outputs(outputs, es.kind, max_output_bytes)
    return AccuracyRecord(
        eval_set=es.path,
        eval_set_digest=digest,
        samples=es.size,
        output=spec.output,
        kind="label" if es.kind == "label" else "target",
        protocol=spec.protocol,
        batch_size=spec.batch_size,
        concurrency=spec.concurrency,
        seconds=round(time.perf_counter() - t0, 4),
        scores={
            k: EncodedArray.encode(v.astype("|u1") if metric_kind(k) == "label" else v)
            for k, v in scores.items()
        },
        higher_is_better=hib,
        summary={k: float(v.mean()) for k, v in scores.items()},
        outputs=enc_out,
        top_indices=tops,
        outputs_note=note,
    )
