"""The HTML report's memory and accuracy sections: figures drawn from a ``RunResult``.

Memory series and accuracy deltas are read duck-typed (those fields belong to other stages
and older ``run.json`` files carry other shapes); the memory figure shows the baseline's
level and the limit the policy allows beside the candidate's series, and the accuracy
figure the paired right/wrong table and the change per class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gate.result import CheckResult, RunResult

__all__ = [
    "accuracy_deltas",
    "accuracy_section",
    "memory_levels",
    "memory_section",
    "memory_series",
]

Figure = Callable[[str, str, str, Callable[[], bytes]], str]


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


_TIME_KEYS = ("t_s", "times_s", "time_s", "seconds", "t")
_VALUE_KEYS = ("used_mib", "mib", "values", "used_bytes", "bytes", "gpu_bytes", "rss_bytes")


def _one_series(obj: Any) -> tuple[list[float], list[float], str] | None:
    t = _get(obj, *_TIME_KEYS)
    for key in _VALUE_KEYS:
        y = _get(obj, key)
        if y is not None and t is not None:
            try:
                tt, yy = [float(v) for v in t], [float(v) for v in y]
            except (TypeError, ValueError):
                return None
            if key.endswith("bytes"):
                return tt, [v / 2**20 for v in yy], "MiB"
            return tt, yy, "MiB"
    samples = _get(obj, "samples", "series")
    if isinstance(samples, Sequence) and samples and not isinstance(samples, str):
        try:
            tt = [float(_get(s, *_TIME_KEYS)) for s in samples]
            for key in _VALUE_KEYS:
                if _get(samples[0], key) is not None:
                    yy = [float(_get(s, key)) for s in samples]
                    div = 2**20 if key.endswith("bytes") else 1
                    return tt, [v / div for v in yy], "MiB"
        except (TypeError, ValueError):
            return None
    return None


def memory_series(result: RunResult) -> dict[str, tuple[list[float], list[float]]]:
    """``{label: (t_s, MiB)}`` from ``result.memory`` when it is there, else ``{}``.

    Accepted shapes (the memory stage owns the field): an object or mapping with
    ``baseline`` / ``candidate``, each one series or a list of series (one per run); a
    series holds times (``t_s``…) and values (``used_mib`` or ``*_bytes``…), or a list of
    ``samples`` each with both.
    """
    memory = getattr(result, "memory", None)
    if memory is None:
        return {}
    out: dict[str, tuple[list[float], list[float]]] = {}
    if isinstance(memory, list) and memory and hasattr(memory[0], "series"):
        # gate.measure.samples.MemoryRun per replay: attributable MiB (minus before-load)
        for r in memory:
            for src, ser in r.series.items():
                label = f"candidate {src}" + ("" if len(memory) == 1 else f" run {r.index + 1}")
                out[label] = (list(ser.t_s), [(v - ser.before_load) / 2**20 for v in ser.values])
        return out
    for side in ("baseline", "candidate"):
        value = _get(memory, side, f"{side}_runs")
        if value is None:
            continue
        runs = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        for i, run in enumerate(runs):
            s = _one_series(run)
            if s is not None:
                out[side if len(runs) == 1 else f"{side} run {i + 1}"] = (s[0], s[1])
    if not out:
        s = _one_series(memory)
        if s is not None:
            out["candidate"] = (s[0], s[1])
    return out


def accuracy_deltas(result: RunResult) -> list[float]:
    """Per-sample candidate − baseline scores: the first metric kept in ``comparison``,
    else from a ``result.accuracy`` that carries deltas or both sides' scores."""
    return accuracy_delta_series(result)[1]


def accuracy_delta_series(result: RunResult) -> tuple[str, list[float]]:
    """(metric name, per-sample deltas); ("", []) when the run has none."""
    comp = result.comparison
    if comp is not None and comp.accuracy_deltas:
        name, values = next(iter(comp.accuracy_deltas.items()))
        return name, values
    return "score", _duck_accuracy_deltas(result)


def _duck_accuracy_deltas(result: RunResult) -> list[float]:
    acc = getattr(result, "accuracy", None)
    if acc is None:
        return []
    items = acc if isinstance(acc, Sequence) and not isinstance(acc, str) else [acc]
    for item in items:
        deltas = _get(item, "deltas", "per_sample_deltas", "delta")
        if isinstance(deltas, Sequence) and deltas and not isinstance(deltas, str):
            try:
                return [float(d) for d in deltas]
            except (TypeError, ValueError):
                continue
        base = _get(item, "baseline_scores", "baseline")
        cand = _get(item, "candidate_scores", "candidate")
        if isinstance(base, Sequence) and isinstance(cand, Sequence) and base and cand:
            try:
                return [float(c) - float(b) for b, c in zip(base, cand, strict=False)]
            except (TypeError, ValueError):
                continue
    return []


def memory_levels(result: RunResult) -> dict[str, float]:
    """Horizontal lines for the memory figure, from the memory checks: the baseline's level
    (median of its runs' medians) and the most the candidate may use (baseline + allowed)."""
    levels: dict[str, float] = {}
    for c in result.checks:
        if not c.metric.startswith("memory."):
            continue
        src = str(c.details.get("source", c.metric.split(".", 1)[1]))
        base, allowed = c.details.get("baseline_mib"), c.details.get("allowed_mib")
        if isinstance(base, int | float):
            levels[f"baseline {src}"] = float(base)
            if isinstance(allowed, int | float):
                levels[f"allowed {src}"] = float(base) + float(allowed)
    return levels


def memory_section(result: RunResult, _figure: Figure) -> str | None:
    from gate.report import plots

    series = memory_series(result)
    if not series:
        return None
    levels = memory_levels(result)
    caption = "Memory attributable to the model, sampled during the replays"
    if levels:
        caption += (
            "; dashed: the baseline's level (median of its runs), dotted: the most the policy "
            "allows the candidate"
        )
    return "<h2>Memory</h2>" + _figure(
        "memory",
        "memory timeline",
        caption + ".",
        lambda: plots.memory_timeline_png(series, levels=levels),
    )


def _confusion(check: CheckResult) -> tuple[int, int, int, int] | None:
    """(both right, newly wrong, newly right, both wrong) from a top-k check's details."""
    d = check.details
    try:
        lost, won, n = int(d["losses"]), int(d["gains"]), int(check.n or 0)
        right_c = round(float(d["candidate_accuracy"]) * n)
    except (KeyError, TypeError, ValueError):
        return None
    both_right = right_c - won
    both_wrong = n - both_right - lost - won
    if n <= 0 or min(both_right, both_wrong) < 0:
        return None
    return both_right, lost, won, both_wrong


def accuracy_section(result: RunResult, _figure: Figure) -> str | None:
    from gate.report import plots

    check = next((c for c in result.checks if "losses" in c.details), None)
    table = _confusion(check) if check is not None else None
    if check is not None and table is not None:
        comp = result.comparison
        classes = [
            (k.label, k.newly_wrong, k.newly_right)
            for k in (comp.accuracy_classes if comp is not None else [])
        ]
        metric = check.metric.split(".", 1)[-1]
        caption = (
            f"Paired by sample: the {metric} table the accuracy test uses (only the samples "
            "that changed carry information)"
            + ("; per class, the samples that became right and wrong" if classes else "")
            + "."
        )
        return "<h2>Accuracy</h2>" + _figure(
            "accuracy",
            "accuracy change",
            caption,
            lambda: plots.accuracy_change_png(*table, classes, metric=metric),
        )
    metric, deltas = accuracy_delta_series(result)
    if not deltas:
        return None
    return "<h2>Accuracy</h2>" + _figure(
        "accuracy",
        "accuracy deltas",
        f"Per evaluation sample: candidate minus baseline {metric}, paired by sample.",
        lambda: plots.accuracy_deltas_png(deltas, label=f"candidate − baseline {metric}"),
    )
