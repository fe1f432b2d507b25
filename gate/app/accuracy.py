"""Glue between the pipeline and the accuracy/SLO checks, so ``pipeline.py`` changes little.

* :func:`plan` (before any server starts): read the eval set, resolve which scores to
  compute, and turn every inconsistency between gate.yaml, the policy and the eval set into
  a one-line ConfigError (exit 2): an unknown metric, a metric that needs labels on a set with
  targets, an SLO on a metric this run will not measure.
* :func:`bind_model` (after the model loaded): check the eval set against the served model.
* :func:`evaluate` (after the replay, same server): send the eval set, score every sample.
* :func:`extra_checks` (the judge): accuracy, agreement and SLO checks, undecided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.config.config import GateConfig
from gate.config.policy import AccuracyCheck, Policy
from gate.config.slo import Objective, parse_objective
from gate.errors import ConfigError, InputError
from gate.evidence import AccuracyRecord
from gate.inputs.evalset import EvalSet, default_output, read_eval_set, validate_against_model
from gate.judge.accuracy import (
    accuracy_checks,
    agreement_checks,
    effective_checks,
    require_comparable,
)
from gate.judge.slo import slo_check, slo_checks
from gate.measure import accuracy as measure_acc
from gate.result import CheckResult, RunResult


@dataclass
class AccuracyPlan:
    """What the accuracy stage will do, settled before the server starts."""

    evalset: EvalSet
    digest: str
    checks: tuple[AccuracyCheck, ...]
    metrics: tuple[str, ...]
    user: dict[str, measure_acc.MetricFn]
    output: str | None
    batch_size: int = 1
    extras: dict[str, Any] = field(default_factory=dict)


def _policy_where(policy_path: Path | None) -> str:
    return str(policy_path) if policy_path else "built-in default policy"


def plan(cfg: GateConfig, policy: Policy, policy_path: Path | None) -> AccuracyPlan | None:
    """Check config × policy × eval set; None when no eval set is configured."""
    where = _policy_where(policy_path)
    acc_objectives = [
        o for o in (parse_objective(t) for t in policy.slo.objectives) if o.source == "accuracy"
    ]
    if cfg.accuracy is None:
        if acc_objectives:
            raise ConfigError(
                f"{where}: field 'slo.objectives': '{acc_objectives[0].text}' needs accuracy, "
                "but gate.yaml sets no accuracy.eval_set",
                hint="add accuracy: {eval_set: PATH} to gate.yaml, or remove the objective",
            )
        if policy.accuracy.enabled and policy.accuracy.min_accuracy is not None:
            raise ConfigError(
                f"{where}: field 'accuracy.min_accuracy': an accuracy floor needs an eval set, "
                "but gate.yaml sets no accuracy.eval_set",
                hint="add accuracy: {eval_set: PATH} to gate.yaml, or remove the floor",
            )
        if policy.agreement.enabled:
            raise ConfigError(
                f"{where}: field 'agreement.enabled': output agreement needs an eval set, but "
                "gate.yaml sets no accuracy.eval_set",
                hint="add accuracy: {eval_set: PATH} to gate.yaml, or disable agreement",
            )
        return None
    es = read_eval_set(cfg.accuracy.eval_set, allow_non_finite=policy.accuracy.allow_non_finite)
    if es.size < policy.accuracy.min_samples:
        raise InputError(
            f"{es.path}: {es.size} samples is below the policy's accuracy.min_samples="
            f"{policy.accuracy.min_samples}",
            hint="use a larger eval set, or lower accuracy.min_samples in the policy",
        )
    checks = effective_checks(policy, es.kind)
    names: list[str] = []
    for i, c in enumerate(checks):
        names.append(c.metric)
        _check_metric(c.metric, es, cfg, f"{where}: field 'accuracy.checks[{i}].metric'")
    for o in acc_objectives:
        _check_metric(o.name, es, cfg, f"{where}: field 'slo.objectives': '{o.text}'")
        names.append(o.name)
    if policy.accuracy.min_accuracy is not None:
        _check_metric("top1", es, cfg, f"{where}: field 'accuracy.min_accuracy'")
    names += ["top1"] if es.kind == "label" else ["mae", "mse"]
    user = {
        n: measure_acc.load_user_metric(
            n, cfg.accuracy.custom_metrics.get(n), f"{where}: metric '{n}'"
        )
        for n in dict.fromkeys(names)
        if measure_acc.metric_kind(n) is None
    }
    return AccuracyPlan(
        evalset=es,
        digest=es.digest(),
        checks=checks,
        metrics=tuple(dict.fromkeys(names)),
        user=user,
        output=cfg.accuracy.output,
    )


def _check_metric(name: str, es: EvalSet, cfg: GateConfig, where: str) -> None:
    kind = measure_acc.metric_kind(name)
    assert cfg.accuracy is not None
    if kind is None:
        if name in cfg.accuracy.custom_metrics:
            return
        from importlib.metadata import entry_points

        if any(ep.name == name for ep in entry_points(group=measure_acc.ENTRY_POINT_GROUP)):
            return
        raise ConfigError(
            f"{where}: unknown accuracy metric '{name}' (built-in: top1..top99 for class "
            "labels, mae and mse for targets)",
            hint="correct the name, or declare it in gate.yaml under accuracy.custom_metrics "
            "as name: module:function",
        )
    if kind != es.kind:
        need = "class labels ('label')" if kind == "label" else "regression targets ('target')"
        has = "class labels" if es.kind == "label" else "regression targets"
        raise ConfigError(
            f"{where}: metric '{name}' needs {need} but the eval set {es.path} has {has}",
            hint="use top1/topK with labels and mae/mse with targets",
        )


def bind_model(p: AccuracyPlan, metadata: dict[str, Any], model_config: dict[str, Any]) -> None:
    """Check the eval set against the served model; settle the output and the batch size."""
    mbs = int(model_config.get("max_batch_size", 0) or 0)
    output = p.output or default_output(metadata)
    validate_against_model(p.evalset, metadata, mbs, output)
    p.output = output
    p.extras["max_batch_size"] = mbs


def evaluate(
    p: AccuracyPlan, cfg: GateConfig, *, http_url: str, grpc_url: str, model_version: str
) -> AccuracyRecord:
    assert cfg.accuracy is not None and p.output is not None
    mbs = int(p.extras.get("max_batch_size", 0))
    bs = 0 if mbs == 0 else min(cfg.accuracy.batch_size or mbs, mbs)
    protocol = cfg.accuracy.protocol or cfg.measure.protocol
    spec = measure_acc.EvalSpec(
        model=cfg.model.name,
        version=model_version,
        url=grpc_url if protocol == "grpc" else http_url,
        protocol=protocol,
        output=p.output,
        batch_size=bs,
        concurrency=cfg.accuracy.concurrency,
        timeout_s=cfg.accuracy.timeout_s,
    )
    return measure_acc.evaluate(
        p.evalset,
        spec,
        p.metrics,
        p.user,
        digest=p.digest,
        max_output_bytes=int(cfg.accuracy.max_output_mb * 1e6),
    )


def policy_needs_eval(policy: Policy) -> bool:
    """Whether the policy asks for something that only an eval set or SLOs can give."""
    floor = policy.accuracy.enabled and policy.accuracy.min_accuracy is not None
    return bool(policy.slo.objectives) or policy.agreement.enabled or floor


def needs_baseline(policy: Policy, has_eval_set: bool) -> bool:
    """Whether any configured check compares with a baseline (else SLOs alone may run)."""
    lat = policy.latency.shift.enabled or any(t.enabled for t in policy.latency.tails)
    acc = (
        has_eval_set
        and policy.accuracy.enabled
        and (policy.accuracy.checks is None or any(c.enabled for c in policy.accuracy.checks))
    )
    return lat or acc or (has_eval_set and policy.agreement.enabled)


def extra_checks(
    policy: Policy,
    p: AccuracyPlan | None,
    result: RunResult,
    base_accuracy: AccuracyRecord | None,
    *,
    has_baseline: bool,
    baseline_where: str,
) -> list[CheckResult]:
    """Accuracy (paired), floor, agreement and SLO checks for this run, undecided."""
    out: list[CheckResult] = []
    cand = result.accuracy
    if p is not None and cand is not None:
        if has_baseline and (p.checks or policy.agreement.enabled):
            base = require_comparable(base_accuracy, cand, baseline_where)
            out += accuracy_checks(policy, p.checks, base, cand, where=baseline_where)
            if policy.agreement.enabled:
                out += agreement_checks(
                    policy.agreement,
                    base,
                    cand,
                    alpha=policy.alpha,
                    power=policy.power,
                    where=baseline_where,
                )
        floor = policy.accuracy.min_accuracy
        if floor is not None and policy.accuracy.enabled:
            obj = Objective("accuracy.top1", ">=", floor, f"accuracy.top1 >= {floor:g}")
            from gate.judge.slo import SOURCES

            meas = SOURCES["accuracy"](obj, result)
            assert meas is not None
            c = slo_check(
                obj, meas, mode=policy.slo.mode.value, alpha=policy.alpha, power=policy.power
            )
            out.append(
                c.model_copy(
                    update={
                        "name": f"accuracy floor top1 >= {floor:g}",
                        "metric": "accuracy.min_accuracy",
                    }
                )
            )
    for c in out:
        if c.metric.startswith("accuracy.") and c.mde and c.tolerance and c.mde > 2 * c.tolerance:
            result.warnings.append(
                f"{c.name}: with {c.n} eval samples the smallest worsening detectable with "
                f"{policy.power:.0%} power is {c.mde * 100:.2f} (tolerance "
                f"{c.tolerance * 100:.2f}, same units); use a larger eval set to tighten it"
            )
    slos = slo_checks(
        policy.slo.objectives,
        result,
        mode=policy.slo.mode.value,
        alpha=policy.alpha,
        power=policy.power,
    )
    for c in slos:
        v = c.details.get("value")
        if isinstance(v, float):
            result.slo[str(c.details.get("objective"))] = v
    return out + slos
