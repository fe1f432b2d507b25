"""Synthetic traffic: a stop-gap for a model that has no recorded traffic yet.

The gate's point is replaying **real** traffic (``gate traffic import`` from Triton traces
or a perf_analyzer input file): real payloads and real gaps and bursts are what make a
latency comparison mean something for production. A model that was never served has none,
and ``gate traffic synth`` gives it a first ``gate-traffic/1`` file so the whole gate can run
today. The header's ``source`` says the file is synthetic and how it was made, so nobody
mistakes it for a recording.

Payloads come from one of three places: random tensors from the model's interface
(``metadata``: uniform in a range per input, sizes for variable dimensions given), the
samples of an eval set (``gate-eval/1``), or the entries of a perf_analyzer ``--input-data``
JSON. Arrivals are Poisson at a rate (exponential gaps), constant, or bursts of N requests
at one instant whose starts are Poisson at ``rate / N`` (the same mean rate). Everything is
seeded: the same arguments give the same payloads and arrivals, hence the same traffic digest.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from gate.errors import ConfigError, InputError
from gate.inputs.model_config import ModelSpec
from gate.inputs.parsing import DTYPES
from gate.inputs.traffic import Request, TensorSpec, Traffic

Array = npt.NDArray[Any]
ArrivalKind = Literal["poisson", "constant", "burst"]

#: Default payload range per datatype family when none is given.
_DEFAULT_RANGE: dict[str, tuple[float, float]] = {"f": (0.0, 1.0), "i": (0, 100), "u": (0, 100)}


@dataclass(frozen=True)
class SynthSpec:
    """What to make: ``requests`` requests at ``rate_rps`` with ``arrival`` gaps.

    ``ranges`` bound random payloads per input (``{name: (low, high)}``); ``shapes`` give the
    size of variable (``-1``) dimensions per input; ``batch`` is the batch size of every
    request (batched models only).
    """

    requests: int = 1000
    rate_rps: float = 100.0
    arrival: ArrivalKind = "poisson"
    burst_size: int = 10
    seed: int = 0
    batch: int = 1
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.requests <= 10_000_000:
            raise ConfigError(f"-n {self.requests}: give 1..10000000 requests")
        if not (self.rate_rps > 0 and np.isfinite(self.rate_rps)):
            raise ConfigError(f"--rate {self.rate_rps}: give a positive rate in requests/s")
        if self.burst_size < 1 or self.batch < 1:
            raise ConfigError("--burst-size and --batch must be at least 1")


def arrival_times_us(spec: SynthSpec, rng: np.random.Generator) -> list[int]:
    """Arrival offsets (µs, first at 0, non-decreasing) for ``spec.requests`` requests."""
    n, rate = spec.requests, spec.rate_rps
    if spec.arrival == "constant":
        t = np.arange(n) / rate
    elif spec.arrival == "poisson":
        t = np.concatenate([[0.0], np.cumsum(rng.exponential(1.0 / rate, n - 1))])
    else:
        bursts = -(-n // spec.burst_size)
        starts = np.concatenate(
            [[0.0], np.cumsum(rng.exponential(spec.burst_size / rate, bursts - 1))]
        )
        t = np.repeat(starts, spec.burst_size)[:n]
    return [int(v) for v in np.rint(t * 1e6)]


def _full_shape(model: ModelSpec, ts: TensorSpec, spec: SynthSpec) -> tuple[int, ...]:
    """The shape one request sends for ``ts``: batch first for batched models."""
    dims = spec.shapes.get(ts.name, ts.shape)
    if len(dims) != len(ts.shape) or any(
        p not in (-1, d) for p, d in zip(ts.shape, dims, strict=True)
    ):
        raise ConfigError(
            f"--shape {ts.name}: {list(dims)} does not fit the model's dims {list(ts.shape)}"
        )
    if any(d < 0 for d in dims):
        raise ConfigError(
            f"{model.source}: input '{ts.name}' has a variable dimension {list(ts.shape)}",
            hint=f"give its size: --shape {ts.name}="
            + ",".join("16" if d < 0 else str(d) for d in ts.shape),
        )
    if model.batched:
        if spec.batch > model.max_batch_size:
            raise ConfigError(
                f"--batch {spec.batch} exceeds the model's max_batch_size {model.max_batch_size}"
            )
        return (spec.batch, *dims)
    if spec.batch != 1:
        raise ConfigError(f"--batch {spec.batch}: the model does not batch (max_batch_size 0)")
    if not dims:
        raise ConfigError(f"{model.source}: input '{ts.name}' has no dims")
    return tuple(dims)


def _random(
    datatype: str,
    shape: tuple[int, ...],
    low_high: tuple[float, float] | None,
    rng: np.random.Generator,
) -> Array:
    dtype = DTYPES[datatype]
    if datatype == "BYTES":
        letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype="S1")
        words = rng.choice(letters, size=(*shape, 8))
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            out[idx] = b"".join(words[idx].tolist())
        return out
    if datatype == "BOOL":
        return rng.random(shape) < 0.5
    low, high = low_high or _DEFAULT_RANGE[dtype.kind]
    if dtype.kind == "f":
        return rng.uniform(low, high, shape).astype(dtype)
    info = np.iinfo(dtype)
    lo, hi = max(int(low), int(info.min)), min(int(high), int(info.max))
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)


def metadata_payloads(
    model: ModelSpec, spec: SynthSpec, rng: np.random.Generator
) -> list[dict[str, Array]]:
    """Random tensors of the model's inputs, one dict per request."""
    unknown = sorted(set(spec.ranges) - {t.name for t in model.inputs})
    if unknown:
        raise ConfigError(f"--range {unknown[0]}: the model has no such input")
    shapes = {t.name: _full_shape(model, t, spec) for t in model.inputs}
    return [
        {
            t.name: _random(t.datatype, shapes[t.name], spec.ranges.get(t.name), rng)
            for t in model.inputs
        }
        for _ in range(spec.requests)
    ]


def _from_samples(
    model: ModelSpec, spec: SynthSpec, samples: Sequence[Mapping[str, Array]], source: str
) -> list[dict[str, Array]]:
    """Cycle through ``samples``: one item each (without the batch dimension) for a batched
    model, the whole request tensor for a model without batching."""
    names = {t.name for t in model.inputs}
    if not samples:
        raise InputError(f"{source}: holds no samples", hint="give a file with samples")
    have = set(samples[0])
    if have != names:
        raise InputError(
            f"{source}: inputs {sorted(have)} differ from the model's {sorted(names)}",
            hint="use a file made for this model",
        )
    out = []
    for i in range(spec.requests):
        sample = samples[i % len(samples)]
        if model.batched:
            out.append({k: np.stack([v] * spec.batch) for k, v in sample.items()})
        else:
            out.append(dict(sample))
    return out


def eval_set_payloads(model: ModelSpec, spec: SynthSpec, path: Path) -> list[dict[str, Array]]:
    """The eval set's samples in order, cycled (inputs only; labels are not sent)."""
    from gate.inputs.evalset import read_eval_set

    ev = read_eval_set(path)
    samples = [{k: a[i] for k, a in ev.arrays.items()} for i in range(ev.size)]
    return _from_samples(model, spec, samples, str(path))


def perf_json_payloads(model: ModelSpec, spec: SynthSpec, path: Path) -> list[dict[str, Array]]:
    """The entries of a perf_analyzer ``--input-data`` JSON, cycled."""
    from gate.inputs.importers import import_perf_analyzer_json

    # entries are one item each (perf_analyzer's batch dim is added on import): for a model
    # without batching that item is the whole request
    imported = import_perf_analyzer_json(path, model=model.name, rate_rps=None, inputs=model.inputs)
    samples = [{k: a[0] for k, a in r.inputs.items()} for r in imported.requests]
    return _from_samples(model, spec, samples, str(path))


def describe(spec: SynthSpec, payloads: str) -> str:
    """The header's ``source``: what made the file, and that it is not a recording."""
    if spec.arrival == "burst":
        arrival = f"bursts of {spec.burst_size} (Poisson starts), {spec.rate_rps:g} req/s"
    else:
        arrival = f"{spec.arrival} arrivals at {spec.rate_rps:g} req/s"
    return (
        f"SYNTHETIC (gate traffic synth): payloads {payloads}; {arrival}; seed {spec.seed}. "
        "A stop-gap: replace it with recorded traffic (gate traffic import)."
    )


def synthesize(
    model: ModelSpec,
    spec: SynthSpec,
    *,
    eval_set: Path | None = None,
    perf_json: Path | None = None,
) -> Traffic:
    """A ``Traffic`` for ``model``: payloads from ``eval_set``, ``perf_json`` or random from
    the model's interface, arrivals per ``spec``."""
    if eval_set is not None and perf_json is not None:
        raise ConfigError("give --from-eval or --from-perf-json, not both")
    rng = np.random.default_rng(spec.seed)
    if eval_set is not None:
        payloads, what = eval_set_payloads(model, spec, eval_set), f"from eval set {eval_set.name}"
    elif perf_json is not None:
        payloads = perf_json_payloads(model, spec, perf_json)
        what = f"from perf_analyzer JSON {perf_json.name}"
    else:
        payloads = metadata_payloads(model, spec, rng)
        ranges = ", ".join(f"{k} {lo:g}..{hi:g}" for k, (lo, hi) in spec.ranges.items())
        what = "random from the model's inputs" + (f" ({ranges})" if ranges else "")
    times = arrival_times_us(spec, rng)
    first = payloads[0]
    specs = tuple(
        TensorSpec(t.name, t.datatype, tuple(first[t.name].shape[1:])) for t in model.inputs
    )
    requests = tuple(Request(t, p) for t, p in zip(times, payloads, strict=True))
    return Traffic(
        model=model.name,
        inputs=specs,
        requests=requests,
        source=describe(spec, what),
        created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
