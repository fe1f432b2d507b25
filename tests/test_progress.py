"""Progress display: plain lines in CI logs, a rich status on a terminal, nothing if quiet."""

from __future__ import annotations

import io

import pytest

from gate.progress import make_progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    buf = io.StringIO()
    with make_progress(False, buf) as p:
        assert p.mode == "plain"
        p("server start #1…")
        p("replay #1…")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[gate ") and lines[1].endswith("replay #1…")
    assert "\x1b" not in buf.getvalue() and "\r" not in buf.getvalue()


def test_ci_forces_plain_lines_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert make_progress(False, _Tty()).mode == "plain"
    monkeypatch.setenv("CI", "false")
    assert make_progress(False, _Tty()).mode == "rich"


def test_rich_on_a_terminal_reports_each_finished_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    buf = _Tty()
    with make_progress(False, buf) as p:
        p("server start #1…")
        p("replay #1…")
    out = buf.getvalue()
    assert "server start #1" in out and "replay #1" in out and "✓" in out


def test_quiet_prints_nothing() -> None:
    buf = io.StringIO()
    with make_progress(True, buf) as p:
        p("replay #1…")
    assert buf.getvalue() == ""
