"""The accuracy stage of a run: the eval set planned, bound to the served model, evaluated.

* :func:`plan` (before any server starts): read the eval set, resolve which scores to
  compute, and turn every inconsistency between gate.yaml, the policy and the eval set into
  a one-line ConfigError (exit 2): an unknown metric, a metric that needs labels on a set with
  targets, an SLO on a metric this run will not measure.
* :func:`bind_model` (after the model loaded): check the eval set against the served model.
* :func:`evaluate` (after the replay, same server): send the eval set, score every sample.

Judging the scores is ``gate.judge.families.AccuracyFamily``'s part, not this module's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.config.config import GateConfig
from gate.config.policy import AccuracyCheck, Policy
from gate.config.slo import parse_objective
from gate.errors import ConfigError, InputError
from gate.evidence import AccuracyRecord
from gate.inputs.evalset import EvalSet, default_output, read_eval_set, validate_against_model
from gate.judge.accuracy import effective_checks
from gate.measure import accuracy as measure_acc


@dataclass(frozen=True)
class AccuracyPlan:
    """What the accuracy stage will do, settled before the server starts; ``bind_model``
    settles the output and the model's batch limit once the model is loaded."""

    evalset: EvalSet
    digest: str
    checks: tuple[AccuracyCheck, ...]
    metrics: tuple[str, ...]
    user: dict[str, measure_acc.MetricFn]
    output: str | None
    max_batch_size: int = 0


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


def bind_model(
    p: AccuracyPlan, metadata: dict[str, Any], model_config: dict[str, Any]
) -> AccuracyPlan:
    """The plan checked against the served model, its output and batch limit settled."""
    mbs = int(model_config.get("max_batch_size", 0) or 0)
    output = p.output or default_output(metadata)
    validate_against_model(p.evalset, metadata, mbs, output)
    return dataclasses.replace(p, output=output, max_batch_size=mbs)


def evaluate(
    p: AccuracyPlan, cfg: GateConfig, *, model: str, url: dict[str, str], model_version: str
) -> AccuracyRecord:
    """Send the eval set to ``model`` (a bound plan) and score every sample.

    ``url``: the server's URL per protocol (``http``, ``grpc``)."""
    assert cfg.accuracy is not None and p.output is not None
    mbs = p.max_batch_size
    bs = 0 if mbs == 0 else min(cfg.accuracy.batch_size or mbs, mbs)
    protocol = cfg.accuracy.protocol or cfg.measure.protocol
    spec = measure_acc.EvalSpec(
        model=model,
        version=model_version,
        url=url[protocol],
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
