"""What a report says about a run's inputs: the model, its baseline and the traffic.

One list of (field, value) rows per block, laid out by each format (the Markdown summary's
and the HTML page's environment section), so both name the same facts in the same words.
"""

from __future__ import annotations

from collections.abc import Iterable

from gate.result import RunResult

Rows = list[tuple[str, object]]


def _rows(pairs: Iterable[tuple[str, object]]) -> Rows:
    """The rows with a value: an unset or empty field is left out, not shown blank."""
    return [(k, v) for k, v in pairs if v is not None and v != ""]


def context_blocks(result: RunResult) -> list[tuple[str, Rows]]:
    """(title, rows) for the model, the baseline and the traffic, each when the run has it;
    the baseline's block is there without rows when the run had none (that is worth saying).
    """
    blocks: list[tuple[str, Rows]] = []
    if result.model is not None:
        m = result.model
        model = [("name", m.name), ("repository", m.repository), ("version", m.version)]
        model += [("digest", m.digest), ("OCI artifact", m.artifact_digest)]
        blocks.append(("Model", _rows(model)))
    if result.baseline is not None:
        b = result.baseline
        baseline = [("path", b.path), ("recorded at", b.recorded_at), ("runs", b.runs)]
        baseline += [("model digest", b.model_digest), ("traffic digest", b.traffic_digest)]
        blocks.append(("Baseline", _rows([*baseline, ("git commit", b.git_commit)])))
    else:
        blocks.append(("Baseline", []))
    if result.traffic is not None:
        t = result.traffic
        traffic = [("path", t.path), ("requests", t.requests)]
        traffic += [("duration", f"{t.duration_s:.1f} s"), ("digest", t.digest)]
        blocks.append(("Traffic", _rows([*traffic, ("candidate runs", len(result.runs) or None)])))
    return blocks
