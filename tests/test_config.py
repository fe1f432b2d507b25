"""Tests of gate.config: strict, one-line errors naming file and field; relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.config.config import GateConfig, load_config
from gate.config.policy import Mode, Policy, load_policy
from gate.errors import ConfigError, ExitCode

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"

VALID_CONFIG = """\
version: 1
model:
  name: demo
  repository: models
traffic:
  path: traffic/demo.jsonl.gz
launcher:
  startup_timeout_s: 30
  tritonserver: bin/tritonserver
measure:
  perf_analyzer: /opt/pa/perf_analyzer
baseline:
  store: ../store
policy: policies/strict.yaml
reports:
  dir: out/reports
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def config_error(path: Path, loader: object = load_config) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        loader(path)  # type: ignore[operator]
    err = info.value
    assert err.exit_code == ExitCode.USAGE == 2
    assert "\n" not in err.message  # one line
    return err


# --------------------------------------------------------------------------------------
# Gate config
# --------------------------------------------------------------------------------------


def test_valid_config_resolves_relative_paths_against_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "project/ci/gate.yaml", VALID_CONFIG)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory must not matter
    cfg = load_config(path)
    assert isinstance(cfg, GateConfig)
    folder = (tmp_path / "project" / "ci").resolve()
    assert cfg.model.name == "demo"
    assert cfg.model.repository == folder / "models"
    assert cfg.traffic.path == folder / "traffic" / "demo.jsonl.gz"
    assert cfg.launcher.tritonserver == folder / "bin" / "tritonserver"
    assert cfg.measure.perf_analyzer == Path("/opt/pa/perf_analyzer")  # absolute: kept
    assert Path(cfg.baseline.store) == (tmp_path / "project" / "store").resolve()
    assert cfg.policy == folder / "policies" / "strict.yaml"
    assert cfg.reports.dir == folder / "out" / "reports"
    assert cfg.launcher.startup_timeout_s == 30
    # defaults fill what is not given
    assert cfg.measure.protocol == "http"
    assert cfg.baseline.runs == 3


def test_baseline_store_url_is_kept_as_is(tmp_path: Path) -> None:
    """An fsspec URL is not a path: it must not be resolved against the config's folder."""
    path = write(
        tmp_path,
        "gate.yaml",
        "model: {name: m, repository: repo}\ntraffic: {path: t.jsonl}\n"
        "baseline: {store: 's3://bucket/gate/baselines'}\n",
    )
    assert load_config(path).baseline.store == "s3://bucket/gate/baselines"


def test_config_defaults_resolve_against_its_folder_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "gate.yaml",
        "model: {name: m, repository: repo}\ntraffic: {path: t.jsonl}\n",
    )
    cfg = load_config(path)
    folder = tmp_path.resolve()
    assert cfg.baseline.store == str(folder / ".gate" / "baselines")
    assert cfg.reports.dir == folder / "reports"
    assert cfg.policy is None
    assert cfg.launcher.tritonserver is None


def test_repo_example_config_loads() -> None:
    path = ROOT / "examples" / "demo" / "gate.yaml"
    cfg = load_config(path)
    assert cfg.policy is not None
    assert cfg.policy.resolve() == (POLICIES / "demo.yaml").resolve()
    # the demo's policy is the default one (an undecided check blocks)
    assert load_policy(cfg.policy) == Policy()
    assert cfg.baseline.model_dir == (ROOT / "fixtures" / "models" / "v1").resolve()


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "gate.yaml", VALID_CONFIG + "polcy: strict.yaml\n")
    err = config_error(path)
    assert "gate.yaml" in err.message
    assert "unknown" in err.message
    assert "'polcy'" in err.message
    assert err.hint is not None
    for key in ("model", "traffic", "policy", "launcher", "measure", "baseline", "reports"):
        assert key in err.hint


def test_unknown_nested_key_names_dotted_field_and_allowed_keys(tmp_path: Path) -> None:
    text = VALID_CONFIG.replace("startup_timeout_s: 30", "startup_timout_s: 30")
    path = write(tmp_path, "my-gate.yaml", text)
    err = config_error(path)
    assert "my-gate.yaml" in err.message
    assert "unknown" in err.message
    assert "launcher.startup_timout_s" in err.message
    assert err.hint is not None
    assert "startup_timeout_s" in err.hint
    assert "load_timeout_s" in err.hint
    assert "startup_timeout_s" in err.diagnostics()


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    text = VALID_CONFIG.replace("startup_timeout_s: 30", "startup_timeout_s: soon")
    err = config_error(write(tmp_path, "gate.yaml", text))
    assert "gate.yaml" in err.message
    assert "launcher.startup_timeout_s" in err.message
    assert "soon" in err.message


def test_out_of_range_value_names_the_field(tmp_path: Path) -> None:
    text = VALID_CONFIG.replace("store: ../store", "store: ../store\n  runs: 1")
    err = config_error(write(tmp_path, "gate.yaml", text))
    assert "baseline.runs" in err.message


def test_missing_required_field(tmp_path: Path) -> None:
    text = "model: {name: demo, repository: models}\n"
    err = config_error(write(tmp_path, "gate.yaml", text))
    assert "traffic" in err.message
    assert "missing" in err.message
    nested = "model: {name: demo}\ntraffic: {path: t.jsonl}\n"
    err = config_error(write(tmp_path, "gate2.yaml", nested))
    assert "model.repository" in err.message
    assert "missing" in err.message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    err = config_error(path)
    assert "nope.yaml" in err.message
    assert "not found" in err.message
    err = config_error(path, load_policy)
    assert "nope.yaml" in err.message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    text = "version: 1\nmodel:\n  name: demo\n  repository: [unclosed\ntraffic: {path: t}\n"
    err = config_error(write(tmp_path, "gate.yaml", text))
    assert "gate.yaml" in err.message
    assert "YAML" in err.message
    assert "line" in err.message
    tab = "version: 1\nmodel:\n\tname: demo\n"
    err = config_error(write(tmp_path, "tab.yaml", tab))
    assert "line 3" in err.message


def test_yaml_that_is_a_list(tmp_path: Path) -> None:
    err = config_error(write(tmp_path, "gate.yaml", "- model\n- traffic\n"))
    assert "mapping" in err.message
    assert "list" in err.message
    err = config_error(write(tmp_path, "policy.yaml", "- 1\n"), load_policy)
    assert "policy.yaml" in err.message
    assert "mapping" in err.message


def test_empty_config_reports_missing_fields(tmp_path: Path) -> None:
    err = config_error(write(tmp_path, "gate.yaml", ""))
    assert "missing" in err.message


def test_wrong_version(tmp_path: Path) -> None:
    err = config_error(
        write(tmp_path, "gate.yaml", VALID_CONFIG.replace("version: 1", "version: 2"))
    )
    assert "version" in err.message


# --------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------


def test_policy_duplicate_percentiles(tmp_path: Path) -> None:
    text = "latency:\n  tails:\n    - {percentile: 95}\n    - {percentile: 95, tolerance: 0.2}\n"
    err = config_error(write(tmp_path, "p.yaml", text), load_policy)
    assert "p.yaml" in err.message
    assert "latency.tails" in err.message
    assert "once" in err.message


@pytest.mark.parametrize("alpha", ["0", "0.5", "1.2", "-0.01"])
def test_policy_alpha_out_of_range(tmp_path: Path, alpha: str) -> None:
    err = config_error(write(tmp_path, "p.yaml", f"alpha: {alpha}\n"), load_policy)
    assert "'alpha'" in err.message


def test_policy_unknown_nested_key(tmp_path: Path) -> None:
    text = "latency:\n  shift:\n    tolerence: 0.1\n"
    err = config_error(write(tmp_path, "p.yaml", text), load_policy)
    assert "p.yaml" in err.message
    assert "unknown" in err.message
    assert "latency.shift.tolerence" in err.message
    assert err.hint is not None and "tolerance" in err.hint and "mode" in err.hint


def test_policy_unknown_key_inside_list_item(tmp_path: Path) -> None:
    text = "latency:\n  tails:\n    - {percentile: 95, tolerence: 0.2}\n"
    err = config_error(write(tmp_path, "p.yaml", text), load_policy)
    assert "latency.tails[0].tolerence" in err.message
    assert "unknown" in err.message
    assert err.hint is not None and "percentile" in err.hint


def test_policy_bad_mode_and_percentile(tmp_path: Path) -> None:
    err = config_error(
        write(tmp_path, "p.yaml", "latency: {shift: {mode: lenient}}\n"), load_policy
    )
    assert "latency.shift.mode" in err.message
    err = config_error(
        write(tmp_path, "q.yaml", "latency: {tails: [{percentile: 100}]}\n"), load_policy
    )
    assert "latency.tails[0].percentile" in err.message


def test_default_policy_file_equals_builtin_defaults() -> None:
    assert load_policy(ROOT / "gate" / "data" / "policy.yaml") == Policy()
    assert load_policy(None) == Policy()


def test_repo_policies_load() -> None:
    strict = load_policy(POLICIES / "strict.yaml")
    assert strict.latency.shift.tolerance == 0.03
    assert [t.percentile for t in strict.latency.tails] == [95, 99]
    assert strict.latency.min_baseline_runs == 3
    only = load_policy(POLICIES / "latency-only.yaml")
    assert only.latency.tails == ()
    assert only.latency.shift.mode is Mode.REGRESSION


def test_policy_is_frozen() -> None:
    with pytest.raises(ValueError):
        Policy().alpha = 0.1  # type: ignore[misc]
