"""``gate report merge`` (matrix jobs → one verdict) and trends (history file → figures)."""

from __future__ import annotations

import json
import multiprocessing
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import run_gate
from test_report import blocked, errored, no_checks, passing
from test_report_github import parse_github_output
from test_report_html import judged

from gate.cli.main import cli
from gate.errors import ConfigError, InfraError
from gate.evidence import LatencyRun
from gate.report.history import (
    HISTORY_SCHEMA,
    append_history,
    history_entry,
    read_history,
    render_trends,
)
from gate.report.json import load_run
from gate.report.merge import (
    merge_runs,
    render_merged_json,
    render_merged_junit,
    render_merged_markdown,
    worst,
)
from gate.result import ModelInfo, RunResult, Verdict

# --------------------------------------------------------------------------------------
# Merge
# --------------------------------------------------------------------------------------


def _named(result: RunResult, name: str) -> RunResult:
    assert result.model is not None
    return result.model_copy(update={"model": result.model.model_copy(update={"name": name})})


def test_worst_verdict_wins() -> None:
    p, b, e = passing(), blocked(), errored()
    inc = passing().model_copy(update={"verdict": Verdict.INCONCLUSIVE})
    assert worst([p, inc]).verdict is Verdict.INCONCLUSIVE
    assert worst([p, inc, b]).verdict is Verdict.BLOCKED
    assert worst([b, e, p]).verdict is Verdict.ERROR
    assert merge_runs([p, b, e]).exit_code == 3
    assert merge_runs([p, inc]).exit_code == 1
    assert merge_runs([p, p]).verdict is Verdict.PASS and merge_runs([p]).exit_code == 0
    with pytest.raises(ConfigError, match="no runs to merge"):
        worst([])


def test_merged_junit_has_a_suite_per_run() -> None:
    runs = [_named(passing(), "a"), _named(blocked(), "b"), _named(blocked(), "b")]
    merged = merge_runs(runs)
    assert merged.labels[0] == "a" and merged.labels[1].startswith("b [")
    root = ET.fromstring(render_merged_junit(merged))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [f"gate.{label}" for label in merged.labels]
    assert [int(s.get("failures", "0")) for s in suites] == [0, 1, 1]


def test_merged_markdown_and_json() -> None:
    runs = [_named(passing(), "alpha"), _named(blocked(), "beta"), _named(errored(), "gamma")]
    merged = merge_runs(runs, ["a/run.json", "b/run.json", "c/run.json"])
    md = render_merged_markdown(merged)
    assert md.splitlines()[0] == "## 💥 ERROR — 3 gate runs (1 BLOCKED, 1 ERROR, 1 PASS)"
    assert "| beta | ❌ BLOCKED |" in md and "| alpha | ✅ PASS |" in md
    assert "| beta | latency p95 | fail | +18.2% | +10.0% |" in md
    assert "<details><summary>gamma: ERROR</summary>" in md
    doc = json.loads(render_merged_json(merged))
    assert doc["verdict"] == "ERROR" and doc["exit_code"] == 3
    assert [r["path"] for r in doc["runs"]] == ["a/run.json", "b/run.json", "c/run.json"]
    assert doc["runs"][1]["failed"] == ["latency p95"]


def test_merged_markdown_of_many_runs_fits_a_comment() -> None:
    runs = []
    for i in range(120):
        r = errored("".join(f"log {j}\n" for j in range(3000))) if i % 3 == 0 else blocked()
        runs.append(_named(r, f"model-{i:03d}"))
    md = render_merged_markdown(merge_runs(runs), max_chars=65536)
    assert len(md) <= 65536
    assert md.startswith("## 💥 ERROR — 120 gate runs")
    assert "| model-119 |" in md  # every run has its row


def test_load_run_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "run.json"
    bad.write_text('{"schema": "gate-run/1", "run_id": 5}')
    with pytest.raises(ConfigError, match=r"run\.json: .*field 'run_id'"):
        load_run(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_run(tmp_path / "missing.json")


def test_cli_merge(tmp_path: Path) -> None:
    paths = []
    for i, r in enumerate([_named(passing(), "a"), _named(blocked(), "b")]):
        p = tmp_path / f"job{i}" / "run.json"
        p.parent.mkdir()
        p.write_text(r.to_json())
        paths.append(str(p))
    out = tmp_path / "merged"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "gh-out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "gh-sum"),
    }
    res = run_gate("report", "merge", *paths, "--out", str(out), env=env)
    assert res.returncode == 1, res.output
    assert "gate report merge: BLOCKED (1 BLOCKED, 1 PASS; exit 1)" in res.stdout
    assert "::error title=gate BLOCKED%3A b%3A latency p95 (regression)::" in res.stdout
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "merged.json", "summary.md"]
    gh = parse_github_output((tmp_path / "gh-out").read_text())
    assert gh["verdict"] == "BLOCKED" and gh["exit-code"] == "1"
    assert gh["report-junit"] == str(out / "junit.xml")
    assert (tmp_path / "gh-sum").read_text().startswith("## ❌ BLOCKED — 2 gate runs")

    only_pass = run_gate("report", "merge", paths[0], "--out", str(out), "--no-github", env=env)
    assert only_pass.returncode == 0, only_pass.output
    assert "::" not in only_pass.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    res = run_gate("report", "merge", paths[0], str(bad), "--out", str(out))
    assert res.returncode == 2
    assert f"gate: error: {bad}: not valid JSON" in res.stderr


def test_cli_report_formats(tmp_path: Path) -> None:
    p = tmp_path / "run.json"
    p.write_text(judged(n=300).to_json())
    res = run_gate("report", str(p), "--format", "html", "-o", str(tmp_path / "r.html"))
    assert res.returncode == 0, res.output
    assert (tmp_path / "r.html").read_text().count('data-figure="') == 3
    res = run_gate("report", "--format", "all", str(p), "--out", str(tmp_path / "all"))
    assert res.returncode == 0, res.output
    names = sorted(x.name for x in (tmp_path / "all").iterdir())
    assert names == ["junit.xml", "report.html", "run.json", "summary.md", "summary.txt"]
    # the rest in-process (same click command, no interpreter start-up)
    runner = CliRunner()
    res = runner.invoke(cli, ["report", str(p), "--format", "markdown", "--max-chars", "2000"])
    assert res.exit_code == 0 and len(res.stdout) <= 2001
    assert res.stdout.startswith("## ")
    res = runner.invoke(cli, ["report", str(tmp_path / "nope.json")])
    assert res.exit_code == 2 and "cannot read" in res.stderr
    res = runner.invoke(cli, ["report", "render", str(p), "--format", "junit"])
    assert res.exit_code == 0 and res.stdout.startswith("<?xml")


# --------------------------------------------------------------------------------------
# History and trends
# --------------------------------------------------------------------------------------


def _entry(model: str, day: int, p50: float, verdict: str = "PASS") -> dict[str, Any]:
    r = passing()
    assert r.model is not None
    r = r.model_copy(
        update={
            "model": ModelInfo(name="placeholder", repository="m"),
            "finished_at": f"2026-11-{day:02d}T03:00:00+00:00",
            "verdict": Verdict(verdict),
        }
    )
    e = history_entry(r, env={"GITHUB_SHA": f"sha{day}"})
    # a history line is outside input: its model may be what no run.json could name (a '/'
    # the trend's file names must not follow), so it is set on the line itself
    e["model"] = model
    e["latency_us"] = {"p50": p50, "p95": p50 * 1.5, "p99": p50 * 2}
    e["memory"] = {"candidate_peak_mib": 1000.0 + day}
    return e


def test_history_entry_summarises_a_run() -> None:
    e = history_entry(judged(n=300), env={"GITHUB_SHA": "abc"})
    assert e["schema"] == HISTORY_SCHEMA
    assert e["git_commit"] == "abc" and e["model"] == "resnet50"
    assert set(e["latency_us"]) == {"p50", "p90", "p95", "p99"}
    assert e["baseline_latency_us"]["p50"] < e["latency_us"]["p50"]
    assert e["checks"]["latency shift"]["metric"] == "latency.shift"
    json.dumps(e, allow_nan=False)
    assert history_entry(no_checks(), env={})["latency_us"] == {}


def _append_many(args: tuple[str, int]) -> None:
    path, worker = args
    for i in range(40):
        e = _entry(f"m{worker}", 1 + i % 28, 100.0 + i)
        e["pad"] = "x" * 5000  # long lines: larger than a pipe buffer's atomic write
        append_history(Path(path), e)


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "h" / "history.jsonl"
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        pool.map(_append_many, [(str(path), w) for w in range(4)])
    h = read_history(path)
    assert h.problems == []
    assert len(h.entries) == 160
    assert h.models() == ["m0", "m1", "m2", "m3"]


def test_a_torn_last_line_is_skipped_and_the_next_append_starts_fresh(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    append_history(path, _entry("a", 1, 100))
    with path.open("a") as fh:
        fh.write('{"schema": "gate-hist')  # a writer died mid-line
    h = read_history(path)
    assert len(h.entries) == 1 and "incomplete last line" in h.problems[0]
    append_history(path, _entry("a", 2, 110))
    h = read_history(path)
    assert len(h.entries) == 2
    assert h.problems == [
        f"{path}: line 2: not JSON (Unterminated string starting at: "
        "line 1 column 12 (char 11)); skipped"
    ]


def test_history_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the history file"):
        read_history(tmp_path / "none.jsonl")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InfraError, match="cannot open the history file"):
        append_history(blocker / "h.jsonl", {"schema": HISTORY_SCHEMA})
    (tmp_path / "other.jsonl").write_text('{"schema": "x"}\n')
    h = read_history(tmp_path / "other.jsonl")
    assert h.entries == [] and "field 'schema'" in h.problems[0]
    with pytest.raises(ConfigError, match="holds no runs"):
        render_trends(h, tmp_path / "out")


def test_trends_draw_each_model(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    for day in range(1, 11):
        append_history(path, _entry("resnet", day, 100 + day, "BLOCKED" if day == 5 else "PASS"))
        append_history(path, _entry("bert/base", day, 300 - day))
    out = tmp_path / "trend"
    paths = render_trends(read_history(path), out)
    assert sorted(p.name for p in paths) == [
        "trend-bert_base.png",
        "trend-resnet.png",
        "trend.html",
    ]
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "trend.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "sha10" in html
    with pytest.raises(ConfigError, match="no runs of model 'nope'") as info:
        render_trends(read_history(path), out, model="nope")
    assert info.value.hint == "models in the history: bert/base, resnet"


def test_trend_in_the_browser_and_on_the_cli(tmp_path: Path) -> None:
    from test_report_html import browser_probe

    path = tmp_path / "history.jsonl"
    for day in range(1, 6):
        append_history(path, _entry("resnet", day, 100 + day))
    res = run_gate("report", "trend", str(path), "--model", "resnet", "--out", str(tmp_path / "t"))
    assert res.returncode == 0, res.output
    seen = browser_probe(tmp_path / "t" / "trend.html")
    assert [i["figure"] for i in seen["images"]] == ["trend-resnet"]
    assert seen["images"][0]["width"] > 600
    res = run_gate("report", "trend", str(tmp_path / "none"), "--out", str(tmp_path / "t"))
    assert res.returncode == 2 and "cannot read the history file" in res.stderr


def test_old_run_json_takes_baseline_samples_from_its_baseline_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run.json without ``comparison`` (written before gate kept it) re-renders its
    figures from the baseline file it names, when that file is still there and unchanged
    (and inside the workspace: gate report runs where the run's files are)."""
    from gate.baselines.store import Baseline, save_baseline

    monkeypatch.chdir(tmp_path)
    full = judged(n=300)
    assert full.comparison is not None and full.baseline is not None
    base = Baseline(
        model="resnet50",
        model_digest="sha256:b",
        model_repository="models",
        traffic_digest="sha256:t",
        traffic_requests=300,
        environment={"gpu": "none"},
        recorded_at="2026-11-27T10:00:00+00:00",
        gate_version="0.1.0",
        runs=[
            LatencyRun(index=i, started_at="x", latencies_us=run)
            for i, run in enumerate(full.comparison.baseline_latencies_us)
        ],
    )
    stored = save_baseline(tmp_path / "store", base)
    old = full.model_copy(
        update={
            "comparison": None,
            "baseline": full.baseline.model_copy(update={"path": str(stored)}),
        }
    )
    p = tmp_path / "run.json"
    p.write_text(old.to_json())
    runner = CliRunner()
    res = runner.invoke(cli, ["report", str(p), "--format", "html", "-o", str(tmp_path / "a.html")])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "a.html").read_text()
    assert html.count('data-figure="') == 3
    # the same candidate percentiles the run would have stored itself (its baseline side
    # differs in the last digit: run.json keeps baseline latencies to 0.1 µs)
    for row in full.comparison.percentiles:
        assert f'<td class="num">{row.candidate_us:,.1f}</td>' in html

    stored.unlink()
    res = runner.invoke(cli, ["report", str(p), "--format", "html", "-o", str(tmp_path / "b.html")])
    assert res.exit_code == 0
    assert "gate: note: no baseline samples for the figures" in res.stderr
    assert (tmp_path / "b.html").read_text().count('data-figure="') == 1


def test_reports_history_in_the_config_is_relative_to_it(tmp_path: Path) -> None:
    from conftest import write_config

    from gate.config.config import load_config

    (tmp_path / "sub").mkdir()
    cfg = write_config(tmp_path / "sub" / "gate.yaml", store=tmp_path / "s", reports=tmp_path / "r")
    with cfg.open("a") as fh:  # the template ends inside `reports:`
        fh.write("  history: trends/nightly.jsonl\n")
    assert load_config(cfg).reports.history == (tmp_path / "sub" / "trends" / "nightly.jsonl")
    plain = write_config(tmp_path / "gate.yaml", store=tmp_path / "s", reports=tmp_path / "r")
    assert load_config(plain).reports.history is None


def test_append_runs_and_read_whole_run_json_lines(tmp_path: Path) -> None:
    """`gate report append` (the nightly job's collector) and run.json lines in a history."""
    run = judged(n=300)
    p = tmp_path / "run.json"
    p.write_text(run.to_json())
    history = tmp_path / "h" / "m.jsonl"
    res = CliRunner().invoke(cli, ["report", "append", str(history), str(p), str(p)])
    assert res.exit_code == 0, res.output
    assert "appended 2 run(s)" in res.stdout
    # a run.json stripped of its samples, one per line, as `jq -c '.runs = []'` writes it
    stripped = run.model_copy(update={"runs": []})
    with history.open("a") as fh:
        fh.write(json.dumps(json.loads(stripped.to_json())) + "\n")
        fh.write('{"schema": "gate-run/1", "run_id": 3}\n')
    h = read_history(history)
    assert len(h.entries) == 3
    assert [e["run_id"] for e in h.entries] == [run.run_id] * 3
    assert run.comparison is not None
    p50 = run.comparison.percentiles[0]
    assert h.entries[2]["latency_us"]["p50"] == p50.candidate_us
    assert len(h.problems) == 1
    assert h.problems[0].startswith(f"{history}: line 4: not a valid run.json (field 'run_id':")
    assert h.problems[0].endswith("; skipped")
    res = CliRunner().invoke(cli, ["report", "append", str(history), str(tmp_path / "no.json")])
    assert res.exit_code == 2 and "cannot read" in res.stderr
