"""Eval-set format, its checks against a model, config/policy errors and the check functions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, ROOT

from gate.app import accuracy as stage
from gate.config.config import GateConfig
from gate.config.policy import AgreementPolicy, Policy, load_policy
from gate.config.slo import parse_objective
from gate.errors import ConfigError, InputError
from gate.evidence import AccuracyRecord, EncodedArray, Evidence, LatencyRun, Samples
from gate.inputs.evalset import read_eval_set, validate_against_model
from gate.judge.accuracy import accuracy_checks, agreement_checks, default_checks
from gate.judge.decide import decide, verdict_of
from gate.judge.design import Design
from gate.judge.families import AccuracyFamily
from gate.judge.slo import slo_checks
from gate.measure.accuracy import score
from gate.result import CheckStatus, Verdict

if str(ROOT) not in sys.path:  # fixtures.make_eval and tests.metrics_fixture
    sys.path.insert(0, str(ROOT))

META: dict[str, Any] = {
    "name": "demo",
    "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 16]}],
    "outputs": [{"name": "PROBS", "datatype": "FP32", "shape": [-1, 4]}],
}


def _write(path: Path, header: dict[str, Any] | None, samples: list[dict[str, Any]]) -> Path:
    lines = ([json.dumps(header)] if header else []) + [json.dumps(s) for s in samples]
    path.write_text("\n".join(lines) + "\n")
    return path


HEADER = {
    "format": "gate-eval/1",
    "model": "demo",
    "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [16]}],
}


def _sample(label: Any = 1, **kw: Any) -> dict[str, Any]:
    return {"inputs": {"INPUT0": {"data": [0.5] * 16}}, "label": label, **kw}


def test_demo_eval_set_reads_and_labels_match_v1() -> None:
    from fixtures.make_eval import v1_probs

    es = read_eval_set(FIXTURES / "eval" / "demo.jsonl.gz")
    assert es.size == 5000 and es.kind == "label"
    validate_against_model(es, META, 8, "PROBS")
    acc = float(np.mean(np.argmax(v1_probs(es.arrays["INPUT0"]), axis=1) == es.labels))
    assert 0.90 < acc < 0.95  # labels are v1's predictions with ~7% label noise


def test_jsonl_and_npz_encodings_have_the_same_digest(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 16)).astype(np.float32)
    y = rng.integers(0, 4, size=30)
    samples = [
        {"inputs": {"INPUT0": {"data": xi.tolist()}}, "label": int(yi)}
        for xi, yi in zip(x, y, strict=True)
    ]
    a = read_eval_set(_write(tmp_path / "e.jsonl", HEADER, samples))
    np.savez(tmp_path / "e.npz", INPUT0=x, label=y)
    b = read_eval_set(tmp_path / "e.npz")
    assert a.digest() == b.digest()
    assert b.inputs[0].datatype == "FP32" and b.inputs[0].shape == (16,)


def test_regression_targets(tmp_path: Path) -> None:
    s = [{"inputs": {"INPUT0": {"data": [0.0] * 16}}, "target": [1.0, 2.0, 3.0, 4.0]}] * 3
    es = read_eval_set(_write(tmp_path / "t.jsonl", HEADER, s))
    assert es.kind == "target" and es.targets is not None and es.targets.shape == (3, 4)
    out = np.array([[1.0, 2.0, 3.0, 5.0]] * 3)
    scores, hib = score(es, out, ["mae", "mse"])
    assert np.allclose(scores["mae"], 0.25) and np.allclose(scores["mse"], 0.25)
    assert hib == {"mae": False, "mse": False}


@pytest.mark.parametrize(
    ("samples", "match"),
    [
        ([_sample(label=1.5)], "field 'label': must be a non-negative integer"),
        ([_sample(label="cat")], "field 'label'"),
        ([_sample(label=True)], "field 'label'"),
        (
            [_sample(), {"inputs": {"INPUT0": {"data": [0.5] * 16}}, "target": 1.0}],
            "earlier samples have a label",
        ),
        ([{"inputs": {"INPUT0": {"data": [0.5] * 15}}, "label": 0}], "15 values"),
        ([{"inputs": {"X": {"data": [0.5] * 16}}, "label": 0}], "header declares"),
        ([_sample(extra=1)], "unknown key 'extra'"),
    ],
)
def test_bad_samples_are_one_line_input_errors(
    tmp_path: Path, samples: list[dict[str, Any]], match: str
) -> None:
    with pytest.raises(InputError, match=match) as ei:
        read_eval_set(_write(tmp_path / "bad.jsonl", HEADER, samples))
    assert "\n" not in ei.value.message and "bad.jsonl: line" in ei.value.message


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"inputs": ', "invalid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"label": ' + "1" * 5000 + "}", "digits"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_json_lines_are_one_line_input_errors(tmp_path: Path, line: str, match: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(HEADER) + "\n" + line + "\n")
    with pytest.raises(InputError, match=match) as ei:
        read_eval_set(path)
    assert "\n" not in ei.value.message and "bad.jsonl: line 2" in ei.value.message


def test_npz_with_float_labels_is_an_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "e.npz", INPUT0=np.zeros((4, 16), np.float32), label=np.zeros(4))
    with pytest.raises(InputError, match="labels must be integer class indices"):
        read_eval_set(tmp_path / "e.npz")


@pytest.mark.parametrize(
    ("meta_change", "match"),
    [
        (
            {"inputs": [{"name": "INPUT0", "datatype": "FP16", "shape": [-1, 16]}]},
            "datatype FP32 but the model expects FP16",
        ),
        (
            {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 8]}]},
            r"item shape \[16\] but the model expects \[8\]",
        ),
        (
            {"inputs": [{"name": "IN", "datatype": "FP32", "shape": [-1, 16]}]},
            "'INPUT0' is not an input of the model",
        ),
        (
            {"outputs": [{"name": "PROBS", "datatype": "FP32", "shape": [-1, 2]}]},
            "class index 3 but output 'PROBS' has 2 classes",
        ),
    ],
)
def test_eval_set_mismatching_the_model(
    tmp_path: Path, meta_change: dict[str, Any], match: str
) -> None:
    es = read_eval_set(_write(tmp_path / "e.jsonl", HEADER, [_sample(3)]))
    with pytest.raises(InputError, match=match):
        validate_against_model(es, {**META, **meta_change}, 8, "PROBS")


def _cfg(tmp_path: Path, eval_set: Path, **acc: Any) -> GateConfig:
    return GateConfig.model_validate(
        {
            "model": {"name": "demo", "repository": str(tmp_path)},
            "traffic": {"path": str(tmp_path / "t.jsonl")},
            "accuracy": {"eval_set": str(eval_set), **acc},
        }
    )


def test_policy_errors_are_config_errors(tmp_path: Path) -> None:
    ev = FIXTURES / "eval" / "demo.jsonl.gz"
    cfg = _cfg(tmp_path, ev)
    pol = Policy.model_validate({"accuracy": {"checks": [{"metric": "f1", "tolerance": 0.01}]}})
    with pytest.raises(ConfigError, match="unknown accuracy metric 'f1'"):
        stage.plan(cfg, pol, None)
    pol = Policy.model_validate({"accuracy": {"checks": [{"metric": "mae", "tolerance": 0.05}]}})
    with pytest.raises(ConfigError, match="needs regression targets"):
        stage.plan(cfg, pol, None)
    with pytest.raises(ValueError, match=r"unknown metric 'gpu\.util'"):
        parse_objective("gpu.util <= 3")
    p = tmp_path / "policy.yaml"
    p.write_text("version: 1\nslo:\n  objectives: ['latency.p95 <= 3']\n")
    with pytest.raises(ConfigError, match="unknown latency metric 'p95'"):
        load_policy(p)
    # an accuracy SLO without an eval set
    no_eval = GateConfig.model_validate(
        {"model": {"name": "d", "repository": "."}, "traffic": {"path": "t"}}
    )
    pol = Policy.model_validate({"slo": {"objectives": ["accuracy >= 0.9"]}})
    with pytest.raises(ConfigError, match=r"sets no accuracy.eval_set"):
        stage.plan(no_eval, pol, None)


def test_custom_metric_by_module_function(tmp_path: Path) -> None:
    ev = FIXTURES / "eval" / "demo.jsonl.gz"
    cfg = _cfg(tmp_path, ev, custom_metrics={"margin": "tests.metrics_fixture:margin"})
    pol = Policy.model_validate({"accuracy": {"checks": [{"metric": "margin", "tolerance": 0.1}]}})
    plan = stage.plan(cfg, pol, None)
    assert plan is not None and "margin" in plan.user
    out = np.tile(np.array([[0.7, 0.1, 0.1, 0.1]]), (plan.evalset.size, 1))
    scores, hib = score(plan.evalset, out, plan.metrics, plan.user)
    assert np.allclose(scores["margin"], 0.6) and hib["margin"] is True


def _record(scores: dict[str, np.ndarray], outputs: np.ndarray | None = None) -> AccuracyRecord:
    return AccuracyRecord(
        eval_set="e",
        eval_set_digest="sha256:x",
        samples=len(next(iter(scores.values()))),
        output="PROBS",
        kind="label",
        scores={k: EncodedArray.encode(v) for k, v in scores.items()},
        higher_is_better={k: True for k in scores},
        outputs=EncodedArray.encode(outputs) if outputs is not None else None,
        top_indices=EncodedArray.encode(np.argmax(outputs, 1)[:, None].astype(np.int32))
        if outputs is not None
        else None,
    )


def test_accuracy_drop_blocks_and_unchanged_passes() -> None:
    rng = np.random.default_rng(0)
    b = (rng.random(5000) < 0.93).astype(np.uint8)
    worse = b.copy()
    worse[rng.choice(np.nonzero(b)[0], 150, replace=False)] = 0  # -3 points
    pol = Policy()
    checks = default_checks("label")
    base = _record({"top1": b})
    same = accuracy_checks(pol, checks, base, _record({"top1": b.copy()}), where="b")
    drop = accuracy_checks(pol, checks, base, _record({"top1": worse}), where="b")
    (_same_c,), v_same = decide(same, pol.alpha)
    (drop_c,), v_drop = decide(drop, pol.alpha)
    assert v_same is Verdict.PASS and v_drop is Verdict.BLOCKED
    assert drop_c.status is CheckStatus.FAIL
    assert "drop 3.00 pts" in drop_c.reason and "150 samples newly wrong" in drop_c.reason
    assert drop_c.ci_low is not None and drop_c.ci_low > 0.01


def test_baseline_without_scores_is_a_config_error() -> None:
    pol = Policy()
    from gate.judge.accuracy import require_comparable

    cand = _record({"top1": np.ones(10, np.uint8)})
    with pytest.raises(ConfigError, match="no per-sample accuracy scores"):
        require_comparable(None, cand, "store/b.json.gz")
    base = _record({"top5": np.ones(10, np.uint8)})
    with pytest.raises(ConfigError, match="no per-sample scores for 'top1'"):
        accuracy_checks(pol, default_checks("label"), base, cand, where="b")


def test_agreement_identical_and_changed_outputs() -> None:
    rng = np.random.default_rng(1)
    out = rng.random((1000, 4)).astype(np.float32)
    ap = AgreementPolicy(enabled=True, min_top1=0.99, max_abs_diff=1e-3, p99_abs_diff=1e-3)
    base = _record({"top1": np.ones(1000, np.uint8)}, out)
    same = agreement_checks(
        ap,
        base,
        _record({"top1": np.ones(1000, np.uint8)}, out.copy()),
        alpha=0.05,
        power=0.8,
        where="b",
    )
    assert decide(same, 0.05)[1] is Verdict.PASS
    noisy = out + rng.normal(0, 0.01, out.shape).astype(np.float32)
    changed = agreement_checks(
        ap,
        base,
        _record({"top1": np.ones(1000, np.uint8)}, noisy),
        alpha=0.05,
        power=0.8,
        where="b",
    )
    checks, verdict = decide(changed, 0.05)
    assert verdict is Verdict.BLOCKED
    assert {c.name for c in checks if c.status is CheckStatus.FAIL} >= {
        "agreement max |Δ| <= 0.001",
        "agreement p99 |Δ| <= 0.001",
    }


def test_slo_checks_on_a_run_without_baseline() -> None:
    rng = np.random.default_rng(2)
    lat = list(rng.lognormal(np.log(50_000), 0.2, size=2000))  # ~50 ms median
    r = Samples(runs=(LatencyRun(index=0, started_at="t", latencies_us=lat),))
    ok = slo_checks(("p95_ms <= 82",), r, mode="non_inferiority", alpha=0.05, power=0.8)
    bad = slo_checks(("latency.p95_ms <= 60",), r, mode="non_inferiority", alpha=0.05, power=0.8)
    assert decide(ok, 0.05)[1] is Verdict.PASS
    checks, verdict = decide(bad, 0.05)
    assert verdict is Verdict.BLOCKED
    assert "vs SLO <= 60 ms" in checks[0].reason and "90% CI" in checks[0].reason
    with pytest.raises(ConfigError, match=r"'memory.host_mb' is not measured in this run"):
        slo_checks(("memory.host_mb <= 1200",), r, mode="non_inferiority", alpha=0.05, power=0.8)


def test_user_metric_from_an_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``gate.metrics`` entry point group (an installed plugin), resolved by name."""
    import importlib.metadata as md

    ep = md.EntryPoint(name="margin", value="tests.metrics_fixture:margin", group="gate.metrics")
    real = md.entry_points

    def fake(**kw: Any) -> Any:
        return [ep] if kw.get("group") == "gate.metrics" else real(**kw)

    monkeypatch.setattr(md, "entry_points", fake)
    cfg = _cfg(tmp_path, FIXTURES / "eval" / "demo.jsonl.gz")
    pol = Policy.model_validate({"accuracy": {"checks": [{"metric": "margin", "tolerance": 0.1}]}})
    plan = stage.plan(cfg, pol, None)
    assert plan is not None and plan.user["margin"].__name__ == "margin"


def test_min_accuracy_floor_needs_no_baseline() -> None:
    rng = np.random.default_rng(3)
    top1 = (rng.random(5000) < 0.925).astype(np.uint8)
    evidence = Evidence(candidate=Samples(accuracy=_record({"top1": top1})))
    for floor, want in ((0.90, Verdict.PASS), (0.93, Verdict.BLOCKED)):
        pol = Policy.model_validate({"accuracy": {"min_accuracy": floor}})
        checks = AccuracyFamily().checks(pol, evidence, Design.of(pol, None, 1))
        assert [c.metric for c in checks] == ["accuracy.min_accuracy"]
        assert verdict_of(checks) is want


def test_accuracy_floor_without_eval_set_is_a_config_error() -> None:
    no_eval = GateConfig.model_validate(
        {"model": {"name": "d", "repository": "."}, "traffic": {"path": "t"}}
    )
    pol = Policy.model_validate({"accuracy": {"min_accuracy": 0.9}})
    with pytest.raises(ConfigError, match="accuracy floor needs an eval set"):
        stage.plan(no_eval, pol, None)
    # without a floor, SLOs or agreement there is nothing to plan
    assert stage.plan(no_eval, Policy(), None) is None
