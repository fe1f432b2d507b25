"""Reports are pure functions of a RunResult: JSON, JUnit, Markdown, console text, files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from gate.errors import ConfigError, InfraError
from gate.evidence import Sampling, SamplingLook
from gate.report import FILENAMES, FORMATS, FORMATS_DEFAULT, render, write_reports
from gate.report.json import render_json
from gate.report.junit import render_junit
from gate.report.markdown import STAGE_STATUS, VERDICT_EMOJI, escape_cell, render_markdown
from gate.report.text import (
    STATUS_TAGS,
    describe_check,
    fmt_p,
    fmt_pct,
    render_console,
    sampling_line,
    summary_line,
)
from gate.result import (
    BaselineRef,
    CheckResult,
    CheckStatus,
    ErrorInfo,
    ModelInfo,
    RunResult,
    StageResult,
    StageStatus,
    TrafficInfo,
    Verdict,
)

# --------------------------------------------------------------------------------------
# Hand-built results
# --------------------------------------------------------------------------------------


def _check(name: str, status: CheckStatus = CheckStatus.PASS, **kw: Any) -> CheckResult:
    values: dict[str, Any] = {
        "metric": "latency",
        "mode": "regression",
        "tolerance": 0.10,
        "effect": 0.012,
        "ci_low": -0.01,
        "ci_high": 0.03,
        "confidence": 0.95,
        "p_value": 0.5,
        "p_adjusted": 1.0,
        "n": 400,
        "baseline_runs": 3,
        "mde": 0.04,
    }
    values.update(kw)
    return CheckResult(name=name, status=status, **values)


P95_FAIL = _check(
    "latency p95",
    CheckStatus.FAIL,
    effect=0.182,
    ci_low=0.12,
    ci_high=0.251,
    p_value=0.0004,
    p_adjusted=0.0012,
)


def _result(**kw: Any) -> RunResult:
    values: dict[str, Any] = {
        "run_id": "20261128-100000-abc123",
        "command": "check",
        "gate_version": "0.1.0",
        "started_at": "2026-11-28T10:00:00+00:00",
        "finished_at": "2026-11-28T10:01:00+00:00",
        "config_path": "gate.yaml",
        "model": ModelInfo(name="resnet50", repository="models", version="1", digest="sha256:m"),
        "traffic": TrafficInfo(
            path="traffic.jsonl", digest="sha256:t", requests=400, duration_s=1.6
        ),
        "environment": {"gpu": "NVIDIA H200", "triton": "2.51", "launcher": "local"},
        "baseline": BaselineRef(
            path=".gate/baselines/resnet50.json.gz",
            recorded_at="2026-11-27T09:00:00+00:00",
            runs=3,
            model_digest="sha256:m0",
            traffic_digest="sha256:t",
            git_commit="abc1234",
        ),
        "stages": [
            StageResult(name="load config", status=StageStatus.OK, seconds=0.01),
            StageResult(name="launch server", status=StageStatus.OK, seconds=2.5, detail="pid 42"),
            StageResult(name="replay", status=StageStatus.OK, seconds=12.0),
        ],
        "alpha": 0.05,
    }
    values.update(kw)
    return RunResult(**values)


def passing() -> RunResult:
    return _result(
        verdict=Verdict.PASS,
        checks=[
            _check("latency shift", tolerance=0.05),
            _check("latency p95"),
            _check("latency p99", tolerance=0.25),
        ],
    )


def blocked() -> RunResult:
    return _result(
        verdict=Verdict.BLOCKED,
        checks=[_check("latency shift", tolerance=0.05), P95_FAIL, _check("latency p99")],
        warnings=["baseline recorded with another driver | 550 vs 560"],
    )


def errored(log: str = "I1128 model loading\nE1128 failed to load 'resnet50'\n") -> RunResult:
    return _result(
        verdict=Verdict.ERROR,
        stages=[
            StageResult(name="load config", status=StageStatus.OK, seconds=0.01),
            StageResult(
                name="launch server",
                status=StageStatus.FAILED,
                seconds=60.0,
                detail="not ready after 60 s",
            ),
            StageResult(name="replay", status=StageStatus.SKIPPED, seconds=0.0),
        ],
        error=ErrorInfo(
            kind="ServerError",
            message="tritonserver did not become ready within 60 s",
            hint="look at the server log below; raise launcher.ready_timeout if it is slow",
            details="Traceback (most recent call last):\n  ...\nTimeoutError",
            exit_code=3,
        ),
        server_log_tail=log,
    )


def no_checks() -> RunResult:
    return _result(verdict=Verdict.MEASURED, command="replay", baseline=None)


# --------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.123, "+12.3%"),
        (-0.0456, "-4.6%"),
        (0.0, "+0.0%"),
        (-0.00001, "+0.0%"),
        (1.5, "+150.0%"),
        (None, "n/a"),
        (float("nan"), "n/a"),
        (float("inf"), "+inf"),
        (float("-inf"), "-inf"),
    ],
)
def test_fmt_pct(value: float | None, text: str) -> None:
    assert fmt_pct(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.5, "0.5"),
        (0.012345, "0.012"),
        (0.0004, "0.0004"),
        (0.00012, "0.00012"),
        (3.21e-7, "3.2e-7"),
        (9.4e-5, "9.4e-5"),
        (1.0, "1"),
        (0.0, "0"),
        (None, "n/a"),
    ],
)
def test_fmt_p(value: float | None, text: str) -> None:
    assert fmt_p(value) == text


def test_describe_failing_check() -> None:
    assert describe_check(P95_FAIL, alpha=0.05) == (
        "latency p95: +18.2% (95% CI +12.0% .. +25.1%) exceeds tolerance +10.0%; "
        "p=0.0004 (Holm-adjusted 0.0012), alpha 0.05, n=400, baseline 3 runs"
    )


def test_describe_passing_check_with_reason_and_confidence() -> None:
    check = _check(
        "latency shift",
        effect=-0.021,
        ci_low=-0.034,
        ci_high=-0.008,
        confidence=0.9,
        p_value=3.2e-7,
        p_adjusted=None,
        baseline_runs=1,
        candidate_runs=2,
        mde=0.031,
        reason="faster than the baseline\nby a margin",
    )
    assert describe_check(check) == (
        "latency shift: -2.1% (90% CI -3.4% .. -0.8%) within tolerance +10.0%; "
        "p=3.2e-7, n=400, baseline 1 run, candidate 2 runs, MDE +3.1%; "
        "faster than the baseline by a margin"
    )


def test_describe_unproven_pass_and_non_inferiority_fail() -> None:
    unproven = _check("latency p99", effect=0.15, ci_low=-0.02, ci_high=0.31, p_value=0.2)
    assert "+15.0% (95% CI -2.0% .. +31.0%) not shown to exceed tolerance +10.0%" in (
        describe_check(unproven)
    )
    ni = _check("accuracy", CheckStatus.FAIL, metric="accuracy", mode="non_inferiority")
    assert "not shown to be within tolerance +10.0%" in describe_check(ni)


def test_describe_error_skipped_and_bare_checks() -> None:
    err = CheckResult(
        name="memory peak", metric="memory", status=CheckStatus.ERROR, mode="regression",
        reason="no samples", critical=True,
    )  # fmt: skip
    assert describe_check(err) == "memory peak (critical): error: no samples"
    skip = CheckResult(
        name="accuracy", metric="accuracy", status=CheckStatus.SKIPPED, mode="regression"
    )
    assert describe_check(skip) == "accuracy: skipped: no reason given"
    bare = CheckResult(name="floor", metric="accuracy", status=CheckStatus.FAIL, mode="floor")
    assert describe_check(bare) == "floor: failed"


def test_every_check_status_has_a_tag_and_every_verdict_an_emoji() -> None:
    assert set(STATUS_TAGS) == set(CheckStatus)
    assert set(VERDICT_EMOJI) == set(Verdict)
    assert set(STAGE_STATUS) == set(StageStatus)


def test_summary_lines() -> None:
    assert summary_line(blocked()) == (
        "3 checks: 2 passed, 1 failed. "
        "Blocked: latency p95 is 18.2% slower than the baseline (tolerance 10%)."
    )
    assert summary_line(passing()) == (
        "3 checks: 3 passed. Passed on latency shift, latency p95 and latency p99."
    )
    assert summary_line(errored()) == (
        "The run stopped during 'launch server' before a verdict: "
        "tritonserver did not become ready within 60 s."
    )
    assert summary_line(no_checks()) == "Measured 0 runs of 400 requests; nothing was judged."
    inconclusive = _result(
        verdict=Verdict.INCONCLUSIVE,
        checks=[_check("latency shift", CheckStatus.INCONCLUSIVE), _check("latency p95")],
    )
    inconclusive.warnings.append("traffic too short to detect 10% with 80% power")
    # the reason is the inconclusive check, never the first warning
    assert summary_line(inconclusive) == (
        "2 checks: 1 passed, 1 inconclusive. latency shift could not decide with this much "
        "data, and the policy blocks on that."
    )
    # sampled sequentially: the reason is the budget, with what it was
    inconclusive.sampling = Sampling(
        mode="live",
        max_duration_s=120.0,
        max_requests=200_000,
        rho=1.0,
        looks=[SamplingLook(round=12, t=1.0, final=True, seconds=118.4, requests=4800)],
        stopped="budget",
    )
    assert summary_line(inconclusive) == (
        "2 checks: 1 passed, 1 inconclusive. latency shift stayed undecided when the budget "
        "was spent (118 s of 120 s, 4800 of 200000 requests per arm, 1 look), and the policy "
        "blocks on that."
    )
    assert sampling_line(inconclusive) == (
        "Sampling (live A/B): 12 rounds (1 look), 118.4 s of the 120 s budget, 4800 of 200000 "
        "requests per arm; stopped: budget spent."
    )
    # stored mode, a failure judged again on more runs (measure.confirm_runs) did not hold
    inconclusive.sampling = Sampling(
        mode="stored",
        max_duration_s=120.0,
        max_requests=200_000,
        rho=1.0,
        looks=[SamplingLook(round=2, t=0.3, final=True, seconds=36.0, requests=800)],
        stopped="confirmed",
    )
    assert summary_line(inconclusive) == (
        "2 checks: 1 passed, 1 inconclusive. latency shift stayed undecided when all 2 "
        "candidate runs were judged again after a failure (measure.confirm_runs), and the "
        "policy blocks on that."
    )
    assert sampling_line(inconclusive) == (
        "Sampling (candidate runs against the stored baseline): 2 runs (1 look), 36.0 s of the "
        "120 s budget, 800 of 200000 requests per arm; stopped: a failure did not hold on more "
        "fresh runs (measure.confirm_runs)."
    )


def test_console() -> None:
    result = blocked()
    result.reports = {"json": "reports/run.json", "junit": "reports/junit.xml"}
    text = render_console(result)
    lines = text.splitlines()
    assert lines[0] == (
        "gate check: BLOCKED — resnet50 (version 1) (exit 1, run 20261128-100000-abc123)"
    )
    assert lines[1] == summary_line(result)
    assert f"  FAIL   {describe_check(P95_FAIL, alpha=0.05)}" in lines
    assert sum(line.startswith("  PASS   ") for line in lines) == 2
    assert "warning: baseline recorded with another driver | 550 vs 560" in lines
    assert "  json   reports/run.json" in lines

    err = render_console(errored())
    assert "error (ServerError): tritonserver did not become ready within 60 s" in err
    assert "  hint: look at the server log below" in err


# --------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [passing, blocked, errored, no_checks])
def test_json_round_trips(make: Any) -> None:
    result = make()
    assert RunResult.from_json(render_json(result)) == result
    assert render(result, "json") == render_json(result)


def test_json_survives_numpy_in_details() -> None:
    np = pytest.importorskip("numpy")
    result = passing()
    result.checks[0].details["resamples"] = np.int64(2000)
    result.checks[0].details["ratios"] = np.array([1.0, 1.5])
    back = RunResult.from_json(render_json(result))
    assert back.checks[0].details == {"resamples": 2000, "ratios": [1.0, 1.5]}


# --------------------------------------------------------------------------------------
# JUnit
# --------------------------------------------------------------------------------------


def _suite(xml: str) -> ET.Element:
    root = ET.fromstring(xml.encode("utf-8"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    return suites[0]


def _counts(suite: ET.Element) -> tuple[int, int, int, int]:
    cases = suite.findall("testcase")
    return (
        len(cases),
        sum(len(c.findall("failure")) for c in cases),
        sum(len(c.findall("error")) for c in cases),
        sum(len(c.findall("skipped")) for c in cases),
    )


def test_junit_pass() -> None:
    suite = _suite(render_junit(passing()))
    assert suite.get("name") == "gate.resnet50"
    assert _counts(suite) == (6, 0, 0, 0)  # 3 stages + 3 checks
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict"] == "PASS"
    assert props["run_id"] == "20261128-100000-abc123"
    assert props["env.gpu"] == "NVIDIA H200"
    classnames = {c.get("classname") for c in suite.findall("testcase")}
    assert "gate.resnet50.latency" in classnames


def test_junit_blocked_failure_message() -> None:
    suite = _suite(render_junit(blocked()))
    assert _counts(suite) == (6, 1, 0, 0)
    assert suite.get("failures") == "1"
    (case,) = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert case.get("name") == "latency p95"
    assert case.get("classname") == "gate.resnet50.latency"
    failure = case.find("failure")
    assert failure is not None
    message = failure.get("message", "")
    for part in ("+18.2%", "95% CI +12.0% .. +25.1%", "tolerance +10.0%", "p=0.0004", "0.0012"):
        assert part in message
    assert "\n" not in message


def test_junit_error_carries_hint_details_and_log() -> None:
    suite = _suite(render_junit(errored()))
    # gate run + 3 stages; the failed stage is an error, the skipped one skipped
    assert _counts(suite) == (4, 0, 2, 1)
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    run_error = cases["gate run"].find("error")
    assert run_error is not None
    assert run_error.get("message") == (
        "tritonserver did not become ready within 60 s — "
        "look at the server log below; raise launcher.ready_timeout if it is slow"
    )
    assert run_error.get("type") == "ServerError"
    body = run_error.text or ""
    assert "TimeoutError" in body
    assert "E1128 failed to load 'resnet50'" in body
    stage_error = cases["stage: launch server"].find("error")
    assert stage_error is not None
    assert stage_error.get("message") == "not ready after 60 s"
    assert cases["stage: replay"].find("skipped") is not None
    assert cases["stage: load config"].find("error") is None


def test_junit_without_model_or_checks() -> None:
    result = no_checks()
    result.model = None
    suite = _suite(render_junit(result))
    assert suite.get("name") == "gate"
    assert _counts(suite) == (3, 0, 0, 0)


def test_junit_shows_a_blocking_verdict_nothing_else_explains() -> None:
    result = _result(verdict=Verdict.INCONCLUSIVE, checks=[_check("latency shift")])
    suite = _suite(render_junit(result))
    assert _counts(suite) == (5, 1, 0, 0)
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["verdict"].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("INCONCLUSIVE: ")


def test_junit_check_error_and_skip() -> None:
    result = _result(
        verdict=Verdict.INCONCLUSIVE,
        checks=[
            CheckResult(
                name="memory", metric="memory", status=CheckStatus.ERROR, mode="regression",
                reason="no samples",
            ),
            CheckResult(
                name="accuracy", metric="accuracy", status=CheckStatus.SKIPPED,
                mode="regression", reason="no eval set",
            ),
        ],
    )  # fmt: skip
    suite = _suite(render_junit(result))
    assert _counts(suite) == (5, 0, 1, 1)
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    err = cases["memory"].find("error")
    assert err is not None and err.get("message") == "no samples"
    skipped = cases["accuracy"].find("skipped")
    assert skipped is not None and skipped.get("message") == "no eval set"


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------


def _table_rows(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("| latency")]


def test_markdown_pass() -> None:
    md = render_markdown(passing())
    assert md.startswith("## ✅ PASS — `resnet50` (version 1)\n")
    assert "3 checks: 3 passed. Passed on latency shift, latency p95 and latency p99." in md
    header = (
        "| Check | Status | Baseline → candidate | Effect | CI | Tolerance | p (adj.) | N | MDE |"
    )
    assert header in md
    assert (
        "| latency shift | ✅ pass | n/a | +1.2% | -1.0% .. +3.0% (95%) | +5.0% | 0.5 (1) | 400 "
        "| +4.0% |" in md
    )
    assert len(_table_rows(md)) == 3
    assert "<details><summary>Stages (14.5 s)</summary>" in md
    assert "| total |  | 14.5 |  |" in md
    assert "| gpu | NVIDIA H200 |" in md
    assert "| path | .gate/baselines/resnet50.json.gz |" in md
    assert "| requests | 400 |" in md
    assert "shortened" not in md


def test_markdown_blocked_escapes_pipes() -> None:
    result = blocked()
    result.checks[0] = result.checks[0].model_copy(update={"name": "latency | shift"})
    md = render_markdown(result)
    assert md.startswith("## ❌ BLOCKED — `resnet50`")
    assert "Blocked: latency p95 is 18.2% slower than the baseline" in md
    assert "| latency \\| shift | ✅ pass |" in md
    assert "| latency p95 | ❌ fail | n/a | +18.2% | +12.0% .. +25.1% (95%) | +10.0% |" in md
    assert "0.0004 (0.0012)" in md
    assert "- baseline recorded with another driver \\| 550 vs 560" in md
    # every table row has exactly the header's 10 unescaped pipes
    for line in md.splitlines():
        if line.startswith("| latency"):
            assert line.replace("\\|", "").count("|") == 10


def test_markdown_error_block() -> None:
    md = render_markdown(errored())
    assert md.startswith("## 💥 ERROR — `resnet50`")
    assert "### 💥 Error: ServerError (exit 3)" in md
    assert "**tritonserver did not become ready within 60 s**" in md
    assert "Hint: look at the server log below" in md
    assert "<details><summary>Server log (last 2 of 2 lines)</summary>" in md
    assert "```text\nI1128 model loading\nE1128 failed to load 'resnet50'\n```" in md
    assert "_No checks were run._" in md
    assert "| launch server | ❌ failed | 60.0 | not ready after 60 s |" in md


def test_markdown_headlines_for_every_verdict() -> None:
    for verdict, emoji in VERDICT_EMOJI.items():
        md = render_markdown(_result(verdict=verdict, model=None))
        assert md.startswith(f"## {emoji} {verdict.value} — gate\n")


def test_markdown_respects_max_chars_with_a_huge_log() -> None:
    log = "".join(f"I1128 10:00:{i % 60:02d} line {i:06d} {'x' * 80}\n" for i in range(2200))
    assert len(log) > 200_000
    result = errored(log)
    result.checks = [P95_FAIL]
    md = render_markdown(result, max_chars=60_000)
    assert len(md) <= 60_000
    assert md.startswith("## 💥 ERROR — `resnet50`")
    assert "| latency p95 | ❌ fail |" in md
    assert "shortened to fit 60,000 characters" in md
    assert f"line {2199:06d}" in md  # the end of the log is what is kept
    assert f"line {0:06d}" not in md
    assert "shortened to fit)</summary>" in md

    small = render_markdown(result, max_chars=3_000)
    assert len(small) <= 3_000
    assert "| latency p95 | ❌ fail |" in small
    assert f"line {2199:06d}" in small

    tiny = render_markdown(result, max_chars=1_200)
    assert len(tiny) <= 1_200
    assert "| latency p95 | ❌ fail |" in tiny
    assert "Hint: look at the server log below" in tiny
    assert "_Server log (2200 lines) left out to fit; see run.json._" in tiny
    assert "_Environment, baseline and traffic left out to fit; see run.json._" in tiny


def test_markdown_never_cuts_headline_or_table() -> None:
    md = render_markdown(errored("x\n" * 1000), max_chars=100)
    assert md.startswith("## 💥 ERROR — `resnet50`")
    assert "_No checks were run._" in md


def test_escape_cell() -> None:
    assert escape_cell("a | b\nc <d>") == "a \\| b c &lt;d&gt;"


# --------------------------------------------------------------------------------------
# Dispatch and files
# --------------------------------------------------------------------------------------


def test_render_dispatch() -> None:
    result = blocked()
    assert set(FORMATS) == {"json", "junit", "markdown", "text", "html"}
    assert render(result, "junit") == render_junit(result)
    assert render(result, "markdown") == render_markdown(result)
    assert render(result, "text") == render_console(result)
    with pytest.raises(ConfigError, match="unknown report format 'pdf'"):
        render(result, "pdf")


def test_write_reports(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "nested"
    result = blocked()
    paths = write_reports(result, out)
    assert set(paths) == set(FORMATS_DEFAULT)
    for fmt, path in paths.items():
        assert Path(path) == out / FILENAMES[fmt]
        assert Path(path).is_file()
    assert result.reports == paths
    back = RunResult.from_json((out / "run.json").read_text(encoding="utf-8"))
    assert back == result
    assert back.reports["junit"] == str(out / "junit.xml")
    ET.parse(out / "junit.xml")
    assert (out / "summary.md").read_text(encoding="utf-8").startswith("## ❌ BLOCKED")
    assert sorted(p.name for p in out.iterdir()) == [
        "junit.xml",
        "report.html",
        "run.json",
        "summary.md",
    ]

    text = write_reports(result, out, formats=["text"])
    assert text == {"text": str(out / "summary.txt")}


def test_write_reports_keeps_json_when_a_renderer_breaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gate.report as report

    def broken(result: RunResult) -> str:
        raise RuntimeError("boom")

    monkeypatch.setitem(report._RENDERERS, "junit", broken)
    result = blocked()
    paths = write_reports(result, tmp_path)
    assert set(paths) == {"json", "markdown", "html"}
    assert not (tmp_path / "junit.xml").exists()
    back = RunResult.from_json((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert "junit" not in back.reports
    assert any(
        "junit report could not be rendered (RuntimeError: boom)" in w for w in back.warnings
    )


def test_write_reports_unwritable_dir_raises_infra_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(InfraError) as info:
        write_reports(blocked(), blocker / "sub")
    err = info.value
    assert str(blocker / "sub") in err.message
    assert "\n" not in err.message
    assert err.hint
    assert err.exit_code == 3


def test_write_reports_write_failure_attempts_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gate.report as report

    real = report._atomic_write

    def flaky(path: Path, text: str) -> None:
        if path.name == "junit.xml":
            raise OSError(28, "No space left on device")
        real(path, text)

    monkeypatch.setattr(report, "_atomic_write", flaky)
    result = blocked()
    with pytest.raises(InfraError) as info:
        write_reports(result, tmp_path)
    assert info.value.message == (
        f"cannot write report {tmp_path / 'junit.xml'}: No space left on device"
    )
    assert (tmp_path / "run.json").is_file()
    assert (tmp_path / "summary.md").is_file()
    back = RunResult.from_json((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert set(back.reports) == {"json", "markdown", "html"}
    assert any("No space left on device" in w for w in back.warnings)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
