"""HTML: one self-contained file a person opens from a CI artifact and understands.

Figures are PNG images inlined as base64 ``data:`` URIs, the CSS is inline, and there is no
script and no external URL, so the file works offline, from a zip, and behind any content
policy. Sections: verdict, checks (every number of every check), latency figures (ECDF,
paired log ratios with the tolerance band, percentile ratios with bootstrap CIs), memory
and accuracy (only when the run has them), warnings, error and server log, stages,
environment. A figure that fails to draw becomes a note in its place; the report still
renders.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterable, Sequence
from html import escape

from gate.report.comparison import paired_samples, tolerance_for
from gate.report.context import context_blocks
from gate.report.figures import (
    accuracy_deltas,
    accuracy_section,
    memory_levels,
    memory_section,
    memory_series,
)
from gate.report.server_time import NOTE, fmt_ratio, fmt_us, server_time
from gate.report.text import (
    NA,
    describe_check,
    fmt_p,
    fmt_pct,
    report_warnings,
    sampling_line,
    summary_line,
)
from gate.report.values import absolute, fmt_effect, for_display
from gate.result import CheckResult, CheckStatus, RunResult, StageStatus, Verdict

__all__ = ["accuracy_deltas", "memory_levels", "memory_series", "render_html"]

_VERDICT_CLASS: dict[Verdict, str] = {
    Verdict.PASS: "pass",
    Verdict.BLOCKED: "fail",
    Verdict.INCONCLUSIVE: "warn",
    Verdict.ERROR: "fail",
    Verdict.MEASURED: "info",
    Verdict.NEEDS_REVIEW: "warn",
}
_STATUS_CLASS: dict[CheckStatus, str] = {
    CheckStatus.PASS: "pass",
    CheckStatus.FAIL: "fail",
    CheckStatus.ERROR: "fail",
    CheckStatus.SKIPPED: "info",
    CheckStatus.INCONCLUSIVE: "info",
}
_STAGE_CLASS: dict[StageStatus, str] = {
    StageStatus.OK: "pass",
    StageStatus.FAILED: "fail",
    StageStatus.SKIPPED: "info",
}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#1b1f24;background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:28px 0 8px;
border-bottom:1px solid #d0d7de;padding-bottom:4px}
.verdict{display:inline-block;padding:2px 10px;border-radius:6px;color:#fff;font-weight:700}
.verdict.pass{background:#1a7f37}.verdict.fail{background:#cf222e}
.verdict.warn{background:#9a6700}.verdict.info{background:#57606a}
.meta{color:#57606a;font-size:12px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eaeef2}td.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}
tr.fail td:first-child{border-left:4px solid #cf222e}
tr.pass td:first-child{border-left:4px solid #1a7f37}
tr.info td:first-child{border-left:4px solid #8c959f}
tr.warn td:first-child{border-left:4px solid #9a6700}
span.s-pass{color:#1a7f37;font-weight:600}span.s-fail{color:#cf222e;font-weight:600}
span.s-info{color:#57606a}
figure{margin:12px 0;background:#fff;border:1px solid #d0d7de;padding:8px}
figure img{max-width:100%;height:auto;display:block}
figcaption{color:#57606a;font-size:12px;margin-top:4px}
pre{background:#fff;border:1px solid #d0d7de;padding:8px;overflow:auto;max-height:480px;
font-size:12px}
.note{color:#57606a;font-style:italic}
ul.warnings li{margin:2px 0}
table.checks td:last-child{min-width:240px}
div.scroll{overflow-x:auto;max-width:100%}div.scroll table.checks{min-width:1180px}
"""

_LOG_CHARS = 20000


def _png_tag(png: bytes, alt: str, name: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}" data-figure="{escape(name)}">'
    )


def _figure(name: str, alt: str, caption: str, draw: Callable[[], bytes]) -> str:
    """A ``<figure>``, or a note saying why it could not be drawn (the report goes on)."""
    try:
        png = draw()
    except Exception as exc:  # a plotting bug must not cost the report
        return (
            f'<p class="note" data-figure-error="{escape(name)}">The {escape(alt)} figure '
            f"could not be drawn ({escape(type(exc).__name__)}: {escape(str(exc))}).</p>"
        )
    return f"<figure>{_png_tag(png, alt, name)}<figcaption>{escape(caption)}</figcaption></figure>"


def _table(header: Sequence[str], rows: Iterable[tuple[str, Sequence[str]]], cls: str = "") -> str:
    """Rows are (row class, already-escaped cells)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(f'<tr class="{rc}">' + "".join(cells) + "</tr>" for rc, cells in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(text: object, num: bool = False) -> str:
    cls = ' class="num"' if num else ""
    return f"<td{cls}>{escape(str(text))}</td>"


def _ci(check: CheckResult) -> str:
    if check.ci_low is None and check.ci_high is None:
        return NA
    text = f"{fmt_effect(check, check.ci_low)} .. {fmt_effect(check, check.ci_high)}"
    if check.confidence is not None and math.isfinite(check.confidence):
        text += f" ({check.confidence * 100:.4g}%)"
    return text


def _p(check: CheckResult) -> str:
    if check.p_value is None and check.p_adjusted is None:
        return NA
    if check.p_adjusted is None:
        return fmt_p(check.p_value)
    return f"{fmt_p(check.p_value)} (Holm {fmt_p(check.p_adjusted)})"


def _checks(result: RunResult) -> str:
    if not result.checks:
        return '<p class="note">No checks were run.</p>'
    rows = []
    for c in result.checks:
        cls = _STATUS_CLASS[c.status]
        name = c.name + (" (critical)" if c.critical else "")
        runs = NA
        if c.baseline_runs is not None or c.candidate_runs is not None:
            runs = f"{c.baseline_runs if c.baseline_runs is not None else NA} / "
            runs += f"{c.candidate_runs if c.candidate_runs is not None else NA}"
        cells = [
            _td(name),
            f'<td><span class="s-{cls}">{escape(c.status.value)}</span></td>',
            _td(c.mode),
            _td(absolute(c, result) or NA, True),
            _td(fmt_effect(c, c.effect), True),
            _td(_ci(c), True),
            _td(_p(c), True),
            _td(fmt_effect(c, c.tolerance), True),
            _td(NA if c.n is None else c.n, True),
            _td(runs, True),
            _td(fmt_effect(c, c.mde), True),
            _td(c.reason or describe_check(c, alpha=result.alpha)),
        ]
        rows.append((cls, cells))
    header = [
        "Check",
        "Status",
        "Mode",
        "Baseline → candidate",
        "Effect",
        "CI",
        "p",
        "Tolerance",
        "N",
        "Runs (base / cand)",
        "MDE",
        "Reason",
    ]
    # wide: it scrolls sideways in its own box rather than being clipped on a narrow screen
    return '<div class="scroll">' + _table(header, rows, "checks") + "</div>"


def _latency_figures(result: RunResult) -> str:
    from gate.report import plots

    pairs = paired_samples(result)
    comp = result.comparison
    parts: list[str] = []
    if pairs is None and not result.runs:
        return '<p class="note">No latency samples in this run.</p>'
    if pairs is None:
        if result.verdict is not Verdict.MEASURED:
            parts.append(
                '<p class="note">This run holds no baseline samples, so only the candidate '
                "is shown (a run.json written before gate stored them, or one that stopped "
                "before the judge).</p>"
            )
        cand_runs = [r.latencies_us for r in result.runs]
        parts.append(
            _figure(
                "ecdf",
                "latency ECDF",
                "Candidate latency per run.",
                lambda: plots.ecdf_png([], cand_runs),
            )
        )
        return "\n".join(parts)

    thinned = ""
    if comp is not None and comp.indices:
        thinned = (
            f" Shown on {len(comp.indices):,} evenly spaced of {comp.requests:,} requests;"
            " the percentile ratios below use every request."
        )
    parts.append(
        _figure(
            "ecdf",
            "latency ECDF",
            "Fraction of requests at or below each latency, per run; a curve to the right is "
            "slower." + thinned,
            lambda: plots.ecdf_png(list(pairs.baseline), list(pairs.candidate)),
        )
    )
    shift = next((c for c in result.checks if c.metric == "latency.shift"), None)
    ratios = pairs.log_ratios
    parts.append(
        _figure(
            "log-ratios",
            "paired log ratio histogram",
            "Per request: ln(candidate / baseline), medians over runs on each side. The shaded "
            "band is the policy tolerance; the red line the shift the check estimated.",
            lambda: plots.log_ratio_histogram_png(
                ratios,
                tolerance=shift.tolerance if shift else tolerance_for(result, "latency.shift"),
                effect=shift.effect if shift else None,
                ci=(shift.ci_low, shift.ci_high) if shift else None,
            ),
        )
    )
    if comp is not None and comp.percentiles:
        rows = comp.percentiles
        tolerances = {
            r.percentile: tol
            for r in rows
            if (tol := tolerance_for(result, f"latency.p{r.percentile:g}")) is not None
        }
        parts.append(
            _figure(
                "percentiles",
                "percentile ratio",
                f"Candidate/baseline per percentile, all runs pooled; {comp.confidence:.0%} paired "
                f"bootstrap CI ({comp.resamples} resamples of request indices, seed {comp.seed}).",
                lambda: plots.percentile_ratio_png(
                    [r.percentile for r in rows],
                    [r.ratio for r in rows],
                    [r.ci_low for r in rows],
                    [r.ci_high for r in rows],
                    tolerances=tolerances,
                    confidence=comp.confidence,
                ),
            )
        )
        table_rows = [
            (
                "",
                [
                    _td(f"p{r.percentile:g}"),
                    _td(f"{r.baseline_us:,.1f}", True),
                    _td(f"{r.candidate_us:,.1f}", True),
                    _td(fmt_pct(r.ratio - 1), True),
                    _td(f"{fmt_pct(r.ci_low - 1)} .. {fmt_pct(r.ci_high - 1)}", True),
                ],
            )
            for r in rows
        ]
        parts.append(
            _table(["Percentile", "Baseline (µs)", "Candidate (µs)", "Change", "CI"], table_rows)
        )
    return "\n".join(parts)


# --------------------------------------------------------------------------------------
# The rest
# --------------------------------------------------------------------------------------


def _warnings(result: RunResult) -> str | None:
    warnings = report_warnings(result)
    if not warnings:
        return None
    items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
    return f'<h2>Warnings</h2><ul class="warnings">{items}</ul>'


def _error(result: RunResult) -> str | None:
    e = result.error
    parts: list[str] = []
    if e is not None:
        parts.append(f"<h2>Error: {escape(e.kind)} (exit {e.exit_code})</h2>")
        parts.append(f"<p><strong>{escape(e.message)}</strong></p>")
        if e.hint:
            parts.append(f"<p>Hint: {escape(e.hint)}</p>")
        if e.details:
            parts.append(f"<pre>{escape(e.details[-_LOG_CHARS:])}</pre>")
    if result.server_log_tail.strip():
        log = result.server_log_tail[-_LOG_CHARS:]
        parts.append("<h2>Server log (tail)</h2>" + f"<pre>{escape(log)}</pre>")
    return "".join(parts) or None


def _stages(result: RunResult) -> str | None:
    if not result.stages:
        return None
    rows = [
        (
            _STAGE_CLASS[s.status],
            [_td(s.name), _td(s.status.value), _td(f"{s.seconds:.1f}", True), _td(s.detail)],
        )
        for s in result.stages
    ]
    total = sum(s.seconds for s in result.stages if math.isfinite(s.seconds))
    rows.append(("", [_td("total"), _td(""), _td(f"{total:.1f}", True), _td("")]))
    return "<h2>Stages</h2>" + _table(["Stage", "Status", "Seconds", "Detail"], rows)


def _server_time(result: RunResult) -> str | None:
    table = server_time(result)
    if table is None:
        return None
    header = ["Mean per request", *table.columns] + (["B/A"] if table.paired else [])
    rows = [
        (
            "",
            [_td(label)]
            + [_td(fmt_us(v), True) for v in vals]
            + ([_td(fmt_ratio(table.ratio(vals)), True)] if table.paired else []),
        )
        for label, vals in table.rows
    ]
    return (
        "<h2>Where the time went</h2>"
        f'<p class="note">Triton\'s per-model statistics. {escape(NOTE)}</p>' + _table(header, rows)
    )


def _kv(title: str, pairs: Sequence[tuple[str, object]]) -> str:
    rows = [("", [_td(k), _td(v)]) for k, v in pairs if v not in (None, "")]
    return f"<h3>{escape(title)}</h3>" + _table(["Field", "Value"], rows)


def _context(result: RunResult) -> str:
    blocks = [_kv(title, rows) for title, rows in context_blocks(result) if rows]
    if result.environment:
        blocks.append(_kv("Environment", sorted(result.environment.items())))
    if result.reports:
        blocks.append(_kv("Reports", list(result.reports.items())))
    return "<h2>Environment</h2>" + "".join(blocks) if blocks else ""


def render_html(result: RunResult) -> str:
    """The run as one self-contained HTML document (figures inlined, no external URL).

    Paths are shown relative to the config's folder or shortened (``for_display``), so the
    file can be attached to a pull request without the runner's layout."""
    result = for_display(result)
    v = result.verdict
    subject = result.model.name if result.model is not None else "gate"
    if result.model is not None and result.model.version:
        subject += f" (version {result.model.version})"
    meta = [
        f"run {result.run_id}",
        f"gate {result.command}",
        f"gate {result.gate_version}",
        f"started {result.started_at}",
        f"exit {result.exit_code}",
    ]
    if result.alpha is not None:
        meta.append(f"α = {result.alpha:g} (family-wise)")
    sampled = sampling_line(result)
    head = (
        f'<h1><span class="verdict {_VERDICT_CLASS.get(v, "info")}" id="verdict">'
        f"{escape(v.value)}</span> {escape(subject)}</h1>"
        f"<p>{escape(summary_line(result))}</p>"
        + (f"<p>{escape(sampled)}</p>" if sampled else "")
        + f'<p class="meta">{escape(" · ".join(meta))}</p>'
    )
    sections = [
        head,
        "<h2>Checks</h2>" + _checks(result),
        _warnings(result),
        _error(result),
        "<h2>Latency</h2>" + _latency_figures(result) if result.runs else None,
        _server_time(result),
        memory_section(result, _figure),
        accuracy_section(result, _figure),
        _stages(result),
        _context(result),
    ]
    body = "\n".join(s for s in sections if s)
    title = f"gate {v.value} — {subject}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )
