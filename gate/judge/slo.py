"""Absolute service-level objectives: ``latency.p95_ms <= 82``, ``accuracy.top1 >= 0.943``.

Teams state SLOs as absolute numbers; a comparison with a baseline cannot check them, and a
new model has no baseline at all. Each objective is a check with its own CI, so it can block
on its own:

* a latency percentile: the distribution-free order-statistic CI and the binomial test it
  inverts (``gate.stats_accuracy.quantile_vs_limit``), over every request of every candidate
  run (this CI covers the noise inside the run, not drift between runs or machines);
* a mean latency or a continuous accuracy score (mae, mse, user metrics): one-sample t;
* a proportion (top1, topK): exact binomial test with the Clopper–Pearson interval;
* a single measured value (memory): no sampling CI exists; the check compares the value.

**Metric sources** map a prefix to a function that finds the samples in a ``RunResult``
(``SOURCES``; add one with :func:`register_source`). A source that finds nothing says the
metric was not measured in this run, which is a configuration error (exit 2), never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from gate.config.slo import LATENCY_METRIC, Objective, parse_objective
from gate.errors import ConfigError
from gate.result import CheckResult, CheckStatus, RunResult
from gate.stats import accuracy as sa


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


Source = Callable[[Objective, RunResult], Measurement | None]


# --------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------


def _latency(obj: Objective, result: RunResult) -> Measurement | None:
    if not result.runs:
        return None
    ms = np.concatenate([np.asarray(r.latencies_us, dtype=np.float64) for r in result.runs]) / 1e3
    if ms.size == 0:
        return None
    m = LATENCY_METRIC.match(obj.name)
    assert m is not None
    what = f"{ms.size} requests over {len(result.runs)} run(s)"
    if m.group(1) == "mean":
        return Measurement("mean", "ms", samples=ms, what=what)
    q = 50.0 if m.group(1) == "median" else float(m.group(2))
    return Measurement("quantile", "ms", samples=ms, q=q / 100.0, what=what)


def _accuracy(obj: Objective, result: RunResult) -> Measurement | None:
    rec = result.accuracy
    if rec is None or obj.name not in rec.scores:
        return None
    vals = np.asarray(rec.score(obj.name), dtype=np.float64)
    what = f"{vals.size} eval samples"
    if rec.kind == "label" and obj.name.startswith("top"):
        return Measurement("proportion", "", k=int(vals.sum()), n=int(vals.size), what=what)
    return Measurement("mean", "", samples=vals, what=what)


def _flatten(prefix: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        out[prefix] = float(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif (
        isinstance(value, list)
        and value
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        out[prefix] = float(max(value))  # a sampled series: its peak


def _memory(obj: Objective, result: RunResult) -> Measurement | None:
    mem = getattr(result, "memory", None)
    if mem is None:
        return None
    data = mem.model_dump(mode="json") if hasattr(mem, "model_dump") else mem
    flat: dict[str, float] = {}
    _flatten("", data, flat)
    if obj.name not in flat:
        return None
    return Measurement("value", "", value=flat[obj.name], what="measured value")


SOURCES: dict[str, Source] = {"latency": _latency, "accuracy": _accuracy, "memory": _memory}


def register_source(prefix: str, fn: Source) -> None:
    """Make ``prefix.NAME`` objectives available (e.g. ``throughput`` from another module)."""
    SOURCES[prefix] = fn


def available_names(obj: Objective, result: RunResult) -> str:
    """What this run did measure under the objective's source, for the error message."""
    if obj.source == "accuracy" and result.accuracy is not None:
        return ", ".join(sorted(result.accuracy.scores))
    if obj.source == "memory" and getattr(result, "memory", None) is not None:
        mem = result.memory  # type: ignore[attr-defined]
        flat: dict[str, float] = {}
        _flatten("", mem.model_dump(mode="json") if hasattr(mem, "model_dump") else mem, flat)
        return ", ".join(sorted(flat))
    return ""


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def _fmt(v: float, unit: str) -> str:
    if not math.isfinite(v):
        return "+inf" if v > 0 else "-inf"
    text = f"{v:.4g}"
    return f"{text} {unit}" if unit else text


def slo_check(
    obj: Objective, meas: Measurement, *, mode: str, alpha: float, power: float
) -> CheckResult:
    """One objective → an undecided CheckResult (``decide`` applies Holm and sets status).

    ``effect`` is the relative excess over the limit (positive = on the wrong side):
    ``value/limit − 1`` for ``<=``, ``1 − value/limit`` for ``>=``.
    """
    want_met = mode == "non_inferiority"
    # H1 "met" is value < limit for <=, value > limit for >=
    if obj.op == "<=":
        alt: sa.Alternative = "less" if want_met else "greater"
    else:
        alt = "greater" if want_met else "less"
    unit = meas.unit
    if meas.kind == "quantile":
        assert meas.samples is not None
        est = sa.quantile_vs_limit(meas.samples, meas.q, obj.limit, alpha, alt)
        test = f"order-statistic CI and binomial test for the {meas.q * 100:g}th percentile"
    elif meas.kind == "proportion":
        est = sa.proportion_vs_limit(meas.k, meas.n, obj.limit, alpha, alt)
        test = "exact binomial test, Clopper–Pearson CI"
    elif meas.kind == "mean":
        assert meas.samples is not None
        est = _mean_vs_limit(meas.samples, obj.limit, alpha, alt)
        test = "one-sample t-test on the mean"
    else:
        v = meas.value
        met = v <= obj.limit if obj.op == "<=" else v >= obj.limit
        p = 0.0 if met == want_met else 1.0
        est = sa.Estimate(v, v, v, p, 1, 0.0)
        test = "single measured value (no sampling CI)"
    scale = abs(obj.limit) if obj.limit != 0 else 1.0
    sign = 1.0 if obj.op == "<=" else -1.0

    def rel(x: float) -> float:
        return sign * (x - obj.limit) / scale

    lo, hi = sorted((rel(est.ci_low), rel(est.ci_high)))
    from scipy.stats import norm

    mde = (float(norm.ppf(1 - alpha) + norm.ppf(power)) * est.se / scale) if est.se else 0.0
    ci_txt = f"{_fmt(est.ci_low, unit)} .. {_fmt(est.ci_high, unit)}"
    reason = (
        f"{obj.metric} = {_fmt(est.estimate, unit)} ({(1 - 2 * alpha) * 100:.4g}% CI {ci_txt}, "
        f"{meas.what}) vs SLO {obj.op} {_fmt(obj.limit, unit)}"
    )
    if meas.kind == "value":
        reason = (
            f"{obj.metric} = {_fmt(est.estimate, unit)} vs SLO {obj.op} {_fmt(obj.limit, unit)}"
        )
    return CheckResult(
        name=f"SLO {obj.metric} {obj.op} {obj.limit:g}",
        metric=f"slo.{obj.metric}",
        status=CheckStatus.PASS,
        mode=mode,
        effect=rel(est.estimate),
        ci_low=lo,
        ci_high=hi,
        confidence=1 - 2 * alpha if meas.kind != "value" else None,
        p_value=est.p_value,
        n=est.n,
        mde=mde,
        reason=reason,
        details={
            "objective": obj.text,
            "value": est.estimate,
            "limit": obj.limit,
            "ci": [est.ci_low, est.ci_high],
            "unit": unit,
            "test": test,
            "effect_unit": "relative excess over the limit (positive = on the wrong side)",
        },
    )


def _mean_vs_limit(x: npt.NDArray[np.float64], limit: float, alpha: float, alt: str) -> sa.Estimate:
    from scipy.stats import t as t_dist

    n = x.size
    m = float(x.mean())
    if n < 2:
        raise ValueError("at least two samples are needed for a mean")
    se = float(x.std(ddof=1)) / math.sqrt(n)
    if se == 0:
        p = 0.0 if ((m < limit) if alt == "less" else (m > limit)) else 1.0
        return sa.Estimate(m, m, m, p, n, 0.0)
    tstat = (m - limit) / se
    p = float(t_dist.cdf(tstat, n - 1)) if alt == "less" else float(t_dist.sf(tstat, n - 1))
    tc = float(t_dist.ppf(1 - alpha, n - 1))
    return sa.Estimate(m, m - tc * se, m + tc * se, p, n, se)


def slo_checks(
    objectives: tuple[str, ...], result: RunResult, *, mode: str, alpha: float, power: float
) -> list[CheckResult]:
    """Every objective of the policy as a check. An objective whose metric this run did not
    measure is a ConfigError (exit 2): an SLO must never pass by being skipped."""
    out = []
    for text in objectives:
        obj = parse_objective(text)
        meas = SOURCES[obj.source](obj, result)
        if meas is None:
            have = available_names(obj, result)
            raise ConfigError(
                f"policy slo.objectives: '{obj.text}': metric '{obj.metric}' is not measured "
                f"in this run" + (f" (measured {obj.source}: {have})" if have else ""),
                hint={
                    "accuracy": "set accuracy.eval_set in gate.yaml, or name a metric the "
                    "policy's accuracy checks compute",
                    "memory": "enable memory measurement in gate.yaml, or remove the objective",
                }.get(obj.source, "remove the objective or measure the metric"),
            )
        try:
            out.append(slo_check(obj, meas, mode=mode, alpha=alpha, power=power))
        except (ValueError, ArithmeticError) as e:
            out.append(
                CheckResult(
                    name=f"SLO {obj.metric} {obj.op} {obj.limit:g}",
                    metric=f"slo.{obj.metric}",
                    status=CheckStatus.ERROR,
                    mode=mode,
                    reason=f"statistics failed: {e}",
                )
            )
    return out
