"""Markdown: the verdict for ``$GITHUB_STEP_SUMMARY`` and a pull-request comment.

Headline and table of checks come first and are never cut; when the whole would exceed
``max_chars`` (a PR comment holds 65,536 characters), the server log, the error details,
the stage details and the environment are shortened, in that order, and a note says so.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from gate.report.text import (
    NA,
    describe_check,
    fmt_confidence,
    fmt_p,
    fmt_pct,
    one_line,
    summary_line,
)
from gate.result import CheckResult, CheckStatus, RunResult, StageStatus, Verdict

__all__ = ["STAGE_STATUS", "VERDICT_EMOJI", "escape_cell", "render_markdown"]

VERDICT_EMOJI: dict[Verdict, str] = {
    Verdict.PASS: "✅",
    Verdict.BLOCKED: "❌",
    Verdict.INCONCLUSIVE: "⚠️",
    Verdict.ERROR: "💥",
    Verdict.MEASURED: "📏",
}

_CHECK_STATUS: dict[CheckStatus, str] = {
    CheckStatus.PASS: "✅ pass",
    CheckStatus.FAIL: "❌ fail",
    CheckStatus.ERROR: "💥 error",
    CheckStatus.SKIPPED: "⏭️ skipped",
}

STAGE_STATUS: dict[StageStatus, str] = {
    StageStatus.OK: "✅ ok",
    StageStatus.FAILED: "❌ failed",
    StageStatus.SKIPPED: "⏭️ skipped",
}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BACKTICKS = re.compile(r"`+")

# Shortening steps below this many characters of a section are not worth a note.
_STAGE_DETAIL_SHORT = 200
_WARNINGS_SHORT = 20
_WARNING_CHARS_SHORT = 300


def escape_cell(text: object) -> str:
    """Text safe inside a GitHub table cell: one line, HTML-escaped, ``|`` escaped."""
    return html.escape(one_line(str(text)), quote=False).replace("|", "\\|")


def _code(text: str) -> str:
    """Inline code that survives backticks inside ``text``."""
    text = one_line(text)
    ticks = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (ticks + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(text: str, lang: str = "text") -> str:
    """A fenced code block whose fence is longer than any backtick run inside."""
    ticks = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, ticks + 1)
    return f"{fence}{lang}\n{text.rstrip(chr(10))}\n{fence}"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _tail(text: str, budget: int | None) -> tuple[str, bool]:
    """The end of ``text`` in at most ``budget`` characters, cut at a line start if possible."""
    if budget is None or len(text) <= budget:
        return text, False
    if budget <= 0:
        return "", True
    cut = text[len(text) - budget :]
    newline = cut.find("\n")
    if 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1 :]
    return cut, True


def _count_lines(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") else 1)


@dataclass(frozen=True)
class _Limits:
    """How much of each shrinkable section to keep; ``None`` keeps all of it."""

    log_chars: int | None = None
    error_details_chars: int | None = None
    stage_detail_chars: int | None = None
    context: bool = True  # environment, baseline, traffic, model
    stages: bool = True
    warnings: int | None = None
    warning_chars: int | None = None


_FULL = _Limits()


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


def _headline(result: RunResult) -> str:
    emoji = VERDICT_EMOJI.get(result.verdict, "")
    if result.model is not None:
        subject = _code(result.model.name)
        if result.model.version:
            subject += f" (version {escape_cell(result.model.version)})"
    else:
        subject = "gate"
    why = html.escape(summary_line(result), quote=False)
    lines = [f"## {emoji} {result.verdict.value} — {subject}", "", why]
    meta = [f"run {_code(result.run_id)}", f"`gate {escape_cell(result.command)}`"]
    meta.append(f"gate {escape_cell(result.gate_version)}")
    meta.append(f"started {escape_cell(result.started_at)}")
    if result.traffic is not None:
        meta.append(f"{result.traffic.requests} requests over {result.traffic.duration_s:.1f} s")
    if result.alpha is not None:
        meta.append(f"α = {result.alpha:g} (family-wise)")
    meta.append(f"exit {result.exit_code}")
    lines += ["", "<sub>" + " · ".join(meta) + "</sub>"]
    return "\n".join(lines)


def _ci_cell(check: CheckResult) -> str:
    if check.ci_low is None and check.ci_high is None:
        return NA
    level = fmt_confidence(check.confidence).removesuffix(" CI").removesuffix("CI")
    interval = f"{fmt_pct(check.ci_low)} .. {fmt_pct(check.ci_high)}"
    return f"{interval} ({level})" if level else interval


def _p_cell(check: CheckResult) -> str:
    if check.p_value is None and check.p_adjusted is None:
        return NA
    if check.p_adjusted is None:
        return fmt_p(check.p_value)
    return f"{fmt_p(check.p_value)} ({fmt_p(check.p_adjusted)})"


def _checks(result: RunResult) -> str:
    if not result.checks:
        return "_No checks were run._"
    rows = []
    for c in result.checks:
        name = c.name + (" (critical)" if c.critical else "")
        rows.append(
            [
                name,
                _CHECK_STATUS[c.status],
                fmt_pct(c.effect),
                _ci_cell(c),
                fmt_pct(c.tolerance),
                _p_cell(c),
                NA if c.n is None else c.n,
                fmt_pct(c.mde),
            ]
        )
    header = ["Check", "Status", "Effect", "CI", "Tolerance", "p (adj.)", "N", "MDE"]
    text = "### Checks\n\n" + _table(header, rows)
    notable = [c for c in result.checks if c.status is not CheckStatus.PASS or c.reason]
    if notable:
        text += "\n\n" + "\n".join(
            f"- {escape_cell(describe_check(c, alpha=result.alpha))}" for c in notable
        )
    return text


def _warnings(result: RunResult, limits: _Limits) -> str | None:
    if not result.warnings:
        return None
    shown = result.warnings if limits.warnings is None else result.warnings[: limits.warnings]
    items = []
    for w in shown:
        w = one_line(w)
        if limits.warning_chars is not None and len(w) > limits.warning_chars:
            w = w[: limits.warning_chars] + "…"
        items.append(f"- {escape_cell(w)}")
    if len(shown) < len(result.warnings):
        items.append(f"- _… and {len(result.warnings) - len(shown)} more (see run.json)_")
    return "### Warnings\n\n" + "\n".join(items)


def _error(result: RunResult, limits: _Limits) -> str | None:
    error = result.error
    if error is None:
        return None
    parts = [
        f"### 💥 Error: {escape_cell(error.kind)} (exit {error.exit_code})",
        "",
        f"**{escape_cell(error.message)}**",
    ]
    if error.hint:
        parts += ["", f"Hint: {escape_cell(error.hint)}"]
    if error.details:
        text, cut = _tail(error.details, limits.error_details_chars)
        if text:
            label = "Details" + (" (end only, shortened to fit)" if cut else "")
            parts += ["", _details(label, _fenced(text))]
        elif cut:
            parts += ["", "_Details left out to fit; see run.json._"]
    raw = result.server_log_tail
    if raw.strip():
        total = _count_lines(raw)
        if limits.log_chars is not None:
            # Only the end can be shown: strip colour codes from a generous tail of it.
            raw = raw[-(2 * limits.log_chars + 1024) :] if limits.log_chars > 0 else ""
        text, cut = _tail(_ANSI.sub("", raw), limits.log_chars)
        cut = cut or len(raw) < len(result.server_log_tail)
        if text:
            shown = _count_lines(text)
            label = f"Server log (last {shown} of {total} lines"
            label += ", shortened to fit)" if cut else ")"
            parts += ["", _details(label, _fenced(text))]
        elif cut:
            parts += ["", f"_Server log ({total} lines) left out to fit; see run.json._"]
    return "\n".join(parts)


def _stages(result: RunResult, limits: _Limits) -> str | None:
    if not result.stages:
        return None
    total = sum(s.seconds for s in result.stages if math.isfinite(s.seconds))
    if not limits.stages:
        return f"_Stage timings (total {total:.1f} s) left out to fit; see run.json._"
    rows: list[list[object]] = []
    for s in result.stages:
        detail = one_line(s.detail)
        if limits.stage_detail_chars is not None and len(detail) > limits.stage_detail_chars:
            detail = detail[: limits.stage_detail_chars] + "…"
        rows.append([s.name, STAGE_STATUS[s.status], f"{s.seconds:.1f}", detail])
    rows.append(["total", "", f"{total:.1f}", ""])
    table = _table(["Stage", "Status", "Seconds", "Detail"], rows)
    return _details(f"Stages ({total:.1f} s)", table)


def _context(result: RunResult, limits: _Limits) -> str | None:
    if not limits.context:
        return "_Environment, baseline and traffic left out to fit; see run.json._"
    blocks: list[str] = []
    if result.model is not None:
        m = result.model
        rows: list[list[object]] = [["name", m.name], ["repository", m.repository]]
        if m.version:
            rows.append(["version", m.version])
        if m.digest:
            rows.append(["digest", m.digest])
        blocks.append("**Model**\n\n" + _table(["Field", "Value"], rows))
    if result.baseline is not None:
        b = result.baseline
        rows = [
            ["path", b.path],
            ["recorded at", b.recorded_at],
            ["runs", b.runs],
            ["model digest", b.model_digest],
            ["traffic digest", b.traffic_digest],
        ]
        if b.git_commit:
            rows.append(["git commit", b.git_commit])
        blocks.append("**Baseline**\n\n" + _table(["Field", "Value"], rows))
    else:
        blocks.append("**Baseline**: none")
    if result.traffic is not None:
        t = result.traffic
        rows = [
            ["path", t.path],
            ["requests", t.requests],
            ["duration", f"{t.duration_s:.1f} s"],
            ["digest", t.digest],
        ]
        if result.runs:
            rows.append(["candidate runs", len(result.runs)])
        blocks.append("**Traffic**\n\n" + _table(["Field", "Value"], rows))
    if result.environment:
        rows = [[k, v] for k, v in sorted(result.environment.items())]
        blocks.append("**Environment**\n\n" + _table(["Key", "Value"], rows))
    if result.config_path:
        blocks.append(f"**Config**: {_code(result.config_path)}")
    if not blocks:
        return None
    return _details("Environment, baseline and traffic", "\n\n".join(blocks))


def _compose(result: RunResult, limits: _Limits, note: str | None) -> str:
    sections = [
        _headline(result),
        _checks(result),
        _warnings(result, limits),
        _error(result, limits),
        _stages(result, limits),
        _context(result, limits),
    ]
    if note:
        sections.append(note)
    return "\n\n".join(s for s in sections if s) + "\n"


def _note(max_chars: int, limits: _Limits) -> str | None:
    if limits == _FULL:
        return None
    return (
        f"> ✂️ This report was shortened to fit {max_chars:,} characters; "
        "the full record is in run.json."
    )


# --------------------------------------------------------------------------------------
# Fitting into max_chars
# --------------------------------------------------------------------------------------


def _fits(result: RunResult, limits: _Limits, max_chars: int) -> str | None:
    text = _compose(result, limits, _note(max_chars, limits))
    return text if len(text) <= max_chars else None


def _fit_budgets(result: RunResult, max_chars: int, structure: _Limits) -> str | None:
    """With the sections ``structure`` keeps, the most of the error details and the log.

    Error details (a traceback, a tool's stderr) get up to a quarter of the space first,
    then the end of the server log as much as fits, then the details whatever is left.
    """
    if _fits(result, replace(structure, log_chars=0, error_details_chars=0), max_chars) is None:
        return None
    log_len = min(len(result.server_log_tail), max_chars)
    details_len = len(result.error.details or "") if result.error is not None else 0
    details_len = min(details_len, max_chars)

    def best(make: Callable[[int], _Limits], upper: int) -> int:
        lo, hi, found = 0, upper, 0
        while lo <= hi:
            mid = (lo + hi) // 2
            if _fits(result, make(mid), max_chars) is not None:
                found, lo = mid, mid + 1
            else:
                hi = mid - 1
        return found

    details = best(
        lambda n: replace(structure, log_chars=0, error_details_chars=n),
        min(details_len, max_chars // 4),
    )
    log = best(lambda n: replace(structure, log_chars=n, error_details_chars=details), log_len)
    details = best(lambda n: replace(structure, log_chars=log, error_details_chars=n), details_len)
    return _fits(result, replace(structure, log_chars=log, error_details_chars=details), max_chars)


def render_markdown(result: RunResult, *, max_chars: int = 60000) -> str:
    """The run as GitHub-flavoured Markdown of at most ``max_chars`` characters.

    When the whole does not fit, the error details and the server log are shortened first
    (keeping their ends); then stage details are shortened, and the environment, the stage
    table and most warnings left out, in that order; a note says so. The headline, the
    one-sentence why and the table of checks are never cut: if they alone exceed
    ``max_chars`` the text is longer than asked rather than silently incomplete.
    """
    text = _compose(result, _FULL, None)
    if len(text) <= max_chars:
        return text

    structures = [
        _FULL,
        replace(_FULL, stage_detail_chars=_STAGE_DETAIL_SHORT),
        replace(_FULL, stage_detail_chars=_STAGE_DETAIL_SHORT, context=False),
        replace(_FULL, stage_detail_chars=0, context=False),
        replace(_FULL, context=False, stages=False),
        replace(
            _FULL,
            context=False,
            stages=False,
            warnings=_WARNINGS_SHORT,
            warning_chars=_WARNING_CHARS_SHORT,
        ),
    ]
    for structure in structures:
        fitted = _fit_budgets(result, max_chars, structure)
        if fitted is not None:
            return fitted
    last = replace(structures[-1], log_chars=0, error_details_chars=0)
    return _compose(result, last, _note(max_chars, last))
