"""Markdown: the verdict for ``$GITHUB_STEP_SUMMARY`` and a pull-request comment.

Meant to be read by people who did not run it: the headline counts every check status apart
and names the checks that decided the verdict; each row gives the absolute values beside the
ratio; warnings are shown once (``report_warnings``); paths are relative to the config's
folder or shortened (``for_display``), never the runner's absolute layout.

Headline and table of checks come first and are never cut; when the whole would exceed
``max_chars`` (a PR comment holds 65,536 characters), the server log, the error details,
the stage details and the environment are shortened, in that order, and a note says so.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace

from gate.report.context import context_blocks
from gate.report.server_time import NOTE, fmt_ratio, fmt_us, server_time
from gate.report.text import (
    NA,
    describe_check,
    fmt_confidence,
    fmt_p,
    one_line,
    report_warnings,
    sampling_line,
    status_counts,
    summary_line,
)
from gate.report.values import absolute, fmt_effect, for_display
from gate.result import CheckResult, CheckStatus, RunResult, StageStatus, Verdict

__all__ = ["STAGE_STATUS", "VERDICT_EMOJI", "escape_cell", "render_markdown"]

VERDICT_EMOJI: dict[Verdict, str] = {
    Verdict.PASS: "✅",
    Verdict.BLOCKED: "❌",
    Verdict.INCONCLUSIVE: "⚠️",
    Verdict.ERROR: "💥",
    Verdict.MEASURED: "📏",
    Verdict.NEEDS_REVIEW: "🔏",
}

_CHECK_STATUS: dict[CheckStatus, str] = {
    CheckStatus.PASS: "✅ pass",
    CheckStatus.FAIL: "❌ fail",
    CheckStatus.ERROR: "💥 error",
    CheckStatus.SKIPPED: "⏭️ skipped",
    CheckStatus.INCONCLUSIVE: "⚠️ inconclusive",
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
    other_checks: bool = True  # checks that did not fail (folded away when checks failed)
    other_rows: int | None = None
    failing_rows: int | None = None


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
    if (sampled := sampling_line(result)) is not None:
        lines += ["", html.escape(sampled, quote=False)]
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
    interval = f"{fmt_effect(check, check.ci_low)} .. {fmt_effect(check, check.ci_high)}"
    return f"{interval} ({level})" if level else interval


def _p_cell(check: CheckResult) -> str:
    if check.p_value is None and check.p_adjusted is None:
        return NA
    if check.p_adjusted is None:
        return fmt_p(check.p_value)
    return f"{fmt_p(check.p_value)} ({fmt_p(check.p_adjusted)})"


def _check_row(c: CheckResult, result: RunResult) -> list[object]:
    name = c.name + (" (critical)" if c.critical else "")
    return [
        name,
        _CHECK_STATUS[c.status],
        absolute(c, result) or NA,
        fmt_effect(c, c.effect),
        _ci_cell(c),
        fmt_effect(c, c.tolerance),
        _p_cell(c),
        NA if c.n is None else c.n,
        fmt_effect(c, c.mde),
    ]


_CHECK_HEADER = [
    "Check",
    "Status",
    "Baseline → candidate",
    "Effect",
    "CI",
    "Tolerance",
    "p (adj.)",
    "N",
    "MDE",
]


# While render_markdown fits a report it composes it many times: rows are rendered once.
_ROWS: ContextVar[dict[int, tuple[str, str | None]] | None] = ContextVar("_ROWS", default=None)


def _rendered(c: CheckResult, result: RunResult) -> tuple[str, str | None]:
    """A check's table row and, if notable, its one-line description."""
    cache = _ROWS.get()
    if cache is not None and id(c) in cache:
        return cache[id(c)]
    row = "| " + " | ".join(escape_cell(x) for x in _check_row(c, result)) + " |"
    note = None
    if c.status is not CheckStatus.PASS or c.reason:
        note = f"- {escape_cell(describe_check(c, alpha=result.alpha))}"
    if cache is not None:
        cache[id(c)] = (row, note)
    return row, note


def _check_table(checks: Sequence[CheckResult], result: RunResult, limit: int | None) -> str:
    """Table of ``checks`` (at most ``limit`` rows) and one line per notable check."""
    shown = list(checks) if limit is None else list(checks[:limit])
    rendered = [_rendered(c, result) for c in shown]
    text = _table(_CHECK_HEADER, []) + "".join("\n" + row for row, _ in rendered)
    notes = [note for _, note in rendered if note is not None]
    if notes:
        text += "\n\n" + "\n".join(notes)
    if len(shown) < len(checks):
        text += f"\n\n_… and {len(checks) - len(shown)} more left out to fit; see run.json._"
    return text


def _checks(result: RunResult, limits: _Limits = _FULL) -> str:
    """Failing checks in the open; the rest folded in ``<details>`` (all open on a pass)."""
    if not result.checks:
        return "_No checks were run._"
    failing = [c for c in result.checks if c.status in (CheckStatus.FAIL, CheckStatus.ERROR)]
    if not failing:
        if not limits.other_checks:
            return f"### Checks\n\n_{len(result.checks)} checks, none failed; see run.json._"
        return "### Checks\n\n" + _check_table(result.checks, result, limits.other_rows)
    text = "### Failing checks\n\n" + _check_table(failing, result, limits.failing_rows)
    others = [c for c in result.checks if c.status not in (CheckStatus.FAIL, CheckStatus.ERROR)]
    if others:
        counts = status_counts(others)
        if limits.other_checks:
            body = _check_table(others, result, limits.other_rows)
            text += "\n\n" + _details(f"Other checks ({counts})", body)
        else:
            text += f"\n\n_Other checks ({counts}) left out to fit; see run.json._"
    return text


def _warnings(result: RunResult, limits: _Limits) -> str | None:
    warnings = report_warnings(result)
    if not warnings:
        return None
    shown = warnings if limits.warnings is None else warnings[: limits.warnings]
    items = []
    for w in shown:
        w = one_line(w)
        if limits.warning_chars is not None and len(w) > limits.warning_chars:
            w = w[: limits.warning_chars] + "…"
        items.append(f"- {escape_cell(w)}")
    if len(shown) < len(warnings):
        items.append(f"- _… and {len(warnings) - len(shown)} more (see run.json)_")
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


_SIG_STATUS = {
    "verified": "✅ verified",
    "failed": "❌ failed",
    "unsigned": "⚠️ unsigned",
    "ignored": "⏭️ ignored",
}


def _signatures(result: RunResult) -> str | None:
    """Who signed what, with which method, verified against which trust root."""
    sig = result.signatures
    if sig is None:
        return None
    rows = []
    for o in sig.oci:  # images and OCI artifacts, by digest
        who = o.signer if o.status == "verified" else o.reason
        what = f"{o.kind} {o.pinned or o.reference}"
        rows.append([what, _SIG_STATUS[o.status], o.signature or NA, who or NA, o.trust_root or NA])
    for a in sig.artifacts:
        who = a.signer if a.status == "verified" else a.reason
        rows.append([a.path, _SIG_STATUS[a.status], a.method or NA, who or NA, a.trust_root or NA])
    head = "### Signatures\n\n"
    head += f"Policy: {_code(sig.policy_source)}"
    head += "" if sig.required else " (unsigned files allowed)"
    if not rows:
        return head + "\n\n_No files in the model directory._"
    table = _table(["File", "Status", "Method", "Signer / reason", "Trust root"], rows)
    return head + "\n\n" + table


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


def _server_time(result: RunResult, limits: _Limits) -> str | None:
    """Triton's time per request beside end-to-end latency (left out with the context)."""
    table = server_time(result) if limits.context else None
    if table is None:
        return None
    header = ["Mean per request", *table.columns] + (["B/A"] if table.paired else [])
    rows = [
        [label, *(fmt_us(v) for v in vals)]
        + ([fmt_ratio(table.ratio(vals))] if table.paired else [])
        for label, vals in table.rows
    ]
    return _details(
        "Where the time went (Triton's per-model statistics)", NOTE + "\n\n" + _table(header, rows)
    )


def _context(result: RunResult, limits: _Limits) -> str | None:
    if not limits.context:
        return "_Environment, baseline and traffic left out to fit; see run.json._"
    blocks = [
        f"**{title}**\n\n" + _table(["Field", "Value"], rows) if rows else f"**{title}**: none"
        for title, rows in context_blocks(result)
    ]
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
        _checks(result, limits),
        _warnings(result, limits),
        _error(result, limits),
        _signatures(result),
        _stages(result, limits),
        _server_time(result, limits),
        _context(result, limits),
    ]
    if note:
        sections.append(note)
    return "\n\n".join(s for s in sections if s) + "\n"


@dataclass(frozen=True)
class _Budget:
    """The size a report must fit: characters (a PR comment), and optionally UTF-8 bytes."""

    chars: int
    bytes: int | None = None

    def ok(self, text: str) -> bool:
        if len(text) > self.chars:
            return False
        return self.bytes is None or len(text.encode("utf-8")) <= self.bytes

    def describe(self) -> str:
        if self.bytes is not None and self.bytes <= self.chars:
            return f"{self.bytes:,} bytes"
        return f"{self.chars:,} characters"


def _note(budget: _Budget, limits: _Limits) -> str | None:
    if limits == _FULL:
        return None
    return (
        f"> ✂️ This report was shortened to fit {budget.describe()}; the full record is in run.json."
    )


# --------------------------------------------------------------------------------------
# Fitting into the budget
# --------------------------------------------------------------------------------------


def _fits(result: RunResult, limits: _Limits, budget: _Budget) -> str | None:
    text = _compose(result, limits, _note(budget, limits))
    return text if budget.ok(text) else None


def _best(ok: Callable[[int], bool], upper: int) -> int:
    """The largest n in [0, upper] with ``ok(n)`` (``ok`` monotone), 0 if none."""
    lo, hi, found = 0, upper, 0
    while lo <= hi:
        mid = (lo + hi) // 2
        if ok(mid):
            found, lo = mid, mid + 1
        else:
            hi = mid - 1
    return found


def _fit_budgets(result: RunResult, budget: _Budget, structure: _Limits) -> str | None:
    """With the sections ``structure`` keeps, the most of the error details and the log.

    Error details (a traceback, a tool's stderr) get up to a quarter of the space first,
    then the end of the server log as much as fits, then the details whatever is left.
    """
    if _fits(result, replace(structure, log_chars=0, error_details_chars=0), budget) is None:
        return None
    max_chars = budget.chars
    log_len = min(len(result.server_log_tail), max_chars)
    details_len = len(result.error.details or "") if result.error is not None else 0
    details_len = min(details_len, max_chars)

    def best(make: Callable[[int], _Limits], upper: int) -> int:
        return _best(lambda n: _fits(result, make(n), budget) is not None, upper)

    details = best(
        lambda n: replace(structure, log_chars=0, error_details_chars=n),
        min(details_len, max_chars // 4),
    )
    log = best(lambda n: replace(structure, log_chars=n, error_details_chars=details), log_len)
    details = best(lambda n: replace(structure, log_chars=log, error_details_chars=n), details_len)
    return _fits(result, replace(structure, log_chars=log, error_details_chars=details), budget)


def render_markdown(
    result: RunResult, *, max_chars: int = 60000, max_bytes: int | None = None
) -> str:
    """The run as GitHub-flavoured Markdown of at most ``max_chars`` characters.

    ``max_bytes`` also bounds its UTF-8 size (``$GITHUB_STEP_SUMMARY`` takes 1 MiB per step;
    a PR comment 65,536 characters). The first line is the verdict; checks that failed or
    could not be evaluated come next in an open table; the others are folded in a
    ``<details>`` (all checks in the open when none failed).

    When the whole does not fit, the error details and the server log are shortened first
    (keeping their ends); then stage details are shortened, and the environment, the stage
    table and most warnings left out; then the rows of checks that did not fail; in that
    order; a note says so. The headline, the one-sentence why and the failing checks are cut
    only when they alone exceed the budget (thousands of failing checks), and then the table
    says how many rows were left out, never silently.
    """
    token = _ROWS.set({})
    try:
        return _render_markdown(for_display(result), _Budget(max_chars, max_bytes))
    finally:
        _ROWS.reset(token)


def _render_markdown(result: RunResult, budget: _Budget) -> str:
    text = _compose(result, _FULL, None)
    if budget.ok(text):
        return text

    lean = replace(
        _FULL,
        context=False,
        stages=False,
        warnings=_WARNINGS_SHORT,
        warning_chars=_WARNING_CHARS_SHORT,
    )
    structures = [
        _FULL,
        replace(_FULL, stage_detail_chars=_STAGE_DETAIL_SHORT),
        replace(_FULL, stage_detail_chars=_STAGE_DETAIL_SHORT, context=False),
        replace(_FULL, stage_detail_chars=0, context=False),
        replace(_FULL, context=False, stages=False),
        lean,
    ]
    for structure in structures:
        fitted = _fit_budgets(result, budget, structure)
        if fitted is not None:
            return fitted

    # Too many checks: keep as many rows of the other checks as fit, then of the failing.
    bare = replace(lean, log_chars=0, error_details_chars=0, warnings=3)
    n_checks = len(result.checks)
    rows = _best(lambda n: _fits(result, replace(bare, other_rows=n), budget) is not None, n_checks)
    if rows > 0:
        fitted = _fits(result, replace(bare, other_rows=rows), budget)
        if fitted is not None:
            return fitted
    bare = replace(bare, other_checks=False)
    rows = _best(
        lambda n: _fits(result, replace(bare, failing_rows=n), budget) is not None, n_checks
    )
    last = replace(bare, failing_rows=max(rows, 1))
    return _compose(result, last, _note(budget, last))
