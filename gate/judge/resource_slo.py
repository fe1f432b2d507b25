"""SLO sources for memory and throughput (``gate.judge.slo.register_source``).

Objectives the policy can state (``slo.objectives``), in the units teams use:

* ``memory.host_peak_mib <= 1200`` / ``memory.gpu_peak_mib <= 1200`` — the largest memory
  attributable to the model seen in any candidate run (the peak during the replay, or the
  after-load level if higher); ``memory.<src>_loaded_mib`` — after-load minus before-load
  (median over runs); ``memory.<src>_mib`` — median of the attributable series. A single
  measured value: compared as is (no sampling CI exists for it).
* ``throughput.c4_ips >= 500`` — inferences/s at concurrency 4: the windows of every
  candidate run, so the objective is judged with a one-sample t CI.
"""

from __future__ import annotations

import re

import numpy as np

from gate.config.slo import Objective
from gate.judge.slo import Measurement
from gate.result import RunResult

MIB = float(2**20)
_MEM = re.compile(r"^(?P<src>[a-z]+)_(?:(?P<kind>peak|loaded)_)?mib$")
_TP = re.compile(r"^c(?P<c>\d+)_ips$")


def memory_source(obj: Objective, result: RunResult) -> Measurement | None:
    m = _MEM.match(obj.name)
    if m is None or not result.memory:
        return None
    src, kind = m.group("src"), m.group("kind")
    series = [r.series[src] for r in result.memory if src in r.series]
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


def throughput_source(obj: Objective, result: RunResult) -> Measurement | None:
    m = _TP.match(obj.name)
    if m is None:
        return None
    c = int(m.group("c"))
    wins = [w for r in result.throughput if (lv := r.level(c)) is not None for w in lv.windows]
    if len(wins) < 2:
        return None
    return Measurement(
        "mean",
        "inferences/s",
        samples=np.asarray(wins, dtype=np.float64),
        what=f"inferences/s per window at concurrency {c}",
    )


def register() -> None:
    from gate.judge.slo import register_source

    register_source("memory", memory_source)
    register_source("throughput", throughput_source)
