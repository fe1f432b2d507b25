"""``gate report merge``: many matrix jobs' RunResults → one JUnit, one summary, one verdict.

A matrix over models (or GPU types) runs ``gate check`` once per job; the final job downloads
every ``run.json`` and merges them: ``junit.xml`` with a testsuite per run, ``summary.md``
(the overall verdict first, a table of runs, the failing checks of all runs, each run's own
report folded away) and ``merged.json``. The merged verdict is the worst run's:
ERROR > BLOCKED > INCONCLUSIVE > NEEDS_REVIEW > PASS, and the exit code is that run's. No run
at all is an error, never a pass.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gate.errors import ConfigError
from gate.report.markdown import VERDICT_EMOJI, escape_cell, render_markdown
from gate.report.text import describe_check, fmt_pct, summary_line
from gate.result import CheckStatus, RunResult, Verdict

__all__ = [
    "MERGE_SCHEMA",
    "Merged",
    "merge_runs",
    "render_merged_json",
    "render_merged_junit",
    "render_merged_markdown",
    "worst",
]

MERGE_SCHEMA = "gate-merge/1"

_RANK: dict[Verdict, int] = {
    Verdict.PASS: 0,
    Verdict.MEASURED: 0,
    # passed under the trusted rules; anything that did not pass outranks it, so that a
    # review of the rule change can never wave through a run that failed
    Verdict.NEEDS_REVIEW: 1,
    Verdict.INCONCLUSIVE: 2,
    Verdict.BLOCKED: 3,
    Verdict.ERROR: 4,
}


def worst(results: Sequence[RunResult]) -> RunResult:
    """The run that decides the merged verdict: highest rank, then highest exit code."""
    if not results:
        raise ConfigError("no runs to merge", hint="pass one or more run.json files")
    return max(results, key=lambda r: (_RANK.get(r.verdict, 4), r.exit_code))


@dataclass(frozen=True)
class Merged:
    """The merged outcome of several runs, with a label per run for tables and suites."""

    results: list[RunResult]
    labels: list[str]
    paths: list[str]

    @property
    def verdict(self) -> Verdict:
        w = worst(self.results)
        return Verdict.PASS if w.verdict is Verdict.MEASURED else w.verdict

    @property
    def exit_code(self) -> int:
        return worst(self.results).exit_code

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.verdict.value] = out.get(r.verdict.value, 0) + 1
        return out


def _label(result: RunResult) -> str:
    return result.model.name if result.model is not None else result.run_id


def merge_runs(results: Sequence[RunResult], paths: Sequence[str] | None = None) -> Merged:
    """Label each run (model name, with the run id when a model appears twice)."""
    if not results:
        raise ConfigError("no runs to merge", hint="pass one or more run.json files")
    base = [_label(r) for r in results]
    labels = [
        f"{b} [{r.run_id}]" if base.count(b) > 1 else b for b, r in zip(base, results, strict=True)
    ]
    return Merged(list(results), labels, list(paths or ["" for _ in results]))


def render_merged_junit(merged: Merged) -> str:
    """One JUnit document, a ``<testsuite>`` per run named ``gate.<label>``."""
    from junit_xml import to_xml_report_string

    from gate.report.junit import junit_suite

    suites = [
        junit_suite(r, name=f"gate.{label}")
        for r, label in zip(merged.results, merged.labels, strict=True)
    ]
    return str(to_xml_report_string(suites, prettyprint=True, encoding="utf-8"))


def render_merged_json(merged: Merged) -> str:
    doc: dict[str, Any] = {
        "schema": MERGE_SCHEMA,
        "verdict": merged.verdict.value,
        "exit_code": merged.exit_code,
        "counts": merged.counts(),
        "runs": [
            {
                "label": label,
                "path": path,
                "run_id": r.run_id,
                "model": r.model.name if r.model is not None else None,
                "verdict": r.verdict.value,
                "exit_code": r.exit_code,
                "summary": summary_line(r),
                "failed": [c.name for c in r.checks if c.status is CheckStatus.FAIL],
            }
            for r, label, path in zip(merged.results, merged.labels, merged.paths, strict=True)
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def _fits(text: str, max_chars: int, max_bytes: int | None) -> bool:
    return len(text) <= max_chars and (max_bytes is None or len(text.encode()) <= max_bytes)


def render_merged_markdown(
    merged: Merged, *, max_chars: int = 60000, max_bytes: int | None = None
) -> str:
    """The overall verdict first, a row per run, the failing checks, each run folded away.

    Fitting: each run's own report is included (shortened to its share) only while the
    whole fits; then failing-check rows beyond what fits are counted, not shown.
    """
    v = merged.verdict
    counts = ", ".join(f"{n} {k}" for k, n in sorted(merged.counts().items()))
    n = len(merged.results)
    head = (
        f"## {VERDICT_EMOJI.get(v, '')} {v.value} — {n} gate run{'s' if n != 1 else ''}"
        f" ({counts})\n\n<sub>exit {merged.exit_code}</sub>"
    )
    rows = ["| Run | Verdict | Why | Exit |", "|---|---|---|---|"]
    for r, label in zip(merged.results, merged.labels, strict=True):
        emoji = VERDICT_EMOJI.get(r.verdict, "")
        rows.append(
            f"| {escape_cell(label)} | {emoji} {r.verdict.value} | "
            f"{escape_cell(summary_line(r))} | {r.exit_code} |"
        )
    runs_table = "### Runs\n\n" + "\n".join(rows)

    failing: list[str] = []
    for r, label in zip(merged.results, merged.labels, strict=True):
        for c in r.checks:
            if c.status in (CheckStatus.FAIL, CheckStatus.ERROR):
                failing.append(
                    f"| {escape_cell(label)} | {escape_cell(c.name)} | {c.status.value} | "
                    f"{fmt_pct(c.effect)} | {fmt_pct(c.tolerance)} | "
                    f"{escape_cell(describe_check(c, alpha=r.alpha))} |"
                )
    fail_head = "### Failing checks\n\n| Run | Check | Status | Effect | Tolerance | Detail |\n"
    fail_head += "|---|---|---|---|---|---|"

    def compose(fail_rows: int, per_run: int | None) -> str:
        parts = [head, runs_table]
        if failing:
            shown = failing[:fail_rows]
            block = fail_head + "\n" + "\n".join(shown)
            if len(shown) < len(failing):
                block += f"\n\n_… and {len(failing) - len(shown)} more failing checks;"
                block += " see each run's report._"
            parts.append(block)
        if per_run is not None and per_run > 0:
            for r, label in zip(merged.results, merged.labels, strict=True):
                body = render_markdown(r, max_chars=per_run)
                parts.append(
                    f"<details><summary>{escape_cell(label)}: {r.verdict.value}</summary>"
                    f"\n\n{body}\n\n</details>"
                )
        elif per_run is not None:
            parts.append("_Each run's own report was left out to fit; see its summary.md._")
        return "\n\n".join(parts) + "\n"

    full = compose(len(failing), max_chars)
    if _fits(full, max_chars, max_bytes):
        return full
    # Share what the tables leave among the runs' own reports, as evenly as will fit.
    fixed = len(compose(len(failing), None))
    share = (max_chars - fixed) // max(n, 1) - 200
    if max_bytes is not None:
        share = min(share, (max_bytes - len(compose(len(failing), None).encode())) // (2 * n))
    while share >= 2000:
        text = compose(len(failing), share)
        if _fits(text, max_chars, max_bytes):
            return text
        share = int(share * 0.8)
    text = compose(len(failing), 0)
    if _fits(text, max_chars, max_bytes):
        return text
    lo, hi, best = 0, len(failing), 0
    while lo <= hi:
        mid = (lo + hi) // 2
        if _fits(compose(mid, 0), max_chars, max_bytes):
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return compose(best, 0)
