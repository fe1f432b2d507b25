"""Absolute service-level objectives: ``latency.p95_ms <= 82``, ``accuracy.top1 >= 0.943``.

Teams state SLOs as absolute numbers; a comparison with a baseline cannot check them, and a
new model has no baseline at all. Each objective is a check with its own CI, so it can block
on its own:

* a latency percentile: the distribution-free order-statistic CI and the binomial test it
  inverts (``gate.stats.accuracy.quantile_vs_limit``), over every request of every candidate
  run (this CI covers the noise inside the run, not drift between runs or machines);
* a mean latency or a continuous accuracy score (mae, mse, user metrics): one-sample t;
* a proportion (top1, topK): exact binomial test with the Clopper–Pearson interval;
* a single measured value (memory): no sampling CI exists; the check compares the value.

Where each metric's samples come from is ``gate.judge.sources``.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import numpy.typing as npt

from gate.config.slo import Objective, parse_objective
from gate.errors import ConfigError
from gate.evidence import Samples
from gate.judge.protocol import guarded
from gate.judge.sources import SOURCES, Measurement, available_names
from gate.result import CheckResult, CheckStatus
from gate.stats import accuracy as sa

__all__ = ["Measurement", "slo_check", "slo_checks"]


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
    objectives: tuple[str, ...], run: Samples, *, mode: str, alpha: float, power: float
) -> list[CheckResult]:
    """Every objective of the policy as a check. An objective whose metric this run did not
    measure is a ConfigError (exit 2): an SLO must never pass by being skipped."""
    out = []
    for text in objectives:
        obj = parse_objective(text)
        meas = SOURCES[obj.source](obj, run)
        if meas is None:
            have = available_names(obj, run)
            raise ConfigError(
                f"policy slo.objectives: '{obj.text}': metric '{obj.metric}' is not measured "
                f"in this run" + (f" (measured {obj.source}: {have})" if have else ""),
                hint={
                    "accuracy": "set accuracy.eval_set in gate.yaml, or name a metric the "
                    "policy's accuracy checks compute",
                    "memory": "enable memory measurement in gate.yaml, or remove the objective",
                }.get(obj.source, "remove the objective or measure the metric"),
            )
        out.append(
            guarded(
                partial(slo_check, obj, meas, mode=mode, alpha=alpha, power=power),
                name=f"SLO {obj.metric} {obj.op} {obj.limit:g}",
                metric=f"slo.{obj.metric}",
                mode=mode,
            )
        )
    return out
