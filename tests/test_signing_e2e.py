"""End to end with the real CLI: signatures are checked before anything is started.

A tampered model must be BLOCKED (exit 1) by ``gate check`` and ``gate baseline record``
without a single child process (no tritonserver, no perf_analyzer); a signed model passes
the stage and its signatures land in run.json, junit.xml and summary.md.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, run_gate
from scenario import SHORT_AA_POLICY, GateRun, gate_run, gate_yaml

STRICT = f"""
signatures:
  required: true
  rules:
    - method: cosign-key
      key: {FIXTURES / "keys" / "TEST-ONLY-cosign.pub"}
"""


def _tampered_repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    shutil.copytree(FIXTURES / "models" / "v1", repo)
    with (repo / "demo" / "1" / "model.py").open("a") as fh:
        fh.write("\nimport os  # a change nobody signed\n")
    return repo


@pytest.mark.parametrize("command", [("check",), ("baseline", "record")])
def test_tampered_model_is_blocked_before_anything_starts(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    r = gate_run(tmp_path, *command, timeout=120, repository=_tampered_repo(tmp_path), extra=STRICT)
    assert r.returncode == 1, r.output
    names = r.completed.names
    servers = {n for n in names if n.startswith(("tritonserver", "perf_analyzer", "triton"))}
    assert not servers, f"servers were started: {servers}"  # short helpers (git) are fine
    out, run = r.reports, r.run
    assert run["verdict"] == "BLOCKED" and run["error"] is None
    assert [s["name"] for s in run["stages"]] == ["config", "signatures"]
    (check,) = run["checks"]
    assert check["name"] == "signatures" and check["status"] == "fail" and check["critical"]
    reason = check["reason"]
    assert "\n" not in reason and "demo/1/model.py" in reason and "does not verify" in reason
    statuses = {a["path"]: a["status"] for a in run["signatures"]["artifacts"]}
    assert statuses == {"1/model.py": "failed", "config.pbtxt": "verified"}
    assert "1/model.py" in r.stdout  # the console line names the file
    if command == ("check",):
        tree = ET.parse(out / "junit.xml")
        names = {c.get("name"): c for c in tree.iter("testcase")}
        bad = names["signature: 1/model.py"]
        assert bad.find("failure") is not None
        good = names["signature: config.pbtxt"]
        assert good.find("failure") is None and good.find("error") is None
        md = (out / "summary.md").read_text()
        assert "### Signatures" in md and "TEST-ONLY-cosign.pub" in md
        assert "BLOCKED" in md


def test_no_trusted_signer_blocks_by_default(tmp_path: Path) -> None:
    """A policy with no signatures: section anywhere trusts no one (fail closed)."""
    cfg = gate_yaml(tmp_path)
    text = cfg.read_text()
    start, end = text.index("signatures:"), text.index("reports:")
    cfg.write_text(text[:start] + text[end:])
    r = GateRun(run_gate("check", str(cfg), timeout=120), cfg, tmp_path / "r")
    assert r.returncode == 1, r.output
    assert not {n for n in r.completed.names if n.startswith(("tritonserver", "perf_analyzer"))}
    assert "trusts any signer" in r.run["checks"][0]["reason"]


@pytest.mark.server
def test_signed_model_passes_the_stage_and_is_reported(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = recorded_baseline
    r = gate_run(tmp_path, store=store, policy=SHORT_AA_POLICY, extra=STRICT)
    assert r.returncode == 0, r.output
    run = r.run
    assert run["stages"][1]["name"] == "signatures"
    sig = run["signatures"]
    assert sig["ok"] and {a["status"] for a in sig["artifacts"]} == {"verified"}
    assert {a["path"] for a in sig["artifacts"]} == {"1/model.py", "config.pbtxt"}
    # the server read a private copy: its bytecode did not land in the fixture repository
    assert not list((FIXTURES / "models" / "v1").rglob("__pycache__"))


def test_fixture_signatures_are_fresh() -> None:
    """Changed a fixture model? Run: .venv/bin/python fixtures/sign_models.py"""
    res = run_gate("verify", "--config", str(ROOT / "examples" / "demo" / "gate.yaml"))
    assert res.returncode == 0, res.output
    import subprocess
    import sys

    chk = subprocess.run(
        [sys.executable, str(FIXTURES / "sign_models.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert chk.returncode == 0, chk.stdout + chk.stderr
