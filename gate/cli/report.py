"""``gate report``: re-render a saved run, merge matrix runs, draw trends.

``gate report RUN.json [--format F]`` is the default subcommand (``render``), so the old
spelling keeps working beside ``gate report merge …`` and ``gate report trend …``. Heavy
modules are imported inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gate.cli import options
from gate.cli.group import GateGroup
from gate.errors import ConfigError, GateError

if TYPE_CHECKING:
    from gate.result import RunResult

_FORMATS = ["json", "junit", "markdown", "html", "text", "all"]


def _fill_comparison(result: RunResult) -> None:
    """A run.json written before gate kept baseline samples: read them from its baseline.

    Best effort, for the HTML figures only: when the baseline file is gone or changed, the
    report says it has no baseline samples, and a note on stderr says why.
    """
    if result.comparison is not None or result.baseline is None or not result.runs:
        return
    from gate.baselines.confine import load_referenced_baseline, readable_roots
    from gate.config.policy import load_policy
    from gate.judge.comparison import build_comparison

    try:
        base = load_referenced_baseline(result.baseline.path, readable_roots())
        if base.traffic_digest != result.baseline.traffic_digest:
            raise ValueError("it was recorded again since this run")
        policy = load_policy(None)
        result.comparison = build_comparison(
            [r.latencies_us for r in base.runs],
            [r.latencies_us for r in result.runs],
            alpha=result.alpha if result.alpha is not None else policy.alpha,
            resamples=policy.latency.bootstrap_resamples,
            seed=policy.seed,
        )
    except (GateError, ValueError) as e:
        why = e.message if isinstance(e, GateError) else str(e)
        click.echo(f"gate: note: no baseline samples for the figures ({why})", err=True)


class _DefaultGroup(GateGroup):
    """A group whose first argument, when it is no subcommand, goes to ``render``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["render", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultGroup)
def report() -> None:
    """Re-render a saved run, merge matrix runs, or draw trends.

    `gate report RUN.json [--format F]` is short for `gate report render RUN.json`."""


@report.command("render", short_help="Re-render a saved run.json in any format.")
@click.argument("run_json", type=options.RUN_FILE)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default="markdown",
    show_default=True,
    help="'all' writes every report into --out.",
)
@click.option("-o", "--output", type=options.FILE, help="Write to this file instead of stdout.")
@options.out_folder("Directory for --format all (default: next to RUN.json).")
@options.max_chars("Markdown size limit (a PR comment holds 65,536).")
def render_cmd(
    run_json: Path, fmt: str, output: Path | None, out_dir: Path | None, max_chars: int
) -> None:
    """Re-render a report from a saved RunResult (run.json), e.g. --format html."""
    from gate.report import FORMATS, render, write_reports
    from gate.report.json import load_run
    from gate.report.markdown import render_markdown

    result = load_run(run_json)
    if fmt in ("html", "all"):
        _fill_comparison(result)
    if fmt == "all":
        written = write_reports(result, out_dir or run_json.parent, formats=FORMATS)
        for kind, path in written.items():
            click.echo(f"{kind:8} {path}")
        return
    text = (
        render_markdown(result, max_chars=max_chars) if fmt == "markdown" else render(result, fmt)
    )
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{output}: cannot write: {e.strerror or e}") from None


@report.command("merge", short_help="Merge many run.json: one JUnit, summary, verdict.")
@click.argument("runs", nargs=-1, required=True, type=options.RUN_FILE)
@options.out_folder("Directory for junit.xml, summary.md and merged.json.", required=True)
@options.GITHUB
@options.max_chars("Size limit of summary.md (a PR comment holds 65,536 characters).")
def merge_cmd(runs: tuple[Path, ...], out_dir: Path, github: bool | None, max_chars: int) -> None:
    """Merge the run.json of many matrix jobs: one JUnit, one summary, the worst verdict.

    Exit code: that of the worst run (ERROR > BLOCKED > INCONCLUSIVE > NEEDS_REVIEW > PASS).
    """
    from gate.files import atomic_write
    from gate.report import github as gh
    from gate.report.json import load_run
    from gate.report.merge import (
        merge_runs,
        render_merged_json,
        render_merged_junit,
        render_merged_markdown,
    )

    results = [load_run(p) for p in runs]
    merged = merge_runs(results, [str(p) for p in runs])
    files = {
        "junit": out_dir / "junit.xml",
        "markdown": out_dir / "summary.md",
        "json": out_dir / "merged.json",
    }
    try:
        atomic_write(files["junit"], render_merged_junit(merged))
        atomic_write(files["markdown"], render_merged_markdown(merged, max_chars=max_chars))
        atomic_write(files["json"], render_merged_json(merged))
    except OSError as e:
        raise ConfigError(
            f"cannot write the merged reports in {out_dir}: {e.strerror or e}"
        ) from None
    if gh.enabled(flag=github):
        import os

        lines = [line for r in results for line in gh.annotation_lines(r)]
        if lines:
            click.echo("\n".join(lines))
        values = {
            "verdict": merged.verdict.value,
            "exit-code": str(merged.exit_code),
            "report-dir": str(out_dir),
            **{f"report-{k}": str(v) for k, v in files.items()},
        }
        try:
            if os.environ.get("GITHUB_OUTPUT"):
                gh.write_outputs(values, os.environ["GITHUB_OUTPUT"])
            if os.environ.get("GITHUB_STEP_SUMMARY"):
                gh.append_summary(
                    os.environ["GITHUB_STEP_SUMMARY"],
                    lambda b: render_merged_markdown(merged, max_chars=b, max_bytes=b),
                )
        except OSError as e:
            click.echo(f"gate: warning: cannot write GitHub outputs: {e.strerror or e}", err=True)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(merged.counts().items()))
    click.echo(f"gate report merge: {merged.verdict.value} ({counts}; exit {merged.exit_code})")
    for r, label in zip(merged.results, merged.labels, strict=True):
        click.echo(f"  {r.verdict.value:12} {label}")
    for kind, path in files.items():
        click.echo(f"{kind:8} {path}")
    sys.exit(merged.exit_code)


@report.command("trend", short_help="Draw trends per model from a history file.")
@click.argument("history", type=options.FILE)
@click.option("--model", help="Only this model (default: every model in the history).")
@options.out_folder("Directory for trend.html and trend-<model>.png.", required=True)
def trend_cmd(history: Path, model: str | None, out_dir: Path) -> None:
    """Draw latency, accuracy and memory over time per model from a history file."""
    from gate.report.history import read_history, render_trends

    h = read_history(history)
    for problem in h.problems:
        click.echo(f"gate: warning: {problem}", err=True)
    try:
        paths = render_trends(h, out_dir, model=model)
    except OSError as e:
        raise ConfigError(f"cannot write the trend in {out_dir}: {e.strerror or e}") from None
    for p in paths:
        click.echo(str(p))


@report.command("append", short_help="Append run.json summaries to a history file.")
@click.argument("history", type=options.FILE)
@click.argument("runs", nargs=-1, required=True, type=options.RUN_FILE)
def append_cmd(history: Path, runs: tuple[Path, ...]) -> None:
    """Append each RUN.json's summary to HISTORY (one JSON line each, under a lock).

    For jobs that gate elsewhere and collect the run.json files later (the nightly trend);
    `gate check --history` does the same as it runs. The commit comes from $GITHUB_SHA.
    """
    from gate.report.history import append_history, history_entry
    from gate.report.json import load_run

    entries = [history_entry(load_run(p)) for p in runs]
    for entry in entries:
        append_history(history, entry)
    click.echo(f"appended {len(entries)} run(s) to {history}")
