"""Issue 15, items 2 and 5: no secret in any message or report, and ``gate report`` reads no
file a run.json names outside the workspace and the store.

The redaction is one function (``gate.redact.redact``) behind every error, every report and
the command line's output streams; the hostile corpus greps every case's output and written
files for planted secrets, and these tests add the end-to-end record: the reports of a run
whose error held a secret, and the run.json still verifying after redaction.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from conftest import FIXTURES, run_gate
from lifecycle_helpers import ENV, baseline, run_result

from gate.baselines.store import current_key, env_key, save_baseline
from gate.result import BaselineRef, RunResult

WEBHOOK = "https://hooks.slack.com/services/T0AAA/B0BBB/PLANTEDsecretXYZ"
TOKEN = "ghp_PLANTED0123456789abcdefghijklmnopqr"


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        (f"got {WEBHOOK!r}", "PLANTEDsecretXYZ", "hooks.slack.com"),
        ("s3://AKIAABCDEFGHIJKLMNOP:pw@bucket/x", "AKIAABCDEFGHIJKLMNOP", "bucket/x"),
        ("https://user:hunter2hunter2@h:9000/p", "hunter2hunter2", "h:9000/p"),
        ("/repo/https:/user:hunter2hunter2@h/p: not found", "hunter2hunter2", "not found"),
        ("https://h/x?X-Amz-Signature=abcdef&x=1", "abcdef", "x=1"),
        (f"token {TOKEN} used", TOKEN, "used"),
        ("Authorization: Bearer abc.def-ghi_jkl123", "abc.def-ghi_jkl123", "Authorization"),
        ("xoxb-1234567890-abcdefghij in a log", "xoxb-1234567890", "in a log"),
    ],
)
def test_redact_masks_secrets_and_keeps_the_rest(text: str, gone: str, kept: str) -> None:
    from gate.redact import redact

    out = redact(text, {})
    assert gone not in out and kept in out and "***" in out


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + "ab" * 32,
        '{"b64": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "dtype": "<f4"}',
        "https://example.com/docs?page=2",
        "/tmp/reports/run.json: cannot write",
        "launcher.url: http://127.0.0.1:8000",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    from gate.redact import redact

    assert redact(text, {}) == text


def test_the_values_of_secret_variables_are_masked_wherever_they_appear() -> None:
    from gate.redact import redact, secret_values

    env = {"GATE_SLACK_WEBHOOK": "opaque-value-42", "MY_API_TOKEN": "tok-99-abcdef", "HOME": "/r"}
    assert set(secret_values(env)) == {"opaque-value-42", "tok-99-abcdef"}  # not HOME
    assert redact("x opaque-value-42 y tok-99-abcdef /r", env) == "x *** y *** /r"


def test_a_run_whose_error_holds_secrets_writes_none_and_still_verifies(tmp_path: Path) -> None:
    """gate check with a token in a path and a webhook in the environment: the error line,
    the summary and every report file are clean, and run.json (redacted, then sealed) still
    verifies, so promote and report can trust it."""
    cfg = tmp_path / "gate.yaml"
    cfg.write_text(
        f"version: 1\nmodel: {{name: demo, repository: {tmp_path / TOKEN}}}\n"
        f"traffic: {{path: {FIXTURES / 'traffic' / 'demo-small.jsonl'}}}\n"
        f"reports: {{dir: {tmp_path / 'reports'}}}\nbaseline: {{store: {tmp_path / 'store'}}}\n"
    )
    res = run_gate("check", str(cfg), "-q", env={"GATE_SLACK_WEBHOOK": WEBHOOK}, timeout=120)
    assert res.returncode == 2, res.output
    assert "model.repository" in res.stderr
    for text in (res.stdout, res.stderr):
        assert TOKEN not in text and "PLANTED" not in text
    written = list((tmp_path / "reports").iterdir())
    assert {p.name for p in written} >= {"run.json", "junit.xml", "summary.md"}
    for p in written:
        assert b"PLANTED" not in p.read_bytes(), p.name
    from gate.result import verify_integrity

    run = RunResult.from_json((tmp_path / "reports" / "run.json").read_bytes())
    assert run.error is not None and "***" in run.error.message
    assert verify_integrity(run, None) == []


# --------------------------------------------------------------------------------------
# gate report reads only under the workspace or the store
# --------------------------------------------------------------------------------------


def _run_with_baseline_at(path: Path, tmp_path: Path) -> Path:
    r = run_result()
    r.baseline = BaselineRef(
        path=str(path),
        recorded_at="2026-11-28T00:00:00+00:00",
        runs=3,
        model_digest="sha256:" + "11" * 32,
        traffic_digest="sha256:" + "ab" * 32,
    )
    rj = tmp_path / "ws" / "run.json"
    rj.parent.mkdir(parents=True, exist_ok=True)
    rj.write_text(r.to_json())
    return rj


def test_report_does_not_read_a_file_named_outside_the_workspace(tmp_path: Path) -> None:
    """Once: --format html read whatever baseline.path named and printed its first bytes
    (of /etc/shadow)."""
    secret = tmp_path / "elsewhere" / "shadow"
    secret.parent.mkdir()
    secret.write_bytes(gzip.compress(b"root:PLANTEDhash:19000::::::") + b"tail")
    rj = _run_with_baseline_at(secret, tmp_path)
    out = rj.parent / "report.html"  # a file: run_gate's pipes hold only 64 KiB
    res = run_gate("report", str(rj), "--format", "html", "-o", str(out), cwd=rj.parent)
    assert res.returncode == 0, res.output
    assert "PLANTED" not in res.output + out.read_text() and "root:" not in res.output
    assert "outside the workspace" in res.stderr


def test_report_still_reads_the_baseline_inside_the_workspace(tmp_path: Path) -> None:
    store = tmp_path / "ws" / "store"
    save_baseline(store, baseline("x"))
    rj = _run_with_baseline_at(store / current_key("demo", env_key(ENV)), tmp_path)
    out = rj.parent / "report.html"
    res = run_gate("report", str(rj), "--format", "html", "-o", str(out), cwd=rj.parent)
    assert res.returncode == 0, res.output
    assert "no baseline samples" not in res.stderr, res.stderr
    assert out.stat().st_size > 0
