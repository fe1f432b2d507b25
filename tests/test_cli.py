"""CLI behaviour that needs no server: bad input is exit 2 with the file and field named."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, run_gate, write_config


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    return write_config(tmp_path / "gate.yaml", store=tmp_path / "s", reports=tmp_path / "r")


def _edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ("  startup_timeout_s: 60", "  startup_timout_s: 60", "launcher.startup_timout_s"),
        ("  startup_timeout_s: 60", "  startup_timeout_s: soon", "launcher.startup_timeout_s"),
        ("  name: demo", "  name: [demo", "not valid YAML"),
        ("  runs: 4", "  runs: 0", "baseline.runs"),
    ],
)
def test_malformed_config_is_exit_2(good: Path, old: str, new: str, expect: str) -> None:
    _edit(good, old, new)
    res = run_gate("check", str(good))
    assert res.returncode == 2, res.output
    assert expect in res.stderr
    assert str(good) in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1  # one line


def test_missing_config_is_exit_2(tmp_path: Path) -> None:
    res = run_gate("check", str(tmp_path / "nope.yaml"))
    assert res.returncode == 2
    assert "nope.yaml" in res.stderr and "not found" in res.stderr


def test_malformed_policy_is_exit_2(tmp_path: Path) -> None:
    pol = tmp_path / "policy.yaml"
    pol.write_text("version: 1\nlatency:\n  shift:\n    tolerence: 0.05\n")
    cfg = write_config(
        tmp_path / "gate.yaml", store=tmp_path / "s", reports=tmp_path / "r", policy=pol
    )
    res = run_gate("check", str(cfg))
    assert res.returncode == 2, res.output
    assert "latency.shift.tolerence" in res.output
    assert "policy.yaml" in res.output


def test_malformed_traffic_is_exit_2_with_report(tmp_path: Path) -> None:
    lines = gzip.decompress((FIXTURES / "traffic" / "demo.jsonl.gz").read_bytes()).splitlines()
    lines[5] = lines[5].replace(b'"b64":"', b'"b64":"!!')
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join(lines) + b"\n")
    cfg = write_config(
        tmp_path / "gate.yaml", store=tmp_path / "s", reports=tmp_path / "r", traffic=bad
    )
    res = run_gate("check", str(cfg))
    assert res.returncode == 2, res.output
    assert "bad.jsonl:6" in res.output and "b64" in res.output
    assert (tmp_path / "r" / "run.json").is_file()  # partial results still produce a report


def test_check_without_baseline_is_exit_2(good: Path) -> None:
    res = run_gate("check", str(good))
    assert res.returncode == 2, res.output
    assert "gate baseline record" in res.output


def test_traffic_inspect() -> None:
    res = run_gate("traffic", "inspect", str(FIXTURES / "traffic" / "demo.jsonl.gz"))
    assert res.returncode == 0, res.output
    assert "400" in res.stdout and "INPUT0" in res.stdout and "FP32" in res.stdout


def test_help_is_fast_and_lists_commands() -> None:
    res = run_gate("--help")
    assert res.returncode == 0
    for cmd in ("check", "baseline", "replay", "traffic", "report", "doctor"):
        assert cmd in res.stdout


def test_report_rerenders_a_saved_run(tmp_path: Path) -> None:
    from gate.result import RunResult, Verdict

    r = RunResult(
        run_id="x", command="check", gate_version="0", started_at="now", verdict=Verdict.PASS
    )
    p = tmp_path / "run.json"
    p.write_text(r.to_json())
    res = run_gate("report", str(p), "--format", "junit")
    assert res.returncode == 0 and "<testsuite" in res.stdout
    p.write_text("{}")
    res = run_gate("report", str(p))
    assert res.returncode == 2 and "run.json" in res.stderr


assert ROOT.is_dir()
