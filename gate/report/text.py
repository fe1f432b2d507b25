"""Plain-text pieces shared by every report: number formats, one-line check descriptions,
the one-sentence "why" of a verdict, and the compact console summary.

Everything here is a pure function of a ``RunResult`` (or a part of one): no I/O, no
printing. The same ``describe_check`` line appears in the JUnit failure message, the
Markdown report and the terminal, so a reader sees one wording everywhere.
"""

from __future__ import annotations

import math
import re

from gate.result import CheckResult, CheckStatus, RunResult, StageStatus, Verdict

__all__ = [
    "NA",
    "STATUS_TAGS",
    "describe_check",
    "fmt_confidence",
    "fmt_p",
    "fmt_pct",
    "one_line",
    "render_console",
    "summary_line",
]

NA = "n/a"

STATUS_TAGS: dict[CheckStatus, str] = {
    CheckStatus.PASS: "PASS",
    CheckStatus.FAIL: "FAIL",
    CheckStatus.ERROR: "ERROR",
    CheckStatus.SKIPPED: "SKIP",
    CheckStatus.INCONCLUSIVE: "INCON",
}

# Words for the sign of a relative change, per metric family: (increase, decrease).
_DIRECTION: dict[str, tuple[str, str]] = {
    "latency": ("slower", "faster"),
    "memory": ("larger", "smaller"),
    "accuracy": ("worse", "better"),  # accuracy effects are drops / relative worsening
}
_DEFAULT_DIRECTION = ("higher", "lower")

_WS = re.compile(r"\s+")


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return _WS.sub(" ", text).strip()


def fmt_pct(x: float | None) -> str:
    """A relative change as a signed percentage with one decimal: ``0.123`` -> ``+12.3%``.

    ``None`` and NaN give ``n/a``; infinities (an open end of a one-sided interval) give
    ``+inf`` / ``-inf``; a value that rounds to zero is ``+0.0%`` (never ``-0.0%``).
    """
    if x is None or math.isnan(x):
        return NA
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    text = f"{x * 100:+.1f}%"
    return "+0.0%" if text == "-0.0%" else text


def fmt_p(p: float | None) -> str:
    """A p-value with two significant digits; scientific notation below 1e-4.

    ``0.012345`` -> ``0.012``, ``0.0004`` -> ``0.0004``, ``3.21e-7`` -> ``3.2e-7``,
    ``None`` -> ``n/a``.
    """
    if p is None or math.isnan(p):
        return NA
    if p == 0:
        return "0"
    if abs(p) < 1e-4:
        mantissa, exponent = f"{p:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{p:.2g}"


def fmt_confidence(confidence: float | None) -> str:
    """``0.95`` -> ``95% CI``; ``None`` -> ``CI``."""
    if confidence is None or math.isnan(confidence):
        return "CI"
    return f"{confidence * 100:.4g}% CI"


def _fmt_tolerance_plain(tolerance: float) -> str:
    """``0.1`` -> ``10%``: the short form used in sentences."""
    return f"{tolerance * 100:.3g}%"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _ci_text(check: CheckResult) -> str | None:
    if check.ci_low is None and check.ci_high is None:
        return None
    return f"{fmt_confidence(check.confidence)} {fmt_pct(check.ci_low)} .. {fmt_pct(check.ci_high)}"


def _tolerance_clause(check: CheckResult) -> str | None:
    """How the effect relates to the tolerance, worded by status and mode."""
    if check.tolerance is None:
        return None
    tol = fmt_pct(check.tolerance)
    non_inferiority = check.mode.replace("-", "_") == "non_inferiority"
    if check.status is CheckStatus.FAIL:
        if non_inferiority:
            return f"not shown to be within tolerance {tol}"
        return f"exceeds tolerance {tol}"
    if check.status is CheckStatus.PASS:
        if check.tolerance < 0:  # lower is worse (throughput): the tolerance is a drop
            shown_within = check.ci_low is not None and check.ci_low >= check.tolerance
        else:
            shown_within = check.ci_high is not None and check.ci_high <= check.tolerance
        if non_inferiority or shown_within:
            return f"within tolerance {tol}"
        return f"not shown to exceed tolerance {tol}"
    return f"tolerance {tol}"


def _evidence_clause(check: CheckResult, alpha: float | None) -> str | None:
    """``p=0.0004 (Holm-adjusted 0.0012), alpha 0.05, n=400, baseline 3 runs``."""
    parts: list[str] = []
    if check.p_value is not None:
        p = f"p={fmt_p(check.p_value)}"
        if check.p_adjusted is not None:
            p += f" (Holm-adjusted {fmt_p(check.p_adjusted)})"
        parts.append(p)
    elif check.p_adjusted is not None:
        parts.append(f"Holm-adjusted p={fmt_p(check.p_adjusted)}")
    if alpha is not None and parts:
        parts.append(f"alpha {alpha:g}")
    if check.n is not None:
        parts.append(f"n={check.n}")
    if check.baseline_runs is not None:
        parts.append(f"baseline {_plural(check.baseline_runs, 'run')}")
    if check.candidate_runs is not None:
        parts.append(f"candidate {_plural(check.candidate_runs, 'run')}")
    if check.status is CheckStatus.PASS and check.mde is not None:
        parts.append(f"MDE {fmt_pct(check.mde)}")
    return ", ".join(parts) if parts else None


def describe_check(check: CheckResult, *, alpha: float | None = None) -> str:
    """One line that explains a check without opening anything else.

    ``latency p95: +18.2% (95% CI +12.0% .. +25.1%) exceeds tolerance +10.0%;
    p=0.0004 (Holm-adjusted 0.0012), alpha 0.05, n=400, baseline 3 runs``

    ``alpha`` is the run's family-wise error rate (``RunResult.alpha``); a check does not
    carry it. Errors and skips say why: ``memory peak: error: no samples``. The check's
    ``reason``, when present, ends the line.
    """
    name = check.name + (" (critical)" if check.critical else "")
    reason = one_line(check.reason)
    if check.status is CheckStatus.ERROR:
        return f"{name}: error: {reason or 'the check could not be evaluated'}"
    if check.status is CheckStatus.SKIPPED:
        return f"{name}: skipped: {reason or 'no reason given'}"

    head = fmt_pct(check.effect) if check.effect is not None else ""
    ci = _ci_text(check)
    if ci:
        head = f"{head} ({ci})" if head else f"({ci})"
    tolerance = _tolerance_clause(check)
    if tolerance:
        head = f"{head} {tolerance}" if head else tolerance
    if not head:
        head = "passed" if check.status is CheckStatus.PASS else "failed"

    clauses = [head]
    evidence = _evidence_clause(check, alpha)
    if evidence:
        clauses.append(evidence)
    if reason:
        clauses.append(reason)
    return f"{name}: " + "; ".join(clauses)


def _change_phrase(check: CheckResult) -> str:
    """``latency p95 is 18.2% slower than the baseline (tolerance 10%)``."""
    if check.effect is None or math.isnan(check.effect):
        why = one_line(check.reason)
        return f"{check.name} failed" + (f" ({why})" if why else "")
    if check.metric.startswith(("slo.", "agreement.")):
        return _issue_phrase(check)  # absolute limits: the reason carries value and limit
    up, down = _DIRECTION.get(check.metric.split(".")[0]) or _DIRECTION.get(
        check.metric, _DEFAULT_DIRECTION
    )
    word = up if check.effect >= 0 else down
    phrase = f"{check.name} is {abs(check.effect) * 100:.1f}% {word} than the baseline"
    if check.tolerance is not None:
        phrase += f" (tolerance {_fmt_tolerance_plain(check.tolerance)})"
    return phrase


def _issue_phrase(check: CheckResult) -> str:
    why = one_line(check.reason) or "no reason given"
    return f"{check.name} ({why})"


def _join_phrases(phrases: list[str], limit: int = 2) -> str:
    shown = "; ".join(phrases[:limit])
    if len(phrases) > limit:
        shown += f"; and {len(phrases) - limit} more"
    return shown


def _sentence(text: str) -> str:
    text = one_line(text)
    return text if text.endswith((".", "!", "?")) else text + "."


def summary_line(result: RunResult) -> str:
    """The one-sentence "why" of the verdict, for the Markdown headline and the CLI.

    ``1 of 3 checks failed: latency p95 is 18.2% slower than the baseline (tolerance 10%).``
    """
    checks = result.checks
    total = len(checks)
    failed = [c for c in checks if c.status is CheckStatus.FAIL]
    errored = [c for c in checks if c.status is CheckStatus.ERROR]
    skipped = [c for c in checks if c.status is CheckStatus.SKIPPED]

    if result.error is not None:
        stage = next((s for s in result.stages if s.status is StageStatus.FAILED), None)
        where = f" during '{stage.name}'" if stage is not None else ""
        return _sentence(f"The run stopped{where} before a verdict: {result.error.message}")

    if result.verdict is Verdict.MEASURED:
        text = f"Measured {_plural(len(result.runs), 'run')}"
        if result.traffic is not None:
            text += f" of {_plural(result.traffic.requests, 'request')}"
        return _sentence(text + "; nothing was judged")

    if total == 0:
        if result.verdict is Verdict.PASS:
            return "No checks ran, so nothing was compared with the baseline."
        return _sentence(f"No checks ran, so the gate cannot pass ({result.verdict.value})")

    if result.verdict is Verdict.NEEDS_REVIEW and result.trust is not None:
        n = len(result.trust.changes)
        first = one_line(result.trust.changes[0]) if n else "?"
        return _sentence(
            f"Passed under the rules of {result.trust.ref} ({result.trust.commit[:12]}), but "
            f"this change edits them ({_plural(n, 'change')}, first: {first}): a person must "
            "review it"
        )

    if failed:
        text = f"{len(failed)} of {_plural(total, 'check')} failed"
        if errored:
            text += f" and {len(errored)} could not be evaluated"
        return _sentence(f"{text}: " + _join_phrases([_change_phrase(c) for c in failed]))

    if errored:
        text = f"{len(errored)} of {_plural(total, 'check')} could not be evaluated"
        return _sentence(f"{text}: " + _join_phrases([_issue_phrase(c) for c in errored]))

    ran = total - len(skipped)
    if result.verdict is Verdict.PASS:
        if skipped:
            return f"All {_plural(ran, 'check')} that ran passed ({len(skipped)} skipped)."
        if total == 1:
            return "The one check passed."
        return f"All {total} checks passed."

    # No check failed or errored, yet the verdict is not PASS: say what the gate said.
    if ran == 0:
        return _sentence(f"All {_plural(total, 'check')} were skipped, so nothing was judged")
    why = one_line(result.warnings[0]) if result.warnings else ""
    text = f"No check failed, but the verdict is {result.verdict.value}"
    return _sentence(f"{text}: {why}" if why else text)


def _headline_subject(result: RunResult) -> str:
    if result.model is None:
        return "gate"
    if result.model.version:
        return f"{result.model.name} (version {result.model.version})"
    return result.model.name


def render_console(result: RunResult) -> str:
    """A compact plain-text summary for the terminal; ends with a newline."""
    lines = [
        f"gate {result.command}: {result.verdict.value} — {_headline_subject(result)}"
        f" (exit {result.exit_code}, run {result.run_id})",
        summary_line(result),
    ]
    if result.checks:
        lines.append("")
        width = max(len(tag) for tag in STATUS_TAGS.values())
        for check in result.checks:
            tag = STATUS_TAGS[check.status].ljust(width)
            lines.append(f"  {tag}  {describe_check(check, alpha=result.alpha)}")
    if result.warnings:
        lines.append("")
        lines.extend(f"warning: {one_line(w)}" for w in result.warnings)
    if result.error is not None:
        lines.append("")
        lines.append(f"error ({result.error.kind}): {one_line(result.error.message)}")
        if result.error.hint:
            lines.append(f"  hint: {one_line(result.error.hint)}")
    if result.reports:
        lines.append("")
        lines.append("reports:")
        width = max(len(fmt) for fmt in result.reports)
        lines.extend(f"  {fmt.ljust(width)}  {path}" for fmt, path in result.reports.items())
    return "\n".join(lines) + "\n"
