"""GitHub conventions and the Markdown that goes to step summaries and PR comments.

The ``$GITHUB_OUTPUT`` file is parsed back here the way the runner parses it (``key=value``
lines and ``key<<DELIMITER`` blocks), so the test would catch an injected key.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from test_report import P95_FAIL, _check, blocked, errored, passing

from gate.report import github as gh
from gate.report.markdown import render_markdown
from gate.result import CheckStatus, RunResult, Verdict


def parse_github_output(text: str) -> dict[str, str]:
    """What the Actions runner reads from ``$GITHUB_OUTPUT`` (its documented syntax)."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc != -1 and (eq == -1 or heredoc < eq):
            key, delim = line[:heredoc], line[heredoc + 2 :]
            end = lines.index(delim, i + 1)
            out[key] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            out[line[:eq]] = line[eq + 1 :]
            i += 1
    return out


def test_escaping_follows_the_workflow_commands_spec() -> None:
    assert gh.escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert gh.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = gh.command("error", "p95: +18%\nmore", title="latency p95, critical", file="g.yaml")
    assert line == "::error title=latency p95%2C critical,file=g.yaml::p95: +18%25%0Amore"
    assert gh.command("warning", "plain") == "::warning::plain"
    assert "\n" not in line


def test_annotations_per_blocked_check_and_warning() -> None:
    lines = gh.annotation_lines(blocked(), file="gate.yaml")
    errors = [x for x in lines if x.startswith("::error")]
    warnings = [x for x in lines if x.startswith("::warning")]
    assert len(errors) == 1
    assert errors[0].startswith(
        "::error title=gate BLOCKED%3A resnet50%3A latency p95 (regression),file=gate.yaml::"
    )
    assert "latency p95: +18.2%25 (95%25 CI +12.0%25 .. +25.1%25) exceeds tolerance" in errors[0]
    assert len(warnings) == len(blocked().warnings) == 1
    assert gh.annotation_lines(passing()) == []
    err = gh.annotation_lines(errored())
    assert err[0].startswith("::error title=gate ERROR%3A resnet50%3A ServerError::")
    assert "tritonserver did not become ready" in err[0]


def test_inconclusive_without_failures_is_still_an_error_annotation() -> None:
    result = passing().model_copy(update={"verdict": Verdict.INCONCLUSIVE})
    (line,) = gh.annotation_lines(result)
    assert line.startswith("::error title=gate INCONCLUSIVE%3A resnet50::")


def test_annotations_are_capped() -> None:
    result = blocked()
    result.checks = [_check(f"c{i}", CheckStatus.FAIL) for i in range(25)]
    result.warnings = [f"w{i}" for i in range(30)]
    lines = gh.annotation_lines(result)
    assert sum(x.startswith("::error") for x in lines) == 11
    assert sum(x.startswith("::warning") for x in lines) == 11
    assert "and 15 more" in lines[10] and "and 20 more warnings" in lines[-1]


def test_outputs_are_parsed_back_exactly_even_when_multiline(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("earlier=1\n")
    nasty = "line one\nverdict=PASS\nghadelimiter_x\n"
    gh.write_outputs({"verdict": "BLOCKED", "summary": nasty, "exit-code": "1"}, str(path))
    parsed = parse_github_output(path.read_text())
    assert parsed == {"earlier": "1", "verdict": "BLOCKED", "summary": nasty, "exit-code": "1"}
    with pytest.raises(ValueError, match="invalid output name"):
        gh.output_lines({"a=b": "x"})


def test_publish_writes_everything_github_reads(tmp_path: Path) -> None:
    result = blocked()
    result.reports = {"json": "r/run.json", "html": "r/report.html"}
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    stream = io.StringIO()
    assert gh.publish(result, report_dir="r", env=env, stream=stream) == []
    assert stream.getvalue().startswith("::error title=gate BLOCKED")
    outputs = parse_github_output((tmp_path / "out").read_text())
    assert outputs["verdict"] == "BLOCKED"
    assert outputs["exit-code"] == "1"
    assert outputs["report-html"] == "r/report.html"
    assert outputs["report-dir"] == "r"
    assert outputs["model"] == "resnet50"
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## ❌ BLOCKED — `resnet50`")
    # a second step appends, it does not replace
    gh.publish(passing(), env=env, stream=io.StringIO())
    text = (tmp_path / "summary.md").read_text()
    assert text.count("## ") >= 2 and "## ✅ PASS" in text


def test_publish_never_raises_on_an_unwritable_file(tmp_path: Path) -> None:
    env = {"GITHUB_OUTPUT": str(tmp_path / "no" / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path)}
    problems = gh.publish(blocked(), env=env, stream=io.StringIO())
    assert len(problems) == 2
    assert "cannot write step outputs" in problems[0]
    assert "cannot append the job summary" in problems[1]


def test_enabled() -> None:
    assert gh.enabled({"GITHUB_ACTIONS": "true"})
    assert not gh.enabled({})
    assert not gh.enabled({"GITHUB_ACTIONS": "false"})
    assert gh.enabled({}, flag=True)
    assert not gh.enabled({"GITHUB_ACTIONS": "true"}, flag=False)


# --------------------------------------------------------------------------------------
# Markdown for summaries and comments
# --------------------------------------------------------------------------------------


def test_markdown_puts_failing_checks_first_and_folds_the_rest() -> None:
    md = render_markdown(blocked())
    first = md.splitlines()[0]
    assert first == "## ❌ BLOCKED — `resnet50` (version 1)"
    failing = md.index("### Failing checks")
    folded = md.index("<details><summary>Other checks (2 checks: 2 passed)</summary>")
    assert failing < folded
    assert md.index("| latency p95 | ❌ fail |") < folded < md.index("| latency shift | ✅ pass |")
    assert "### Failing checks" not in render_markdown(passing())


def _huge(n_checks: int, n_failing: int) -> RunResult:
    result = blocked()
    result.checks = [
        _check(
            f"accuracy slice {i:05d} 🧪",
            CheckStatus.FAIL if i < n_failing else CheckStatus.PASS,
            reason="per-slice accuracy " + "detail " * 8,
        )
        for i in range(n_checks)
    ]
    result.warnings = [f"warning {i} " + "w" * 400 for i in range(200)]
    result.server_log_tail = "".join(f"log line {i} " + "x" * 100 + "\n" for i in range(20000))
    return result


@pytest.mark.parametrize(
    ("limit", "kind"),
    [(gh.PR_COMMENT_MAX_CHARS, "chars"), (gh.STEP_SUMMARY_MAX_BYTES, "bytes")],
)
def test_markdown_of_a_huge_run_fits_githubs_limits(limit: int, kind: str) -> None:
    result = _huge(6000, 40)
    kw: dict[str, Any] = (
        {"max_chars": limit} if kind == "chars" else {"max_chars": limit, "max_bytes": limit}
    )
    md = render_markdown(result, **kw)
    size = len(md) if kind == "chars" else len(md.encode("utf-8"))
    assert size <= limit
    assert limit - size < limit // 3  # it used the room, it did not throw everything away
    assert md.startswith("## ❌ BLOCKED")
    for i in range(40):  # every failing check is shown
        assert f"| accuracy slice {i:05d} 🧪 | ❌ fail |" in md
    assert "shortened to fit" in md
    if kind == "chars":
        assert re.search(r"_… and \d+ more left out to fit; see run\.json\._", md)


def test_markdown_cuts_even_failing_rows_when_they_alone_are_too_many() -> None:
    result = _huge(5000, 5000)
    md = render_markdown(result, max_chars=gh.PR_COMMENT_MAX_CHARS)
    assert len(md) <= gh.PR_COMMENT_MAX_CHARS
    shown = len(re.findall(r"^\| accuracy slice \d{5} 🧪 \| ❌ fail \|", md, flags=re.M))
    assert 50 < shown < 5000
    assert f"_… and {5000 - shown} more left out to fit; see run.json._" in md


def test_step_summary_shares_the_1mib_with_what_is_already_there(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_bytes(b"x" * (gh.STEP_SUMMARY_MAX_BYTES - 100_000))
    gh.append_step_summary(_huge(3000, 10), str(path))
    assert path.stat().st_size <= gh.STEP_SUMMARY_MAX_BYTES
    assert "## ❌ BLOCKED" in path.read_text(encoding="utf-8")


def test_big_failing_log_still_fits_a_comment() -> None:
    result = errored("".join(f"E line {i}\n" for i in range(100_000)))
    result.checks = [P95_FAIL]
    md = render_markdown(result, max_chars=gh.PR_COMMENT_MAX_CHARS)
    assert len(md) <= gh.PR_COMMENT_MAX_CHARS
    assert "E line 99999" in md
