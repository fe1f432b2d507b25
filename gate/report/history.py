"""Trends: a JSON-lines history of run summaries, and the figures drawn from it.

The nightly job runs ``gate check --history nightly.jsonl`` (or sets ``reports.history``);
each run appends one line: verdict, latency percentiles, every check's effect and CI, and
memory/accuracy figures when the run has them. ``gate report trend nightly.jsonl --out DIR``
then draws, per model, latency, accuracy and memory over time (``trend-<model>.png``) and
one self-contained ``trend.html`` with all of them.

Appending is safe with concurrent writers (two nightly jobs on one shared disk): the line is
written with one ``write`` on an ``O_APPEND`` descriptor while holding the history's lock
file (``.<name>.lock`` beside it, ``gate.files.file_lock``), then fsynced, so readers never
see two lines interleaved. A reader skips a final
line without its newline (a writer that died mid-line) and reports any line it cannot parse
rather than failing the whole trend.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from gate.config.yaml import problem
from gate.errors import ConfigError, InfraError
from gate.files import atomic_write, file_lock
from gate.result import RUN_SCHEMA, CheckStatus, RunResult

__all__ = [
    "HISTORY_SCHEMA",
    "History",
    "append_history",
    "history_entry",
    "read_history",
    "render_trends",
]

HISTORY_SCHEMA = "gate-history/1"
_PERCENTILES = (50.0, 90.0, 95.0, 99.0)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _memory_summary(result: RunResult) -> dict[str, float]:
    from gate.report.html import memory_series

    out: dict[str, float] = {}
    for label, (_, values) in memory_series(result).items():
        finite = [v for v in values if math.isfinite(v)]
        if finite and label.startswith("candidate"):
            out["candidate_peak_mib"] = max(out.get("candidate_peak_mib", 0.0), max(finite))
        elif finite and label.startswith("baseline"):
            out["baseline_peak_mib"] = max(out.get("baseline_peak_mib", 0.0), max(finite))
    return out


def history_entry(result: RunResult, *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One run's summary line: small, flat, and stable across gate versions."""
    env = dict(os.environ) if env is None else env
    latency: dict[str, float] = {}
    runs = [r.latencies_us for r in result.runs if r.latencies_us]
    if runs and len({len(r) for r in runs}) == 1:
        pooled = np.asarray(runs, dtype=np.float64)
        pooled = pooled[np.isfinite(pooled)]
        if pooled.size:
            for q in _PERCENTILES:
                latency[f"p{q:g}"] = float(np.percentile(pooled, q))
    baseline: dict[str, float] = {}
    if result.comparison is not None:
        for row in result.comparison.percentiles:
            baseline[f"p{row.percentile:g}"] = row.baseline_us
            # a run.json stripped of its samples still has the candidate's percentiles
            latency.setdefault(f"p{row.percentile:g}", row.candidate_us)
    checks = {
        c.name: {
            "metric": c.metric,
            "status": c.status.value,
            "effect": _finite(c.effect),
            "ci_low": _finite(c.ci_low),
            "ci_high": _finite(c.ci_high),
            "tolerance": _finite(c.tolerance),
        }
        for c in result.checks
    }
    entry: dict[str, Any] = {
        "schema": HISTORY_SCHEMA,
        "run_id": result.run_id,
        "time": result.finished_at or result.started_at,
        "command": result.command,
        "model": result.model.name if result.model is not None else None,
        "model_version": result.model.version if result.model is not None else None,
        "model_digest": result.model.digest if result.model is not None else None,
        "verdict": result.verdict.value,
        "exit_code": result.exit_code,
        "git_commit": env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA"),
        "git_ref": env.get("GITHUB_REF_NAME") or env.get("CI_COMMIT_REF_NAME"),
        "requests": result.traffic.requests if result.traffic is not None else None,
        "latency_us": latency,
        "baseline_latency_us": baseline,
        "checks": checks,
        "memory": _memory_summary(result),
        "failed": [c.name for c in result.checks if c.status is CheckStatus.FAIL],
        "error": result.error.message if result.error is not None else None,
    }
    return entry


def append_history(path: Path, entry: dict[str, Any]) -> None:
    """Append ``entry`` as one line to ``path`` (created with its folder if missing).

    One ``write`` of the whole line on an ``O_APPEND`` descriptor under the history's lock,
    then ``fsync``: concurrent writers never interleave, and a crash leaves at
    most one partial last line, which readers skip. ``InfraError`` when it cannot write.
    """
    line = json.dumps(entry, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InfraError(
            f"cannot open the history file {path}: {e.strerror or e}",
            hint="make sure reports.history (or --history) points to a writable file",
        ) from e
    with file_lock(path.with_name(f".{path.name}.lock"), what="history lock"):
        _append(path, line.encode("utf-8"))


def _append(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as e:
        raise InfraError(
            f"cannot open the history file {path}: {e.strerror or e}",
            hint="make sure reports.history (or --history) points to a writable file",
        ) from e
    try:
        # A previous writer that died mid-line left no newline: start ours on a fresh line.
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    data = b"\n" + data
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as e:
        raise InfraError(
            f"cannot append to the history file {path}: {e.strerror or e}",
            hint="make sure the disk holding reports.history has space",
        ) from e
    finally:
        os.close(fd)


@dataclass
class History:
    """Entries read from a history file, and the lines that could not be read."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def models(self) -> list[str]:
        return sorted({str(e["model"]) for e in self.entries if e.get("model")})


def read_history(path: Path) -> History:
    """Every well-formed entry of ``path``, in file order; bad lines become ``problems``.

    A line may also be a whole ``gate-run/1`` document (a run.json on one line): it is
    summarised as ``gate report append`` would have.

    A missing or unreadable file is a ``ConfigError`` (exit 2) naming it.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(
            f"{path}: cannot read the history file: {e.strerror or e}",
            hint="pass the file written by gate check --history (or reports.history)",
        ) from e
    history = History()
    lines = raw.split(b"\n")
    complete = lines[:-1]  # whatever follows the last newline is a line still being written
    if lines[-1].strip():
        history.problems.append(f"{path}: line {len(lines)}: incomplete last line skipped")
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            history.problems.append(f"{path}: line {number}: not JSON ({e}); skipped")
            continue
        if isinstance(entry, dict) and entry.get("schema") == RUN_SCHEMA:
            # a whole run.json on one line (e.g. `jq -c . run.json >> history.jsonl`)
            try:
                entry = history_entry(RunResult.model_validate(entry), env={})
            except ValidationError as e:
                history.problems.append(
                    f"{path}: line {number}: not a valid run.json ({problem(e)}); skipped"
                )
                continue
        if not isinstance(entry, dict) or entry.get("schema") != HISTORY_SCHEMA:
            history.problems.append(
                f"{path}: line {number}: field 'schema' is not {HISTORY_SCHEMA!r}; skipped"
            )
            continue
        history.entries.append(entry)
    return history


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------


def _time(entry: dict[str, Any]) -> dt.datetime | None:
    value = entry.get("time")
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


@dataclass
class _Panel:
    title: str
    ylabel: str
    series: dict[str, list[float | None]]


def _panels(entries: Sequence[dict[str, Any]]) -> list[_Panel]:
    """Latency percentiles, latency check effects, accuracy, memory: those with data."""

    def collect(get: Any, keys: Sequence[str]) -> dict[str, list[float | None]]:
        series = {k: [get(e, k) for e in entries] for k in keys}
        return {k: v for k, v in series.items() if any(x is not None for x in v)}

    def checks_of(prefix: str) -> list[str]:
        names: list[str] = []
        for e in entries:
            for name, c in (e.get("checks") or {}).items():
                metric = str((c or {}).get("metric", ""))
                if metric.startswith(prefix) and name not in names:
                    names.append(name)
        return names

    def effect(e: dict[str, Any], name: str) -> float | None:
        c = (e.get("checks") or {}).get(name) or {}
        v = _num(c.get("effect"))
        return None if v is None else 100 * v

    panels = []
    lat = collect(
        lambda e, k: _num((e.get("latency_us") or {}).get(k)),
        [f"p{q:g}" for q in _PERCENTILES],
    )
    if lat:
        panels.append(_Panel("Latency (candidate, all runs pooled)", "µs", lat))
    lat_checks = collect(effect, checks_of("latency"))
    if lat_checks:
        panels.append(_Panel("Latency checks: change vs baseline", "%", lat_checks))
    acc = collect(effect, checks_of("accuracy") + checks_of("agreement"))
    if acc:
        panels.append(_Panel("Accuracy checks: change vs baseline", "%", acc))
    mem = collect(
        lambda e, k: _num((e.get("memory") or {}).get(k)),
        ["candidate_peak_mib", "baseline_peak_mib"],
    )
    if mem:
        panels.append(_Panel("Memory peak", "MiB", mem))
    mem_checks = collect(effect, checks_of("memory"))
    if mem_checks:
        panels.append(_Panel("Memory checks: change vs baseline", "%", mem_checks))
    return panels


def _model_png(model: str, entries: Sequence[dict[str, Any]], panels: list[_Panel]) -> bytes:
    from gate.report.plots import trend_png

    times = [_time(e) for e in entries]
    verdicts = [str(e.get("verdict", "")) for e in entries]
    return trend_png(
        times,
        [(p.title, p.ylabel, p.series) for p in panels],
        title=f"{model}: {len(entries)} runs, {times[0]:%Y-%m-%d} .. {times[-1]:%Y-%m-%d}",
        markers=verdicts,
    )


def _by_model(history: History, model: str | None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    models = [model] if model is not None else history.models()
    for m in models:
        entries = [e for e in history.entries if e.get("model") == m and _time(e) is not None]
        entries.sort(key=lambda e: _time(e) or dt.datetime.min.replace(tzinfo=dt.timezone.utc))
        yield m, entries


def render_trends(history: History, out_dir: Path, *, model: str | None = None) -> list[Path]:
    """Write ``trend-<model>.png`` per model and one ``trend.html``; returns the paths.

    ``model`` restricts to one model (a ``ConfigError`` if the history has none of it).
    """
    if model is not None and model not in history.models():
        known = ", ".join(history.models()) or "none"
        raise ConfigError(
            f"no runs of model {model!r} in the history", hint=f"models in the history: {known}"
        )
    if not history.entries:
        raise ConfigError(
            "the history holds no runs", hint="gate check --history PATH appends one per run"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    sections: list[str] = []
    for name, entries in _by_model(history, model):
        if not entries:
            continue
        panels = _panels(entries)
        rows = "".join(
            f"<tr><td>{escape(str(e.get('time')))}</td><td>{escape(str(e.get('verdict')))}</td>"
            f"<td>{escape(str(e.get('git_commit') or ''))[:12]}</td>"
            f"<td>{escape(', '.join(e.get('failed') or []))}</td></tr>"
            for e in reversed(entries[-20:])
        )
        table = (
            "<table><thead><tr><th>Time</th><th>Verdict</th><th>Commit</th><th>Failed</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>"
        )
        if not panels:
            sections.append(
                f"<h2>{escape(name)}</h2><p>No numbers to draw in {len(entries)} runs.</p>{table}"
            )
            continue
        png = _model_png(name, entries, panels)
        path = out_dir / f"trend-{_SAFE.sub('_', name)}.png"
        atomic_write(path, png)
        written.append(path)
        data = base64.b64encode(png).decode("ascii")
        sections.append(
            f'<h2>{escape(name)}</h2><img src="data:image/png;base64,{data}" '
            f'alt="trend of {escape(name)}" data-figure="trend-{escape(name)}">'
            f"<h3>Last runs</h3>{table}"
        )
    problems = "".join(f"<li>{escape(p)}</li>" for p in history.problems)
    html = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>gate trends</title>'
        "<style>body{font:14px system-ui,sans-serif;max-width:1100px;margin:24px auto;"
        "color:#1b1f24}img{max-width:100%}table{border-collapse:collapse}"
        "td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}</style></head><body>"
        f"<h1>gate trends</h1><p>{len(history.entries)} runs.</p>"
        + "".join(sections)
        + (f"<h2>Skipped lines</h2><ul>{problems}</ul>" if problems else "")
        + "</body></html>\n"
    )
    html_path = out_dir / "trend.html"
    atomic_write(html_path, html)
    written.append(html_path)
    return written
