"""Notifications against a real HTTP server this test starts on 127.0.0.1.

The server is ``http.server`` in a thread: it records every request and answers with the
status codes (and delays) a test scripts, so payloads, retries, timeouts and refused
connections are the real urllib/socket behaviour, not mocks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, gate_cmd, run_gate, write_config

from gate.config.config import NotifyConfig, load_config
from gate.errors import ConfigError
from gate.report.notify import event_for, post_json, previous_verdict, redact, send_notifications
from gate.result import CheckResult, CheckStatus, ErrorInfo, ModelInfo, RunResult, Verdict

SECRET_PATH = "/services/T0SECRET/B0SECRET/xoxSECRETTOKEN"


@dataclass
class Hook:
    """A scripted webhook: ``statuses`` are answered in order (the last one repeats)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delay_s: float = 0.0
    retry_after: str | None = None  # sent with every answer that is not 2xx
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{SECRET_PATH}"


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            state.requests.append(
                {
                    "path": self.path,
                    "content_type": self.headers.get("Content-Type"),
                    "body": json.loads(body),
                }
            )
            i = min(len(state.requests) - 1, len(state.statuses) - 1)
            if state.delay_s:
                time.sleep(state.delay_s)
            code = state.statuses[i]
            try:
                self.send_response(code)
                if state.retry_after is not None and code >= 300:
                    self.send_header("Retry-After", state.retry_after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback only: a proxy set in the environment must not take the test's requests."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def _run(verdict: Verdict = Verdict.BLOCKED, *, error: bool = False) -> RunResult:
    checks = [
        CheckResult(
            name="latency shift",
            metric="latency",
            status=CheckStatus.FAIL if verdict == Verdict.BLOCKED else CheckStatus.PASS,
            mode="regression",
            tolerance=0.05,
            effect=0.123,
            ci_low=0.101,
            ci_high=0.142,
            p_adjusted=0.0004,
            reason="slower by 12.3% <more than the tolerance>",
        ),
        CheckResult(
            name="latency p95", metric="latency", status=CheckStatus.PASS, mode="regression"
        ),
    ]
    return RunResult(
        run_id="run-42",
        command="check",
        gate_version="0.1.0",
        started_at="2026-11-28T03:00:00+00:00",
        model=ModelInfo(name="resnet50", repository="/m", digest="sha256:abc"),
        checks=checks,
        verdict=verdict,
        error=(
            ErrorInfo(kind="ServerError", message="tritonserver exited", exit_code=3)
            if error
            else None
        ),
    )


GH_ENV = {
    "GITHUB_SERVER_URL": "https://github.example",
    "GITHUB_REPOSITORY": "acme/models",
    "GITHUB_RUN_ID": "777",
    "GITHUB_SHA": "0123456789abcdef",
}


def _cfg(**kw: Any) -> NotifyConfig:
    base: dict[str, Any] = {"timeout_s": 2, "retries": 2}
    base.update(kw)
    return NotifyConfig(**base)


def test_blocked_posts_slack_block_kit_with_checks_and_report_link(hook: Hook) -> None:
    env = {**GH_ENV, "GATE_SLACK_WEBHOOK": hook.url}
    notices = send_notifications(_run(), _cfg(), env=env)
    assert [n.level for n in notices] == ["info", "info"], notices  # slack sent, webhook unset
    assert len(hook.requests) == 1
    req = hook.requests[0]
    assert req["path"] == SECRET_PATH
    assert req["content_type"] == "application/json"
    body = req["body"]
    assert "BLOCKED" in body["text"] and "resnet50" in body["text"]
    assert "https://github.example/acme/models/actions/runs/777" in body["text"]
    blocks = body["blocks"]
    assert blocks[0]["type"] == "header"
    assert all(len(b["text"]["text"]) <= 150 for b in blocks if b["type"] == "header")
    text = json.dumps(blocks)
    assert "latency shift" in text and "+12.3%" in text and "tolerance 5.0%" in text
    assert "latency p95" not in text  # only the failing checks
    assert "&lt;more than the tolerance&gt;" in text  # mrkdwn escaped
    button = next(b for b in blocks if b["type"] == "actions")["elements"][0]
    assert button["url"] == "https://github.example/acme/models/actions/runs/777"


def test_generic_webhook_payload(hook: Hook) -> None:
    env = {**GH_ENV, "HOOK": hook.url}
    send_notifications(
        _run(),
        _cfg(slack_webhook_env=None, webhook_env="HOOK"),
        env=env,
        report_url="https://reports.example/r/42",
    )
    body = hook.requests[0]["body"]
    assert body["schema"] == "gate-notify/1"
    assert body["event"] == "blocked"
    assert body["verdict"] == "BLOCKED"
    assert body["exit_code"] == 1
    assert body["model"] == "resnet50"
    assert body["report_url"] == "https://reports.example/r/42"  # explicit beats GitHub's
    assert body["ci"]["repository"] == "acme/models"
    [check] = body["failing_checks"]
    assert check["name"] == "latency shift"
    assert check["effect"] == pytest.approx(0.123)
    assert check["ci_low"] == pytest.approx(0.101)


def test_pass_does_not_notify_and_recovery_needs_the_previous_verdict(hook: Hook) -> None:
    env = {"GATE_SLACK_WEBHOOK": hook.url}
    cfg = _cfg(events=("blocked", "recovery"))
    assert send_notifications(_run(Verdict.PASS), cfg, env=env)[0].level == "info"
    assert hook.requests == []
    send_notifications(_run(Verdict.PASS), cfg, env=env, previous="BLOCKED")
    assert len(hook.requests) == 1
    assert "recovered" in hook.requests[0]["body"]["text"]
    # PASS after PASS is not a recovery; recovery not asked for: nothing either
    send_notifications(_run(Verdict.PASS), cfg, env=env, previous="PASS")
    send_notifications(_run(Verdict.PASS), _cfg(), env=env, previous="BLOCKED")
    assert len(hook.requests) == 1


def test_event_selection() -> None:
    assert event_for(_run(Verdict.INCONCLUSIVE), None, ["blocked"]) is None
    assert event_for(_run(Verdict.INCONCLUSIVE), None, ["inconclusive"]) == "inconclusive"
    assert event_for(_run(Verdict.ERROR, error=True), None, ["error"]) == "error"
    assert event_for(_run(Verdict.PASS), "ERROR", ["recovery"]) == "recovery"


def test_error_run_carries_the_error(hook: Hook) -> None:
    send_notifications(
        _run(Verdict.ERROR, error=True),
        _cfg(slack_webhook_env=None, webhook_env="H"),
        env={"H": hook.url},
    )
    body = hook.requests[0]["body"]
    assert body["event"] == "error" and body["exit_code"] == 3
    assert body["error"]["kind"] == "ServerError"


def test_server_error_is_retried_then_a_warning_without_the_url(hook: Hook) -> None:
    hook.statuses = [500]
    notices = send_notifications(_run(), _cfg(retries=2), env={"GATE_SLACK_WEBHOOK": hook.url})
    assert len(hook.requests) == 3  # one attempt + two retries, then it gives up
    [warning] = [n for n in notices if n.level == "warning"]
    assert "HTTP 500" in warning.message and "3 attempt" in warning.message
    for n in notices:
        assert "SECRET" not in n.message and str(hook.port) not in n.message


def test_transient_error_then_success(hook: Hook) -> None:
    hook.statuses = [503, 200]
    notices = send_notifications(_run(), _cfg(), env={"GATE_SLACK_WEBHOOK": hook.url})
    assert len(hook.requests) == 2
    assert not [n for n in notices if n.level == "warning"]
    assert any("after 2 attempts" in n.message for n in notices)


def test_retry_after_is_honoured_and_capped(hook: Hook) -> None:
    """Rate limited (429) with Retry-After: urllib3's Retry waits as asked, never longer
    than RETRY_AFTER_CAP_S, then the next attempt goes through."""
    from gate.report.notify import RETRY_AFTER_CAP_S

    hook.statuses, hook.retry_after = [429, 503, 200], "2"
    sleeps: list[float] = []
    assert post_json(hook.url, {"x": 1}, timeout=2, retries=2, sleep=sleeps.append) == 3
    assert sleeps == [2.0, 2.0] and len(hook.requests) == 3
    hook.requests.clear()
    hook.statuses, hook.retry_after, sleeps = [503, 200], "3600", []
    assert post_json(hook.url, {"x": 1}, timeout=2, retries=1, sleep=sleeps.append) == 2
    assert sleeps == [RETRY_AFTER_CAP_S]


def test_without_retry_after_the_backoff_grows_and_is_bounded(hook: Hook) -> None:
    hook.statuses = [500]
    sleeps: list[float] = []
    with pytest.raises(Exception, match=r"HTTP 500 .*after 5 attempt"):
        post_json(hook.url, {"x": 1}, timeout=2, retries=4, sleep=sleeps.append)
    assert sleeps == [0.5, 1.0, 2.0, 4.0] and len(hook.requests) == 5


def test_client_error_is_not_retried(hook: Hook) -> None:
    hook.statuses = [404]
    notices = send_notifications(_run(), _cfg(), env={"GATE_SLACK_WEBHOOK": hook.url})
    assert len(hook.requests) == 1
    assert any(n.level == "warning" and "HTTP 404" in n.message for n in notices)


def test_timeout_is_bounded_and_a_warning(hook: Hook) -> None:
    hook.delay_s = 1.5
    notices = send_notifications(
        _run(), _cfg(timeout_s=0.2, retries=1), env={"GATE_SLACK_WEBHOOK": hook.url}
    )
    [warning] = [n for n in notices if n.level == "warning"]
    assert "timed out" in warning.message and "2 attempt" in warning.message
    assert "SECRET" not in warning.message


def test_connection_refused_is_a_warning() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}{SECRET_PATH}"
    sleeps: list[float] = []
    with pytest.raises(Exception) as info:
        post_json(url, {"x": 1}, timeout=1, retries=2, sleep=sleeps.append)
    assert "refused" in str(info.value).lower()
    assert "SECRET" not in str(info.value) and str(port) not in str(info.value)
    assert len(sleeps) == 2 and all(0 < s <= 4 for s in sleeps)  # bounded backoff
    notices = send_notifications(_run(), _cfg(retries=0), env={"GATE_SLACK_WEBHOOK": url})
    assert any(n.level == "warning" and "refused" in n.message.lower() for n in notices)


def test_non_http_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret-file"
    secret.write_text("x")
    notices = send_notifications(_run(), _cfg(), env={"GATE_SLACK_WEBHOOK": f"file://{secret}"})
    [warning] = [n for n in notices if n.level == "warning"]
    assert "not http(s)" in warning.message and "secret-file" not in warning.message


def test_no_webhook_set_is_a_warning_when_an_event_fires() -> None:
    notices = send_notifications(_run(), _cfg(), env={})
    assert any(n.level == "warning" and "GATE_SLACK_WEBHOOK" in n.message for n in notices)


def test_redact_removes_every_identifying_part() -> None:
    url = "https://hooks.example/services/T1/B2/tok?x=secretq"
    msg = f"failed for {url} (hooks.example/services/T1/B2/tok) ?x=secretq /services/T1/B2/tok"
    out = redact(msg, url)
    assert "tok" not in out and "secretq" not in out


def test_previous_verdict_from_run_json_and_history(tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    run.write_text(_run(Verdict.BLOCKED).to_json())
    assert previous_verdict(run, "resnet50") == "BLOCKED"
    hist = tmp_path / "history.jsonl"
    hist.write_text(
        '{"model": "resnet50", "verdict": "BLOCKED"}\n'
        '{"model": {"name": "bert"}, "verdict": "PASS"}\n'
        '{"model": {"name": "resnet50"}, "verdict": "INCONCLUSIVE"}\n'
        '{"model": "bert", "verdict": "BLOCKED"}\n'
    )
    assert previous_verdict(hist, "resnet50") == "INCONCLUSIVE"
    assert previous_verdict(hist, "bert") == "BLOCKED"
    assert previous_verdict(tmp_path / "absent.jsonl", "bert") is None
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"verdict": "PASS"}\nnot json\n')
    with pytest.raises(ConfigError, match="line 2"):
        previous_verdict(bad, "bert")


# --------------------------------------------------------------------------------------
# config: the URL is a secret
# --------------------------------------------------------------------------------------

URL_LITERAL = "https://hooks.slack.com/services/T0/B0/committedSECRET"


@pytest.mark.parametrize(
    "section",
    [
        f"notify:\n  slack_webhook_env: {URL_LITERAL}\n",
        f"notify:\n  slack_webhook: {URL_LITERAL}\n",
        f"notify:\n  webhook_env: '{URL_LITERAL}'\n",
    ],
)
def test_url_literal_in_config_is_exit_2_without_echo(tmp_path: Path, section: str) -> None:
    cfg = write_config(
        tmp_path / "gate.yaml", store=tmp_path / "s", reports=tmp_path / "r", extra=section
    )
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert "committedSECRET" not in info.value.diagnostics()
    assert "notify." in info.value.message and "secret" in info.value.message
    res = run_gate("check", str(cfg))
    assert res.returncode == 2, res.output
    assert "committedSECRET" not in res.output
    assert res.output.count("\n") <= 2  # one line, not a traceback


def test_url_literal_through_set_is_refused(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "gate.yaml", store=tmp_path / "s", reports=tmp_path / "r")
    with pytest.raises(ConfigError) as info:
        load_config(cfg, [f"notify.webhook_env={URL_LITERAL}"])
    assert "committedSECRET" not in info.value.diagnostics()


def test_env_names_load(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "gate.yaml",
        store=tmp_path / "s",
        reports=tmp_path / "r",
        extra="notify:\n  events: [blocked, recovery]\n  slack_webhook_env: TEAM_SLACK\n",
    )
    n = load_config(cfg).notify
    assert n.events == ("blocked", "recovery") and n.slack_webhook_env == "TEAM_SLACK"


# --------------------------------------------------------------------------------------
# the CLI
# --------------------------------------------------------------------------------------


def _gate(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    full.update(env)
    return subprocess.run(
        gate_cmd(*args), capture_output=True, text=True, env=full, cwd=ROOT, timeout=120
    )


def test_gate_notify_cli_failure_is_exit_0_and_never_prints_the_url(
    hook: Hook, tmp_path: Path
) -> None:
    run = tmp_path / "run.json"
    run.write_text(_run().to_json())
    hook.statuses = [500]
    res = _gate(["notify", str(run)], {"GATE_SLACK_WEBHOOK": hook.url, "GITHUB_ACTIONS": ""})
    assert res.returncode == 0, res.stderr
    assert "warning" in res.stderr and "HTTP 500" in res.stderr
    assert "SECRET" not in res.stdout + res.stderr
    assert len(hook.requests) == 3  # default retries: 2


def test_gate_notify_cli_recovery_from_history(hook: Hook, tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    run.write_text(_run(Verdict.PASS).to_json())
    hist = tmp_path / "history.jsonl"
    hist.write_text('{"model": "resnet50", "verdict": "BLOCKED"}\n')
    res = _gate(
        ["notify", str(run), "--previous", str(hist), "--event", "recovery"],
        {"GATE_WEBHOOK_URL": hook.url},
    )
    assert res.returncode == 0, res.stderr
    assert hook.requests[0]["body"]["event"] == "recovery"
    assert hook.requests[0]["body"]["previous_verdict"] == "BLOCKED"


def test_gate_notify_dry_run_prints_payloads(tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    run.write_text(_run().to_json())
    res = _gate(["notify", str(run), "--dry-run"], {})
    assert res.returncode == 0, res.stderr
    assert '"channel": "slack"' in res.stdout and '"channel": "webhook"' in res.stdout


@pytest.mark.server
def test_check_with_failing_notification_keeps_verdict_and_hides_url(
    recorded_baseline: tuple[Path, Path], tmp_path: Path, hook: Hook
) -> None:
    """The real gate check: Slack answers 500, the JSON webhook works. The exit code is the
    verdict's, run.json carries a warning, and the URL is in no report and no output."""
    store, _ = recorded_baseline
    policy = tmp_path / "policy.yaml"
    # a short sampling budget: any verdict notifies here (the exit code is checked against
    # it), and the default 120 s of sampling an unchanged model would add nothing to the test
    policy.write_text("version: 1\nalpha: 0.001\nab: {max_duration_s: 15}\n")
    cfg = write_config(
        tmp_path / "gate.yaml",
        store=store,
        reports=tmp_path / "r",
        policy=policy,
        extra="notify:\n  events: [blocked, inconclusive, error, recovery]\n  retries: 1\n",
    )
    prev = tmp_path / "prev.json"
    prev.write_text(_run(Verdict.BLOCKED).to_json().replace("resnet50", "demo"))
    good: dict[str, Any] = {}

    # a second server for the JSON webhook: reuse the fixture's handler by a second hook
    hook.statuses = [500]
    other = _second_hook(good)
    try:
        env = {
            "GATE_SLACK_WEBHOOK": hook.url,
            "GATE_WEBHOOK_URL": other[0],
            "GITHUB_ACTIONS": "",
        }
        res = _gate(["check", str(cfg), "--notify", "--previous", str(prev)], env)
    finally:
        other[1].shutdown()
        other[1].server_close()
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    expected = {"PASS": 0, "BLOCKED": 1, "INCONCLUSIVE": 1}.get(run["verdict"], 3)
    assert res.returncode == expected, res.stderr
    assert len(hook.requests) == 2  # 500, retried once
    assert any("slack notification" in w and "HTTP 500" in w for w in run["warnings"])
    assert good["body"]["model"] == "demo"
    assert good["body"]["previous_verdict"] == "BLOCKED"
    everything = res.stdout + res.stderr
    for f in (tmp_path / "r").rglob("*"):
        if f.is_file():
            everything += f.read_text(errors="replace")
    assert "SECRET" not in everything


def _second_hook(store: dict[str, Any]) -> tuple[str, ThreadingHTTPServer]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", "0"))
            store["body"] = json.loads(self.rfile.read(n))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hook/SECRET2", server
