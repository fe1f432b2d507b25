"""Where an absolute objective's samples come from: a source per metric prefix.

``latency.p95_ms``, ``accuracy.top1``, ``memory.host_peak_mib``, ``throughput.c4_ips``: the
prefix names the source, a function that finds the samples in a run's ``Samples`` and says
how they are judged (a ``Measurement``). A source that finds nothing says the metric was not
measured in this run; ``gate.judge.slo`` makes that a configuration error, never a pass.

Memory and throughput objectives, in the units teams use:

* ``memory.host_peak_mib <= 1200`` / ``memory.gpu_peak_mib <= 1200`` — the largest memory
  attributable to the model seen in any candidate run (the peak during the replay, or the
  after-load level if higher); ``memory.<src>_loaded_mib`` — after-load minus before-load
  (median over runs); ``memory.<src>_mib`` — median of the attributable series. A single
  measured value: compared as is (no sampling CI exists for it).
* ``throughput.c4_ips >= 500`` — inferences/s at concurrency 4: the windows of every
  candidate run, so the objective is judged with a one-sample t CI.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from gate.config.slo import LATENCY_METRIC, Objective
from gate.evidence import Samples

MIB = float(2**20)
_MEM = re.compile(r"^(?P<src>[a-z]+)_(?:(?P<kind>peak|loaded)_)?mib$")
_TP = re.compile(r"^c(?P<c>\d+)_ips$")


@dataclass(frozen=True)
class Measurement:
    """What a source found: one of a sample for a quantile, per-sample values for a mean, a
    count of successes, or a single value."""

    kind: Literal["quantile", "mean", "proportion", "value"]
    unit: str = ""
    samples: npt.NDArray[np.float64] | None = None
    q: float = 0.5
    k: int = 0
    n: int = 0
    value: float = math.nan
    what: str = ""


Source = Callable[[Objective, Samples], Measurement | None]


def latency(obj: Objective, run: Samples) -> Measurement | None:
    if not run.runs:
        return None
    ms = np.concatenate([np.asarray(r.latencies_us, dtype=np.float64) for r in run.runs]) / 1e3
    if ms.size == 0:
        return None
    m = LATENCY_METRIC.match(obj.name)
    assert m is not None
    what = f"{ms.size} requests over {len(run.runs)} run(s)"
    if m.group(1) == "mean":
        return Measurement("mean", "ms", samples=ms, what=what)
    q = 50.0 if m.group(1) == "median" else float(m.group(2))
    return Measurement("quantile", "ms", samples=ms, q=q / 100.0, what=what)


def accuracy(obj: Objective, run: Samples) -> Measurement | None:
    rec = run.accuracy
    if rec is None or obj.name not in rec.scores:
        return None
    vals = np.asarray(rec.score(obj.name), dtype=np.float64)
    what = f"{vals.size} eval samples"
    if rec.kind == "label" and obj.name.startswith("top"):
        return Measurement("proportion", "", k=int(vals.sum()), n=int(vals.size), what=what)
    return Measurement("mean", "", samples=vals, what=what)


def memory(obj: Objective, run: Samples) -> Measurement | None:
    m = _MEM.match(obj.name)
    if m is None or not run.memory:
        return None
    src, kind = m.group("src"), m.group("kind")
    series = [r.series[src] for r in run.memory if src in r.series]
    if not series:
        return None
    if kind == "peak":
        value, what = max(s.peak for s in series), f"peak {src} memory attributable to the model"
    elif kind == "loaded":
        value = float(np.median([s.loaded for s in series]))
        what = f"{src} memory after load minus before load"
    else:
        value = float(np.median([v for s in series for v in s.attributable]))
        what = f"median {src} memory attributable to the model during the replay"
    return Measurement("value", "MiB", value=value / MIB, what=what)


def throughput(obj: Objective, run: Samples) -> Measurement | None:
    m = _TP.match(obj.name)
    if m is None:
        return None
    c = int(m.group("c"))
    wins = [w for r in run.throughput if (lv := r.level(c)) is not None for w in lv.windows]
    if len(wins) < 2:
        return None
    return Measurement(
        "mean",
        "inferences/s",
        samples=np.asarray(wins, dtype=np.float64),
        what=f"inferences/s per window at concurrency {c}",
    )


#: Every source, by the objective's prefix (``gate.config.slo`` parses the prefix).
SOURCES: Final[Mapping[str, Source]] = {
    "latency": latency,
    "accuracy": accuracy,
    "memory": memory,
    "throughput": throughput,
}


def available_names(obj: Objective, run: Samples) -> str:
    """What this run did measure under the objective's source, for the error message."""
    if obj.source == "accuracy" and run.accuracy is not None:
        return ", ".join(sorted(run.accuracy.scores))
    if obj.source == "memory":
        srcs = sorted({s for r in run.memory for s in r.series})
        return ", ".join(f"{s}{k}_mib" for s in srcs for k in ("_peak", "_loaded", ""))
    return ""
