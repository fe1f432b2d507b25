"""CLI behaviour that needs no server: bad input is exit 2 with the file and field named,
every failure of every command goes through one error path."""

from __future__ import annotations

import gzip
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, ROOT, run_gate, write_config
from scenario import gate_run

from gate.cli.group import GateGroup
from gate.cli.main import cli
from gate.errors import ConfigError, InfraError
from gate.report.json import _HINT
from gate.signals import Terminated


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
    r = gate_run(tmp_path, traffic=bad)
    assert r.returncode == 2, r.output
    assert "bad.jsonl:6" in r.output and "b64" in r.output
    assert r.run["error"]["exit_code"] == 2  # partial results still produce a report


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


# --------------------------------------------------------------------------------------
# one error path: GateGroup, for CliRunner and the real process alike
# --------------------------------------------------------------------------------------


def _toy() -> click.Group:
    """A group of commands that fail in each way a gate command can."""

    @click.group(cls=GateGroup)
    def toy() -> None:
        pass

    @toy.group(cls=GateGroup)
    def sub() -> None:
        pass

    @toy.command()
    def infra() -> None:
        raise InfraError("the server\nfell over", hint="retry")

    @sub.command()
    def bad() -> None:
        raise ConfigError("x.yaml: field 'a': wrong")

    @toy.command()
    def ctrl_c() -> None:
        raise KeyboardInterrupt

    @toy.command()
    def term() -> None:
        raise Terminated

    @toy.command()
    def bug() -> None:
        raise ValueError("oops")

    return toy


@pytest.mark.parametrize(
    ("args", "code", "last_line"),
    [
        (["infra"], 3, "gate: error: the server\\nfell over — retry"),
        (["sub", "bad"], 2, "gate: error: x.yaml: field 'a': wrong"),
        (["ctrl-c"], 130, "gate: interrupted"),
        (["term"], 130, "gate: interrupted"),
        (
            ["bug"],
            3,
            "gate: error: unexpected ValueError: oops — this is a bug in gate; please "
            "report it with the traceback above",
        ),
        # click's usage errors too: one line (not Usage/Try/Error), exit 2
        (["nope"], 2, "gate: error: No such command 'nope'. — see 'toy --help'"),
    ],
)
def test_group_maps_every_failure_to_one_line_and_its_code(
    args: list[str], code: int, last_line: str
) -> None:
    res = CliRunner().invoke(_toy(), args)
    assert res.exit_code == code, res.output
    assert res.stdout == ""
    assert res.stderr.strip().splitlines()[-1] == last_line
    if code != 3 or "bug" not in args:
        assert "Traceback" not in res.stderr


def test_the_real_cli_and_its_process_fail_alike(tmp_path: Path) -> None:
    """`main()` in a process and click's CliRunner print the same line, exit the same code."""
    missing = tmp_path / "missing.json"
    res = CliRunner().invoke(cli, ["report", str(missing)])
    proc = run_gate("report", str(missing))
    assert (res.exit_code, proc.returncode) == (2, 2)
    assert (
        res.stderr
        == proc.stderr
        == f"gate: error: {missing}: cannot read: file not found — {_HINT}\n"
    )


def _bad_run_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Broken run.json files and words their error must contain."""
    cases = {
        "folder": (b"", "is a folder, not a run.json"),
        "binary": (b"\x1f\x8b\x08\x00\xff\xfe", "not a text file"),
        "not json": (b'{"schema": "gate-run/1",', "not valid JSON"),
        "empty": (b"", "not valid JSON"),
        "future schema": (b'{"schema": "gate-run/9", "new": 1}', "another version of gate"),
        "other schema": (b'{"schema": "gate-traffic/1"}', "not a gate run record"),
        "array": (b"[1, 2]", "a JSON array, not an object"),
        "bad field": (b'{"schema": "gate-run/1", "run_id": 5}', "field 'run_id'"),
    }
    out = {}
    for name, (data, words) in cases.items():
        path = tmp_path / name.replace(" ", "-")
        if name == "folder":
            path.mkdir()
        else:
            path.write_bytes(data)
        out[name] = (path, words)
    return out


@pytest.mark.parametrize(
    "command",
    [
        ["report", "{}"],
        ["report", "render", "{}", "--format", "html"],
        ["report", "merge", "{}", "--out", "{out}"],
        ["report", "append", "{out}/h.jsonl", "{}"],
        ["baseline", "promote", "{}", "--store", "{out}/store"],
        ["notify", "{}", "--dry-run"],
    ],
    ids=" ".join,
)
def test_every_reader_of_run_json_refuses_a_bad_one_with_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    out = tmp_path / "out"
    for name, (path, words) in _bad_run_files(tmp_path).items():
        args = [a.replace("{}", str(path)).replace("{out}", str(out)) for a in command]
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 2, (name, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, (name, res.stderr)
        assert lines[0].startswith(f"gate: error: {path}: "), (name, lines[0])
        assert words in lines[0], (name, lines[0])
    assert not (out / "store").exists()  # nothing promoted
