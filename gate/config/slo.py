"""The SLO grammar: ``"p99_ms <= 50"``, ``"accuracy.top1 >= 0.9"`` in a policy's ``slo.objectives``.

Parsed when the policy is loaded, so a malformed objective is a config error (exit 2) before
anything runs; ``gate.judge.slo`` evaluates parsed objectives against a run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

#: The sources an objective can name; ``gate.judge.slo`` has one measurement per source.
SOURCE_NAMES: tuple[str, ...] = ("accuracy", "latency", "memory", "throughput")

_OBJECTIVE = re.compile(
    r"^\s*([A-Za-z][A-Za-z0-9_.]*)\s*(<=|>=)\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*$"
)
LATENCY_METRIC = re.compile(r"^(p(\d+(?:\.\d+)?)|mean|median)_ms$")
_ALIASES = {"accuracy": "accuracy.top1"}


@dataclass(frozen=True)
class Objective:
    metric: str  # "source.name"
    op: Literal["<=", ">="]
    limit: float
    text: str

    @property
    def source(self) -> str:
        return self.metric.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.metric.split(".", 1)[1]


def parse_objective(text: str) -> Objective:
    """``"latency.p95_ms <= 82"`` → Objective; ValueError (one line) when malformed."""
    m = _OBJECTIVE.match(text)
    if not m:
        raise ValueError(
            f"objective {text!r} is not 'METRIC <= LIMIT' or 'METRIC >= LIMIT' "
            "(e.g. 'latency.p95_ms <= 82')"
        )
    metric, op, limit_s = m.group(1), m.group(2), m.group(3)
    metric = _ALIASES.get(metric, metric)
    if "." not in metric and LATENCY_METRIC.match(metric):
        metric = "latency." + metric
    if "." not in metric or metric.split(".", 1)[0] not in SOURCE_NAMES:
        raise ValueError(
            f"objective {text!r}: unknown metric '{metric}' (metrics are SOURCE.NAME with "
            f"SOURCE one of {', '.join(SOURCE_NAMES)}, e.g. latency.p95_ms)"
        )
    src, name = metric.split(".", 1)
    if src == "latency" and not LATENCY_METRIC.match(name):
        raise ValueError(
            f"objective {text!r}: unknown latency metric '{name}' (use pNN_ms, mean_ms or "
            "median_ms, e.g. p95_ms)"
        )
    try:
        limit = float(limit_s)
    except ValueError:
        raise ValueError(f"objective {text!r}: limit {limit_s!r} is not a number") from None
    if not math.isfinite(limit):
        raise ValueError(f"objective {text!r}: limit must be finite")
    return Objective(metric, "<=" if op == "<=" else ">=", limit, text.strip())
