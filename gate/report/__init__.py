"""Reports: pure functions of a ``RunResult``, and writing them next to each other.

``render(result, fmt)`` gives one report as text; ``write_reports`` writes several into a
directory atomically, JSON (the canonical record) first, so a broken renderer or a full disk
never costs the one file ``gate report run.json`` can re-render everything else from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

from gate.errors import ConfigError, InfraError
from gate.files import atomic_write
from gate.redact import redact
from gate.report.json import render_json
from gate.report.junit import render_junit
from gate.report.markdown import render_markdown
from gate.report.text import render_console
from gate.result import RunResult

__all__ = [
    "FILENAMES",
    "FORMATS",
    "FORMATS_DEFAULT",
    "render",
    "write_reports",
]

FORMATS: tuple[str, ...] = ("json", "junit", "markdown", "text", "html")
"""Every format ``render`` knows."""

FORMATS_DEFAULT: tuple[str, ...] = ("json", "junit", "markdown", "html")
"""What ``write_reports`` writes unless told otherwise."""

FILENAMES: dict[str, str] = {
    "json": "run.json",
    "junit": "junit.xml",
    "markdown": "summary.md",
    "text": "summary.txt",
    "html": "report.html",
}
"""The file each format is written to inside the reports directory."""


def _render_html(result: RunResult) -> str:
    from gate.report.html import render_html  # numpy + matplotlib: only when asked for

    return render_html(result)


_RENDERERS: dict[str, Callable[[RunResult], str]] = {
    "json": render_json,
    "junit": render_junit,
    "markdown": render_markdown,
    "text": render_console,
    "html": _render_html,
}

_HINT = "make sure the reports directory (reports.dir in gate.yaml) is writable and has free space"


def _check_formats(formats: Iterable[str]) -> list[str]:
    """``formats`` without duplicates, in order, or a ConfigError naming the unknown one."""
    ordered: list[str] = []
    for fmt in formats:
        if fmt not in _RENDERERS:
            raise ConfigError(
                f"unknown report format {fmt!r}", hint=f"choose from: {', '.join(FORMATS)}"
            )
        if fmt not in ordered:
            ordered.append(fmt)
    return ordered


def render(result: RunResult, fmt: str) -> str:
    """One report of ``result`` as text; ``fmt`` is one of ``FORMATS``."""
    _check_formats([fmt])
    text = _RENDERERS[fmt](result)
    return text if fmt == "json" else redact(text)  # JSON is redacted before it is sealed


def _atomic_write(path: Path, text: str) -> None:
    """A report file, written whole: UTF-8 (a character that cannot be encoded is replaced,
    never the reason a report is missing), ending in a newline."""
    atomic_write(path, (text if text.endswith("\n") else text + "\n").encode(errors="replace"))


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def write_reports(
    result: RunResult, out_dir: Path, *, formats: Iterable[str] = FORMATS_DEFAULT
) -> dict[str, str]:
    """Write the reports of ``result`` into ``out_dir`` (created if needed).

    Returns ``{format: path}`` for the files written, and records the same in
    ``result.reports`` (so ``run.json`` says where its siblings are). A format whose renderer
    fails is left out with a warning in ``result.warnings``; the others are still written.
    JSON is rendered last (so it carries those warnings) and written first. An ``OSError``
    while writing raises ``InfraError`` naming the path, after every file was attempted.
    """
    ordered = _check_formats(formats)
    if "json" in ordered:
        ordered = ["json", *(f for f in ordered if f != "json")]
    paths = {fmt: out_dir / FILENAMES[fmt] for fmt in ordered}

    # Every report lists where the others go; a format that then fails is taken out again.
    for fmt, path in paths.items():
        result.reports[fmt] = str(path)
    texts: dict[str, str] = {}
    for fmt in ordered:
        if fmt == "json":
            continue
        try:
            texts[fmt] = redact(_RENDERERS[fmt](result))
        except Exception as exc:  # a renderer bug must not cost the other reports
            result.reports.pop(fmt, None)
            result.warnings.append(
                f"the {fmt} report could not be rendered ({type(exc).__name__}: {exc}); "
                f"run `gate report {paths.get('json', 'run.json')} --format {fmt}` to retry"
            )
    if "json" in ordered:
        texts = {"json": render_json(result), **texts}

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InfraError(
            f"cannot create the reports directory {out_dir}: {_why(exc)}", hint=_HINT
        ) from exc

    written: dict[str, str] = {}
    failures: list[tuple[Path, OSError]] = []
    for fmt, text in texts.items():
        path = paths[fmt]
        try:
            _atomic_write(path, text)
        except OSError as exc:
            failures.append((path, exc))
            result.reports.pop(fmt, None)
        else:
            written[fmt] = str(path)

    if failures:
        result.warnings.extend(f"cannot write report {p}: {_why(e)}" for p, e in failures)
        if "json" in written:
            # Best effort: let run.json tell the truth about what is missing.
            with contextlib.suppress(OSError):
                _atomic_write(paths["json"], render_json(result))
        first_path, first_exc = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        details = "\n".join(f"{p}: {e!r}" for p, e in failures)
        if written:
            details += "\nwritten: " + ", ".join(written.values())
        raise InfraError(
            f"cannot write report {first_path}: {_why(first_exc)}{more}",
            hint=_HINT,
            details=details,
        ) from first_exc
    return written
