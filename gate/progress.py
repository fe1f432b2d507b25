"""Progress of long phases (image pull, server start, replay, accuracy evaluation).

Library code never prints: the pipeline calls a ``progress(message)`` callback at the start
of every stage (pip-audit's pattern). This module turns those calls into what a person sees:

* on an interactive terminal, a ``rich`` status line with a spinner, the current phase and
  its elapsed time, replaced in place, and one finished line per phase with its duration;
* in CI logs (stderr not a TTY, or ``CI`` set to a true value), plain timestamped lines —
  no control characters, no carriage returns, one line per phase start — which read well
  in GitHub's log viewer and in ``grep``.

``make_progress(quiet=True)`` is a no-op. Use it as a context manager so the live display
is torn down before the final summary is printed.
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


class Progress:
    """Callable progress sink; ``mode`` is ``"rich"``, ``"plain"`` or ``"quiet"``."""

    def __init__(self, mode: str, stream: IO[str] | None = None):
        self.mode = mode
        self.stream = stream if stream is not None else sys.stderr
        self._t0 = time.monotonic()
        self._current: str | None = None
        self._since = self._t0
        self._status: Status | None = None
        self._console: Console | None = None

    def __call__(self, message: str) -> None:
        if self.mode == "quiet":
            return
        now = time.monotonic()
        if self.mode == "plain":
            stamp = time.strftime("%H:%M:%S")
            self.stream.write(f"[gate {stamp} +{now - self._t0:6.1f}s] {message}\n")
            self.stream.flush()
            return
        self._finish_phase(now)
        self._current, self._since = message.rstrip("…"), now
        if self._status is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)
            self._status = self._console.status(self._label(), spinner="dots")
            self._status.start()
        else:
            self._status.update(self._label())

    def _label(self) -> str:
        from rich.markup import escape

        return f"[bold]{escape(self._current or '')}[/bold]…"

    def _finish_phase(self, now: float) -> None:
        if self._current is not None and self._console is not None:
            from rich.markup import escape

            name, secs = escape(self._current), now - self._since
            self._console.print(f"  [green]✓[/green] {name} [dim]{secs:.1f}s[/dim]")

    def close(self) -> None:
        if self._status is not None:
            self._finish_phase(time.monotonic())
            self._status.stop()
            self._status = None
            self._current = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()  # whatever ended the block: the status line must not outlive it


def make_progress(quiet: bool, stream: IO[str] | None = None) -> Progress:
    """Rich on an interactive terminal, plain lines in CI or when piped, nothing if quiet."""
    if quiet:
        return Progress("quiet", stream)
    s = stream if stream is not None else sys.stderr
    interactive = bool(getattr(s, "isatty", lambda: False)()) and not in_ci()
    return Progress("rich" if interactive else "plain", s)
