"""What a reviewer reads beside a ratio: the absolute values, in their units, and paths that
say nothing about the machine the run happened on.

A check's effect is a ratio or a difference (``+12.3%`` slower, a drop of ``1.20 pts``);
``absolute`` gives the numbers behind it (``0.59 → 0.66 ms``, ``3562 → 3213 inferences/s``,
``48.8 → 52.1 MiB``, ``92.52% → 91.32%``) from the check's details and the run's samples.
``fmt_effect`` writes a change in the check's own unit: percentage points for accuracy
proportions (as the accuracy reason lines do), percent for everything relative.
``for_display`` rewrites the absolute paths in a run (model folder, store, tool paths, log
lines) relative to the config's folder, or to ``…/last/parts`` when they lie elsewhere, so a
Markdown or HTML report can go into a pull request comment without the runner's layout.
All pure functions of a ``RunResult``.
"""

from __future__ import annotations

import math
import os
import re
import statistics
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from gate.result import CheckResult, RunResult

__all__ = ["absolute", "fmt_effect", "for_display", "in_points", "redact_paths"]


def in_points(check: CheckResult) -> bool:
    """Whether the check's effect is a difference of proportions (shown in points)."""
    unit = str(check.details.get("effect_unit", ""))
    return unit.startswith(("absolute drop in accuracy", "share of samples"))


def fmt_effect(check: CheckResult, x: float | None) -> str:
    """``x`` (an effect, CI end, tolerance or MDE of ``check``) in the check's unit."""
    if x is None or math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    if in_points(check):
        text = f"{x * 100:+.2f} pts"
        return "+0.00 pts" if text == "-0.00 pts" else text
    text = f"{x * 100:+.1f}%"
    return "+0.0%" if text == "-0.0%" else text


def _ms(us: float) -> str:
    ms = us / 1000
    return f"{ms:.3g}" if ms < 100 else f"{ms:,.0f}"


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def _percentile_row(result: RunResult, q: float) -> tuple[float, float] | None:
    comp = result.comparison
    for row in comp.percentiles if comp is not None else []:
        if abs(row.percentile - q) < 1e-9:
            return row.baseline_us, row.candidate_us
    return None


def _latency(check: CheckResult, result: RunResult) -> tuple[float, float] | None:
    """(baseline, candidate) latency in µs behind a latency check."""
    d = check.details
    live = d.get("live_ab") if isinstance(d.get("live_ab"), dict) else None
    if check.metric == "latency.shift":
        if result.ab is not None and result.ab.latencies_a_us and result.ab.latencies_b_us:
            a, b = _median(result.ab.latencies_a_us), _median(result.ab.latencies_b_us)
            return (a, b) if a is not None and b is not None else None
        return _percentile_row(result, 50.0)
    if live is not None and _num(live.get("a_us")) and _num(live.get("b_us")):
        return float(live["a_us"]), float(live["b_us"])
    base, cand = d.get("baseline_values_us"), d.get("candidate_values_us")
    if isinstance(base, list) and isinstance(cand, list) and base and cand:
        b, c = _median([float(v) for v in base]), _median([float(v) for v in cand])
        return (b, c) if b is not None and c is not None else None
    try:
        q = float(check.metric.removeprefix("latency.p"))
    except ValueError:
        return None
    return _percentile_row(result, q)


def absolute(check: CheckResult, result: RunResult) -> str | None:
    """``baseline → candidate`` in the unit of ``check``'s metric, or None when unknown."""
    d, family = check.details, check.metric.split(".")[0]
    pair: tuple[float | None, float | None] = (None, None)
    unit = ""
    if family == "latency":
        lat = _latency(check, result)
        if lat is not None:
            return f"{_ms(lat[0])} → {_ms(lat[1])} ms"
        return None
    if family == "memory":
        pair, unit = (_num(d.get("baseline_mib")), _num(d.get("candidate_mib"))), "MiB"
        if pair[0] is not None and pair[1] is not None:
            return f"{pair[0]:,.1f} → {pair[1]:,.1f} {unit}"
    if family == "throughput":
        pair = (_num(d.get("baseline_ips")), _num(d.get("candidate_ips")))
        if pair[0] is not None and pair[1] is not None:
            # measured at the same moment, each arm beside the other's load
            together = (
                " (arms together)"
                if d.get("together")
                else f" (interleaved {d['slot_s']:g} s slots)"
                if d.get("slot_s")
                else ""
            )
            return f"{pair[0]:,.0f} → {pair[1]:,.0f} inferences/s{together}"
    if family == "accuracy":
        b, c = _num(d.get("baseline_accuracy")), _num(d.get("candidate_accuracy"))
        if b is not None and c is not None:
            return f"{b * 100:.2f}% → {c * 100:.2f}%"
        b, c = _num(d.get("baseline_mean")), _num(d.get("candidate_mean"))
        if b is not None and c is not None:
            return f"mean {b:.4g} → {c:.4g}"
    if family == "slo":
        value, limit = _num(d.get("value")), _num(d.get("limit"))
        if value is not None and limit is not None:
            u = f" {d['unit']}" if d.get("unit") else ""
            return f"{value:.4g}{u} (limit {limit:.4g}{u})"
    return None


# --------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------

# An absolute POSIX path of two parts or more, starting a word: "/a/b.c" (also after "(",
# "=", a quote), not "https://x/y", "a/b" or the "/b" of "</b>".
_PATH = re.compile(r"(?:^|(?<=[\s(\['\"=,:]))(?<!://)/[\w.+@-]+(?:/[\w.+@-]+)+")


def _shown(path: str, base: PurePosixPath | None) -> str:
    p = PurePosixPath(os.path.normpath(path))
    if base is not None:
        common = PurePosixPath(os.path.commonpath([str(p), str(base)]))
        if len(common.parts) > 2:  # shares more than the top folder: the same workspace
            rel = os.path.relpath(str(p), str(base))
            return "." if rel == "." else rel
    tail = p.parts[-2:] if len(p.parts) > 2 else p.parts[1:]
    return "…/" + "/".join(tail)


def redact_paths(text: str, base: str | None) -> str:
    """``text`` with each absolute path relative to ``base`` (a folder), or shortened."""
    root = PurePosixPath(os.path.normpath(base)) if base and base.startswith("/") else None
    return _PATH.sub(lambda m: _shown(m.group(0), root), text)


def _walk(value: Any, base: str | None) -> Any:
    if isinstance(value, str):
        return redact_paths(value, base)
    if isinstance(value, list):
        return [_walk(v, base) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, base) for k, v in value.items()}
    return value


def for_display(result: RunResult) -> RunResult:
    """A copy of ``result`` whose strings carry no absolute path of the machine it ran on.

    Paths inside the folder tree of the config (the repository, on a CI runner the
    workspace) become relative to the config's folder; others (site-packages, caches, /tmp)
    keep their last two parts only. Numbers and structure are unchanged.
    """
    base = str(PurePosixPath(result.config_path).parent) if result.config_path else None
    samples = {"runs", "ab", "comparison", "accuracy", "memory", "throughput"}
    text = result.model_dump(mode="json", by_alias=True, exclude=samples)
    shown = RunResult.model_validate(_walk(text, base))
    return shown.model_copy(update={k: getattr(result, k) for k in samples})
