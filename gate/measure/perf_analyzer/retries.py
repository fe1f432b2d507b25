"""Retries as the run reports them: a note for a stage's detail, a warning per place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gate.evidence import PerfAnalyzerRetry

if TYPE_CHECKING:
    from gate.result import RunResult


def retry_note(retries: Sequence[PerfAnalyzerRetry]) -> str:
    """``""``, or ``"; "`` and how many attempts failed, the seconds they cost and the first
    reason: what a stage's detail adds when perf_analyzer was retried."""
    if not retries:
        return ""
    return "; " + _describe(retries)


def _describe(retries: Sequence[PerfAnalyzerRetry]) -> str:
    lost = sum(r.seconds for r in retries)
    first = retries[0]
    return (
        f"{len(retries)} failed attempt(s) retried, {lost:.1f} s lost "
        f"(attempt {first.attempt}: {first.reason})"
    )


def retry_warnings(result: RunResult) -> list[str]:
    """One warning per replay, throughput level or A/B block whose perf_analyzer was retried.

    A retry is not an error (the measurement that counts succeeded), but it is time lost and
    a sign of an unhealthy client or server that a reviewer should see.
    """
    out: list[str] = []
    for run in result.runs:
        if run.perf_analyzer is not None and run.perf_analyzer.retries:
            out.append(f"replay #{run.index + 1}: {_describe(run.perf_analyzer.retries)}")
    for tr in result.throughput:
        for lv in tr.levels:
            if lv.retries:
                where = f"throughput #{tr.index + 1} at concurrency {lv.concurrency}"
                out.append(f"{where}: {_describe(lv.retries)}")
    if result.ab is not None:
        for k, b in enumerate(result.ab.blocks):
            if b.retries:
                where = f"A/B block {k + 1} (arm {b.arm}, requests {b.start}-{b.stop - 1})"
                out.append(f"{where}: {_describe(b.retries)}")
    return [f"perf_analyzer was retried in {w}" for w in out]
