"""``gate check --set KEY=VALUE``: config overrides (the action's launcher/policy/store inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, run_gate, write_config

from gate.config.config import apply_overrides, load_config
from gate.errors import ConfigError


def test_values_are_yaml_and_nested_keys_are_created() -> None:
    data = {"measure": {"runs": 1, "protocol": "http"}}
    out = apply_overrides(
        data,
        [
            "measure.runs=3",
            "launcher.kind=local",
            "notify.events=[blocked, recovery]",
            "policy=/abs/p.yaml",
            "launcher.extra_args=[--log-verbose=1]",
        ],
    )
    assert out["measure"] == {"runs": 3, "protocol": "http"}
    assert out["launcher"] == {"kind": "local", "extra_args": ["--log-verbose=1"]}
    assert out["notify"]["events"] == ["blocked", "recovery"]
    assert out["policy"] == "/abs/p.yaml"
    assert data == {"measure": {"runs": 1, "protocol": "http"}}  # input untouched


@pytest.mark.parametrize("bad", ["measure.runs", "=3", "measure..runs=3"])
def test_malformed_override(bad: str) -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, [bad])


def test_overrides_are_validated_and_paths_resolved(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "gate.yaml", store=tmp_path / "s", reports=tmp_path / "r")
    loaded = load_config(cfg, ["policy=other.yaml", "measure.runs=2"])
    assert loaded.policy == tmp_path / "other.yaml"  # relative to the config, like in it
    assert loaded.measure.runs == 2
    with pytest.raises(ConfigError) as info:
        load_config(cfg, ["measure.runz=2"])
    assert "(with --set)" in info.value.message and "measure.runz" in info.value.message


def test_check_set_on_the_command_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "gate.yaml", store=tmp_path / "s", reports=tmp_path / "r")
    res = run_gate("check", str(cfg), "--set", "launcher.kind=martian", cwd=ROOT)
    assert res.returncode == 2
    assert "launcher.kind" in res.stderr and "(with --set)" in res.stderr
