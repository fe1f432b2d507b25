"""Plain-text pieces shared by every report: number formats, one-line check descriptions,
the one-sentence "why" of a verdict, and the compact console summary.

Everything here is a pure function of a ``RunResult`` (or a part of one): no I/O, no
printing. The same ``describe_check`` line appears in the JUnit failure message, the
Markdown report and the terminal, so a reader sees one wording everywhere.
"""

from __future__ import annotations

import math
import re

from gate.report.server_time import one_line_summary, server_time
from gate.report.values import absolute, fmt_effect, in_points
from gate.result import CheckResult, CheckStatus, RunResult, StageStatus, Verdict

__all__ = [
    "NA",
    "STATUS_TAGS",
    "deciding_checks",
    "describe_check",
    "fmt_confidence",
    "fmt_p",
    "fmt_pct",
    "one_line",
    "render_console",
    "report_warnings",
    "sampling_line",
    "status_counts",
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
    low, high = fmt_effect(check, check.ci_low), fmt_effect(check, check.ci_high)
    return f"{fmt_confidence(check.confidence)} {low} .. {high}"


def _tolerance_clause(check: CheckResult) -> str | None:
    """How the effect relates to the tolerance, worded by status and mode."""
    if check.tolerance is None:
        return None
    tol = fmt_effect(check, check.tolerance)
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
        parts.append(f"MDE {fmt_effect(check, check.mde)}")
    return ", ".join(parts) if parts else None


def describe_check(
    check: CheckResult, *, alpha: float | None = None, result: RunResult | None = None
) -> str:
    """One line that explains a check without opening anything else.

    ``latency p95: +18.2% (95% CI +12.0% .. +25.1%) exceeds tolerance +10.0%;
    p=0.0004 (Holm-adjusted 0.0012), alpha 0.05, n=400, baseline 3 runs``

    ``alpha`` is the run's family-wise error rate (``RunResult.alpha``); a check does not
    carry it. With ``result``, the absolute values follow the effect (``+18.2% (1.52 → 1.80
    ms)``, see ``gate.report.values.absolute``). Errors and skips say why: ``memory peak:
    error: no samples``. The check's ``reason``, when present, ends the line.
    """
    name = check.name + (" (critical)" if check.critical else "")
    reason = one_line(check.reason)
    if check.status is CheckStatus.ERROR:
        return f"{name}: error: {reason or 'the check could not be evaluated'}"
    if check.status is CheckStatus.SKIPPED:
        return f"{name}: skipped: {reason or 'no reason given'}"

    head = fmt_effect(check, check.effect) if check.effect is not None else ""
    values = absolute(check, result) if result is not None else None
    if values:
        head = f"{head} ({values})" if head else values
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
    if in_points(check):
        size = f"{abs(check.effect) * 100:.2f} pts"
        tol = f"{abs(check.tolerance) * 100:.2f} pts" if check.tolerance is not None else ""
    else:
        size = f"{abs(check.effect) * 100:.1f}%"
        tol = _fmt_tolerance_plain(check.tolerance) if check.tolerance is not None else ""
    phrase = f"{check.name} is {size} {word} than the baseline"
    if tol:
        phrase += f" (tolerance {tol})"
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


_COUNT_WORDS: tuple[tuple[CheckStatus, str], ...] = (
    (CheckStatus.PASS, "passed"),
    (CheckStatus.FAIL, "failed"),
    (CheckStatus.INCONCLUSIVE, "inconclusive"),
    (CheckStatus.ERROR, "could not be evaluated"),
    (CheckStatus.SKIPPED, "skipped"),
)


def _gates(check: CheckResult) -> bool:
    """Whether a check can decide the verdict (blocking or critical, see gate.judge.decide)."""
    return check.critical or check.blocking


def status_counts(checks: list[CheckResult]) -> str:
    """``7 checks: 2 passed, 4 inconclusive, 1 skipped``: every status counted apart."""
    parts = []
    for status, word in _COUNT_WORDS:
        of = [c for c in checks if c.status is status]
        if not of:
            continue
        advisory = sum(1 for c in of if not _gates(c))
        parts.append(f"{len(of)} {word}" + (f" ({advisory} advisory)" if advisory else ""))
    return f"{_plural(len(checks), 'check')}: " + ", ".join(parts)


def _names(checks: list[CheckResult], limit: int = 3) -> str:
    names = [c.name + (" (critical)" if c.critical else "") for c in checks]
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


def deciding_checks(result: RunResult) -> list[CheckResult]:
    """The checks that decided the verdict, in the order ``gate.judge.decide`` applies them:
    critical failures, else errors, else blocking failures (BLOCKED / ERROR); the checks that
    could not decide (INCONCLUSIVE); the blocking checks that passed (PASS)."""
    st, gating = CheckStatus, [c for c in result.checks if _gates(c)]
    by = {s: [c for c in gating if c.status is s] for s in st}
    critical = [c for c in by[st.FAIL] if c.critical]
    if result.verdict is Verdict.BLOCKED:
        return critical or by[st.FAIL]
    if result.verdict is Verdict.ERROR:
        return by[st.ERROR]
    if result.verdict is Verdict.INCONCLUSIVE:
        return [c for c in by[st.INCONCLUSIVE] if c.critical] or by[st.INCONCLUSIVE]
    if result.verdict is Verdict.PASS:
        return by[st.PASS]
    return []


def _undecided_why(result: RunResult) -> str:
    """Why a check stayed undecided: the sampling budget ran out (with what it was), or,
    without sequential sampling, too little data."""
    sampling = result.sampling
    if sampling is None or not sampling.looks:
        return "could not decide with this much data"
    last = sampling.looks[-1]
    if sampling.stopped == "confirmed":
        return (
            f"stayed undecided when all {last.round} candidate runs were judged again after "
            "a failure (measure.confirm_runs)"
        )
    return (
        f"stayed undecided when the budget was spent ({last.seconds:.0f} s of "
        f"{sampling.max_duration_s:g} s, {last.requests} of {sampling.max_requests} requests "
        f"per arm, {_plural(len(sampling.looks), 'look')})"
    )


def _decision(result: RunResult) -> str:
    """The sentence that names what decided the verdict."""
    deciders = deciding_checks(result)
    inconclusive = [c for c in result.checks if c.status is CheckStatus.INCONCLUSIVE]
    if result.verdict is Verdict.BLOCKED and deciders:
        return "Blocked: " + _join_phrases([_change_phrase(c) for c in deciders])
    if result.verdict is Verdict.ERROR and deciders:
        return "Could not be evaluated: " + _join_phrases([_issue_phrase(c) for c in deciders])
    if result.verdict is Verdict.INCONCLUSIVE and deciders:
        return f"{_names(deciders)} {_undecided_why(result)}, and the policy blocks on that"
    if result.verdict is not Verdict.PASS:
        return f"The verdict is {result.verdict.value}"
    let_through = [c for c in inconclusive if _gates(c)]
    text = f"Passed on {_names(deciders)}" if deciders else "No check was shown within tolerance"
    if let_through:
        text += (
            f"; {_names(let_through)} could not decide and passed only because the policy "
            "says 'inconclusive: pass'"
        )
    return text


def summary_line(result: RunResult) -> str:
    """What the verdict rests on, in one or two sentences: every status counted apart, then
    the checks that decided it (never a warning standing in for a reason).

    ``7 checks: 2 passed, 4 inconclusive, 1 skipped. Passed on accuracy top1 and memory
    (host); latency shift, latency p95, throughput c=1 and 1 more could not decide and passed
    only because the policy says 'inconclusive: pass'.``
    """
    checks = result.checks
    if result.error is not None:
        stage = next((s for s in result.stages if s.status is StageStatus.FAILED), None)
        where = f" during '{stage.name}'" if stage is not None else ""
        return _sentence(f"The run stopped{where} before a verdict: {result.error.message}")
    if result.verdict is Verdict.MEASURED:
        text = f"Measured {_plural(len(result.runs), 'run')}"
        if result.traffic is not None:
            text += f" of {_plural(result.traffic.requests, 'request')}"
        return _sentence(text + "; nothing was judged")
    if not checks:
        if result.verdict is Verdict.PASS:
            return "No checks ran, so nothing was compared with the baseline."
        return _sentence(f"No checks ran, so the gate cannot pass ({result.verdict.value})")
    if all(c.status is CheckStatus.SKIPPED for c in checks):
        return _sentence(f"All {_plural(len(checks), 'check')} were skipped, so nothing was judged")
    if result.verdict is Verdict.NEEDS_REVIEW and result.trust is not None:
        n = len(result.trust.changes)
        first = one_line(result.trust.changes[0]) if n else "?"
        return f"{status_counts(checks)}. " + _sentence(
            f"Passed under the rules of {result.trust.ref} ({result.trust.commit[:12]}), but "
            f"this change edits them ({_plural(n, 'change')}, first: {first}): a person must "
            "review it"
        )
    return f"{status_counts(checks)}. {_sentence(_decision(result))}"


def sampling_line(result: RunResult) -> str | None:
    """How the evidence was sampled, for every report: rounds (live A/B) or candidate runs
    (stored baseline), time and requests used against the budget, and why sampling stopped.
    None when the run did not sample sequentially."""
    sampling = result.sampling
    if sampling is None or not sampling.looks:
        return None
    last = sampling.looks[-1]
    what = "live A/B" if sampling.mode == "live" else "candidate runs against the stored baseline"
    unit = "round" if sampling.mode == "live" else "run"
    rounds = max(lk.round for lk in sampling.looks)
    why = {
        "decided": "every gating check decided",
        "blocked": "a gating check failed",
        "budget": "budget spent",
        "confirmed": "a failure did not hold on more fresh runs (measure.confirm_runs)",
    }.get(sampling.stopped, sampling.stopped or "?")
    return (
        f"Sampling ({what}): {_plural(rounds, unit)} ({_plural(len(sampling.looks), 'look')}), "
        f"{last.seconds:.1f} s of "
        f"the {sampling.max_duration_s:g} s budget, {last.requests} of {sampling.max_requests} "
        f"requests per arm; stopped: {why}."
    )


def report_warnings(result: RunResult) -> list[str]:
    """The run's warnings as reports show them: each once, and none that only restates an
    INCONCLUSIVE check (its row and the headline say it already). ``run.json`` keeps all.

    This is the one place warnings are de-duplicated; every report format calls it.
    """
    inconclusive = [c.name for c in result.checks if c.status is CheckStatus.INCONCLUSIVE]
    seen: set[str] = set()
    out: list[str] = []
    for w in result.warnings:
        text = one_line(w)
        if text in seen:
            continue
        seen.add(text)
        restates = any(
            text.startswith(name) and ("is INCONCLUSIVE" in text or "detectable with" in text)
            for name in inconclusive
        )
        if not restates:
            out.append(text)
    return out


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
    if (sampled := sampling_line(result)) is not None:
        lines.append(sampled)
    if result.checks:
        lines.append("")
        width = max(len(tag) for tag in STATUS_TAGS.values())
        for check in result.checks:
            tag = STATUS_TAGS[check.status].ljust(width)
            lines.append(f"  {tag}  {describe_check(check, alpha=result.alpha, result=result)}")
    table = server_time(result)
    if table is not None:
        lines += ["", one_line_summary(table)]
    warnings = report_warnings(result)
    if warnings:
        lines.append("")
        lines.extend(f"warning: {w}" for w in warnings)
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
