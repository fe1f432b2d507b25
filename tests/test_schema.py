"""The JSON Schema and the configuration reference come from the models, and say what they do.

``docs/configuration.md`` is generated (``gate schema --markdown``); the first test fails when
a field, default or description in ``gate/config/`` changed without regenerating it. The
schema is checked with the ``jsonschema`` library against every config and policy the
repository ships (they must validate) and against typos (they must not): an editor using it
then agrees with ``gate check``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from gate.config.reference import json_schema, markdown_reference

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"


def test_reference_page_matches_the_models() -> None:
    expected = markdown_reference()
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/configuration.md differs from the models: regenerate it with "
        "`gate schema --markdown > docs/configuration.md`"
    )


def test_reference_names_every_field() -> None:
    from gate.config.config import GateConfig
    from gate.config.policy import Policy

    text = DOC.read_text(encoding="utf-8")
    for model in (GateConfig, Policy):
        for name in model.model_fields:
            assert f"| `{name}` |" in text, name
    for key in ("baseline.model_dir", "latency.shift.tolerance", "throughput.window_requests"):
        assert f"`{key}`" in text


def _validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = json_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _yaml(path: Path) -> object:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_shipped_configs_and_policies_validate() -> None:
    gate, policy = _validator("gate"), _validator("policy")
    configs = [ROOT / "examples" / "demo" / "gate.yaml"]
    policies = [ROOT / "gate" / "data" / "policy.yaml", *sorted((ROOT / "policies").glob("*.yaml"))]
    for path in configs:
        errors = [e.message for e in gate.iter_errors(_yaml(path))]
        assert not errors, (path, errors)
    for path in policies:
        errors = [e.message for e in policy.iter_errors(_yaml(path))]
        assert not errors, (path, errors)


@pytest.mark.parametrize(
    ("kind", "doc", "words"),
    [
        ("gate", {"model": {"name": "m", "repository": "r"}, "trafic": {}}, "trafic"),
        ("gate", {"model": {"name": "m", "repository": "r"}}, "traffic"),
        (
            "gate",
            {
                "model": {"name": "m", "repository": "r"},
                "traffic": {"path": "t"},
                "launcher": {"kind": "kubernetes"},
            },
            "kubernetes",
        ),
        ("policy", {"latency": {"shift": {"tolerence": 0.05}}}, "tolerence"),
        ("policy", {"alpha": 0.9}, "0.9"),
        ("policy", {"latency": {"tails": [{"percentile": "q99"}]}}, "q99"),
    ],
)
def test_schema_refuses_what_the_gate_refuses(kind: str, doc: object, words: str) -> None:
    errors = [e.message for e in _validator(kind).iter_errors(doc)]
    assert errors and any(words in m for m in errors), errors


def test_percentile_names_validate_in_the_schema_as_in_the_gate() -> None:
    from gate.config.policy import Policy

    doc = {"latency": {"tails": [{"percentile": "p99.9"}, {"percentile": 50}]}}
    assert not list(_validator("policy").iter_errors(doc))
    assert Policy.model_validate(doc).latency.tails[0].percentile == 99.9


def test_gate_schema_cli(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "gate", "schema"]
    out = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["title"] == "gate.yaml"
    subprocess.run([*run, "--out", str(tmp_path)], capture_output=True, check=True)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["gate.schema.json", "policy.schema.json"]
    assert json.loads((tmp_path / "policy.schema.json").read_text())["title"] == "gate policy"
    md = subprocess.run([*run, "--markdown"], capture_output=True, text=True, check=True).stdout
    assert md == DOC.read_text(encoding="utf-8")
