"""The end of every command that runs the gate: notify, write the reports, print, exit.

The ``RunResult`` is the record of a run (a verdict CI acts on, minutes of measurement), so
nothing here may lose it: a full disk keeps it in the temp folder, and Ctrl-C or SIGTERM
while the reports are written still saves ``run.json`` (held against a second signal by
``gate.signals.deferred_signals``) before the command exits 130.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, NoReturn

import click

from gate.cli.group import error_line, one_line
from gate.errors import ExitCode, GateError
from gate.signals import deferred_signals

if TYPE_CHECKING:
    from gate.config.config import NotifyConfig
    from gate.result import RunResult

INTERRUPTED_WARNING = (
    "interrupted (Ctrl-C or SIGTERM) while the reports were written: only run.json was "
    "saved; `gate report run.json --format all` writes the others"
)


class Notify(NamedTuple):
    """What ``--notify`` needs: the channels, the previous verdict, the report's link."""

    config: NotifyConfig
    previous: str | None = None
    report_url: str | None = None


def notify_run(result: RunResult, notify: Notify) -> None:
    """Send notifications; a failure is a warning in the run and on stderr, never a verdict."""
    from gate.report.notify import send_notifications

    notices = send_notifications(
        result, notify.config, previous=notify.previous, report_url=notify.report_url
    )
    for notice in notices:
        if notice.level != "warning":
            click.echo(f"gate: {notice.message}", err=True)
            continue
        result.warnings.append(notice.message)
        click.echo(f"gate: warning: {notice.message}", err=True)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            safe = notice.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            click.echo(f"::warning title=gate notify::{safe}")


def record_history(result: RunResult, path: Path | None) -> None:
    """Append the run to the trend history; a failure is a warning, never a verdict change."""
    if path is None:
        return
    from gate.report.history import append_history, history_entry

    try:
        append_history(path, history_entry(result))
    except GateError as e:
        result.warnings.append(f"history not updated: {e.message}")
        click.echo(f"gate: warning: {one_line(e.diagnostics())}", err=True)


def publish_to_github(result: RunResult, report_dir: Path | None, flag: bool | None) -> None:
    """Annotations, outputs and job summary when on GitHub Actions (or asked to)."""
    from gate.report import github

    if not github.enabled(flag=flag):
        return
    for problem in github.publish(result, report_dir=report_dir):
        click.echo(f"gate: warning: {problem}", err=True)


def keep_result(result: RunResult) -> None:
    """Keep the run in the temp folder when its reports folder cannot take it, or print it to
    stderr when even that fails, so the run is never lost."""
    import tempfile

    from gate.report.json import render_json

    text = render_json(result)
    path = Path(tempfile.gettempdir()) / f"gate-run-{result.run_id}.json"
    try:
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        click.echo(f"gate: the run result was kept in {path}", err=True)
    except OSError:
        click.echo("gate: the run result follows (it could not be written anywhere):", err=True)
        click.echo(text, err=True)


def save_interrupted(result: RunResult, report_dir: Path) -> None:
    """After an interrupt among the reports: ``run.json`` alone, with a warning saying so.

    The verdict stays what the checks decided; the exit code (130) says the command did not
    finish. Only run.json is listed as written: the others may be missing or stale.
    """
    from gate.files import atomic_write
    from gate.report import FILENAMES
    from gate.report.json import render_json

    path = report_dir / FILENAMES["json"]
    if INTERRUPTED_WARNING not in result.warnings:
        result.warnings.append(INTERRUPTED_WARNING)
    result.reports = {"json": str(path)}
    try:
        atomic_write(path, render_json(result))
    except OSError:
        keep_result(result)
    else:
        click.echo(f"gate: interrupted; the run was saved in {path}", err=True)


def _write(result: RunResult, report_dir: Path, history: Path | None, github: bool | None) -> int:
    """Write history, reports and GitHub output; print the summary; the exit code to use."""
    from gate.report import write_reports
    from gate.report.text import render_console

    code = result.exit_code
    if result.error is not None:  # the one line a CI log shows, beside the summary
        err = result.error
        click.echo(
            f"gate: error: {one_line(f'{err.message} — {err.hint}' if err.hint else err.message)}",
            err=True,
        )
    record_history(result, history)
    try:
        write_reports(result, report_dir)
    except GateError as e:
        if result.error is None:  # else the run's own error line above already says why
            click.echo(error_line(e), err=True)
        code = code or int(ExitCode.INFRA)
        keep_result(result)
    publish_to_github(result, report_dir, github)
    click.echo(render_console(result))
    return code


def finish(
    result: RunResult,
    report_dir: Path,
    *,
    history: Path | None = None,
    github: bool | None = None,
    notify: Notify | None = None,
) -> NoReturn:
    """Notify (if asked), append the history line, write the reports, print the summary and
    exit with the run's code.

    The history line is appended before the reports (so run.json carries a warning if it
    failed); GitHub annotations, outputs and job summary come last, when the report paths are
    known. An interrupt anywhere in here saves run.json (``save_interrupted``) and goes on
    to the command line's exit 130.
    """
    try:
        if notify is not None:
            notify_run(result, notify)
        code = _write(result, report_dir, history, github)
    except KeyboardInterrupt:
        with deferred_signals():
            save_interrupted(result, report_dir)
        raise
    sys.exit(code)
