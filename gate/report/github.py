"""GitHub Actions conventions: annotations, step outputs and the job summary.

Everything GitHub reads from a step goes through here, so the composite action and the CLI
write it one way:

- ``::error title=…::message`` / ``::warning::message`` workflow commands on stdout, one per
  blocking or broken check and per warning, escaped per the workflow-commands spec (data:
  ``%``, CR, LF; properties also ``:`` and ``,``);
- ``$GITHUB_OUTPUT`` keys (``verdict``, ``exit-code``, ``summary``, ``report-dir`` and
  ``report-<format>`` paths), written with the multiline-safe ``key<<DELIMITER`` syntax
  whenever a value holds a newline;
- the Markdown report appended to ``$GITHUB_STEP_SUMMARY``, fitted to the 1 MiB a step may
  write there.

It is on when ``GITHUB_ACTIONS=true`` (as on every Actions runner) or when asked for
(``gate check --github``). Nothing here raises on an unwritable file: the verdict must not
change because the job summary could not be appended; a warning says what was lost.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from gate.report.markdown import render_markdown
from gate.report.text import describe_check, report_warnings, summary_line
from gate.result import CheckStatus, RunResult, Verdict

__all__ = [
    "PR_COMMENT_MAX_CHARS",
    "STEP_SUMMARY_MAX_BYTES",
    "annotation_lines",
    "append_step_summary",
    "append_summary",
    "command",
    "enabled",
    "escape_data",
    "escape_property",
    "output_lines",
    "outputs",
    "publish",
    "write_outputs",
]

STEP_SUMMARY_MAX_BYTES = 1024 * 1024
"""GitHub refuses a step's job summary above 1 MiB."""

PR_COMMENT_MAX_CHARS = 65536
"""GitHub refuses an issue or pull-request comment body above 65,536 characters."""

# A message longer than this is shortened: the annotation UI shows only the start anyway.
_ANNOTATION_CHARS = 4000
# GitHub shows at most 10 error and 10 warning annotations per step; more only clutter logs.
_MAX_ANNOTATIONS = 10


def enabled(env: Mapping[str, str] | None = None, flag: bool | None = None) -> bool:
    """On when ``flag`` says so, else when running inside GitHub Actions."""
    if flag is not None:
        return flag
    env = os.environ if env is None else env
    return env.get("GITHUB_ACTIONS", "").lower() == "true"


def escape_data(text: str) -> str:
    """The message part of a workflow command: ``%``, CR and LF percent-encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (``title=…``): as ``escape_data`` plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str | int | None) -> str:
    """One workflow command line, e.g. ``::error title=latency p95::+18% …``."""
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None and str(value) != ""
    )
    head = f"::{name} {props}::" if props else f"::{name}::"
    return head + escape_data(message)


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _ANNOTATION_CHARS else text[: _ANNOTATION_CHARS - 1] + "…"


def annotation_lines(result: RunResult, *, file: str | None = None) -> list[str]:
    """The workflow commands for a run: errors first, then warnings, each capped at 10.

    One ``::error`` per failed check (it blocked the run) and per check that could not be
    evaluated; one for an infrastructure or input error; a run that is INCONCLUSIVE with no
    failing check gets one ``::error`` saying so, since it blocks too. Every warning of the
    run is a ``::warning``. ``file`` (e.g. the gate.yaml) anchors them to a file in the PR.
    """
    subject = result.model.name if result.model is not None else "gate"
    errors: list[str] = []
    if result.error is not None:
        msg = result.error.message + (f" — {result.error.hint}" if result.error.hint else "")
        errors.append(
            command(
                "error",
                _short(msg),
                title=f"gate {result.verdict.value}: {subject}: {result.error.kind}",
                file=file,
            )
        )
    for check in result.checks:
        if check.status in (CheckStatus.FAIL, CheckStatus.ERROR):
            what = "regression" if check.status is CheckStatus.FAIL else "check error"
            errors.append(
                command(
                    "error",
                    _short(describe_check(check, alpha=result.alpha)),
                    title=f"gate {result.verdict.value}: {subject}: {check.name} ({what})",
                    file=file,
                )
            )
    if result.verdict is Verdict.INCONCLUSIVE and not errors:
        errors.append(
            command(
                "error",
                _short(summary_line(result)),
                title=f"gate INCONCLUSIVE: {subject}",
                file=file,
            )
        )
    warnings = [
        command("warning", _short(w), title=f"gate: {subject}", file=file)
        for w in report_warnings(result)
    ]
    out = errors[:_MAX_ANNOTATIONS]
    if len(errors) > _MAX_ANNOTATIONS:
        out.append(
            command("error", f"… and {len(errors) - _MAX_ANNOTATIONS} more; see the job summary")
        )
    out += warnings[:_MAX_ANNOTATIONS]
    if len(warnings) > _MAX_ANNOTATIONS:
        more = len(warnings) - _MAX_ANNOTATIONS
        out.append(command("warning", f"… and {more} more warnings; see the job summary"))
    return out


def outputs(result: RunResult, *, report_dir: Path | str | None = None) -> dict[str, str]:
    """The step outputs: verdict, exit code, one-line summary and every report's path."""
    out = {
        "verdict": result.verdict.value,
        "exit-code": str(result.exit_code),
        "summary": summary_line(result),
        "run-id": result.run_id,
    }
    if result.model is not None:
        out["model"] = result.model.name
    if report_dir is not None:
        out["report-dir"] = str(report_dir)
    for fmt, path in result.reports.items():
        out[f"report-{fmt}"] = path
    return out


def output_lines(values: Mapping[str, str]) -> str:
    """``values`` in ``$GITHUB_OUTPUT`` syntax; multi-line values use a random delimiter.

    ``key=value`` for one-line values; ``key<<ghadelimiter_<random>`` … for the rest, with a
    delimiter that provably does not occur in the value (so a value cannot end it early and
    inject other outputs).
    """
    lines: list[str] = []
    for key, value in values.items():
        if not key or any(c in key for c in "=\r\n<"):
            raise ValueError(f"invalid output name {key!r}")
        if "\n" not in value and "\r" not in value:
            lines.append(f"{key}={value}\n")
            continue
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        while delimiter in value:  # pragma: no cover - 128 random bits
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        lines.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(lines)


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_outputs(values: Mapping[str, str], path: str) -> None:
    """Append ``values`` to the ``$GITHUB_OUTPUT`` file at ``path``."""
    _append(path, output_lines(values))


def append_summary(path: str, render: Callable[[int], str]) -> None:
    """Append ``render(budget)`` to the job summary file, ``budget`` in UTF-8 bytes.

    The 1 MiB limit is per step, so several gate calls in one step (or one merge of many
    runs) share it: the budget is what the file does not already hold.
    """
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    budget = max(STEP_SUMMARY_MAX_BYTES - used - 2, 4096)
    _append(path, ("\n" if used else "") + render(budget))


def append_step_summary(result: RunResult, path: str) -> None:
    """Append the run's Markdown report to ``$GITHUB_STEP_SUMMARY`` within the 1 MiB."""
    append_summary(path, lambda budget: render_markdown(result, max_chars=budget, max_bytes=budget))


def publish(
    result: RunResult,
    *,
    report_dir: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    file: str | None = None,
    extra_outputs: Mapping[str, str] | None = None,
) -> list[str]:
    """Do all of it: annotations to ``stream``, outputs and step summary where GitHub says.

    Returns warnings about what could not be written (never raises for that).
    """
    env = os.environ if env is None else env
    stream = sys.stdout if stream is None else stream
    problems: list[str] = []
    lines = annotation_lines(result, file=file)
    if lines:
        stream.write("\n".join(lines) + "\n")
        stream.flush()
    output_path = env.get("GITHUB_OUTPUT")
    if output_path:
        values = outputs(result, report_dir=report_dir)
        values.update(extra_outputs or {})
        try:
            write_outputs(values, output_path)
        except OSError as e:
            problems.append(f"cannot write step outputs to {output_path}: {e.strerror or e}")
    summary_path = env.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        try:
            append_step_summary(result, summary_path)
        except OSError as e:
            problems.append(f"cannot append the job summary to {summary_path}: {e.strerror or e}")
    return problems
