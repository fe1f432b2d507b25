"""Ctrl-C and SIGTERM: one interrupt, held back across the few lines that must not be cut.

SIGTERM is what a CI runner sends when a job is cancelled. :func:`sigterm_as_interrupt`
makes it raise :class:`Terminated`, a ``KeyboardInterrupt``, so both signals take one path:
servers are torn down, the run is recorded as interrupted, and the command exits 130.

A signal that lands inside ``subprocess.Popen`` (after the fork, before ``Popen`` returns)
raises before the caller holds the child's handle, so nobody can stop the child: a
tritonserver would outlive the gate. Inside :func:`deferred_signals` SIGINT and SIGTERM are
only recorded; when the block ends the handlers are restored and a recorded signal is raised
again, now that the child is known and teardown can reach it. Saving the run record after an
interrupt is held back the same way, so a second Ctrl-C cannot cut it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from signal import _HANDLER

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's ``KeyboardInterrupt`` so one ``except`` stops both."""


def _raise_terminated(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise Terminated()


def sigterm_as_interrupt() -> Callable[[], None]:
    """From now on SIGTERM raises :class:`Terminated`; returns what puts the old handler back.

    Only the main thread can set handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = signal.signal(signal.SIGTERM, _raise_terminated)

    def restore() -> None:
        signal.signal(signal.SIGTERM, old)

    return restore


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them (once each)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be changed (and signals only arrive) in the main thread
        return
    pending: list[int] = []

    def record(signum: int, _frame: FrameType | None) -> None:
        pending.append(signum)

    old: dict[int, _HANDLER] = {}
    for s in _SIGNALS:
        old[s] = signal.signal(s, record)
    try:
        yield
    finally:
        for num, h in old.items():
            signal.signal(num, h)
        for num in dict.fromkeys(pending):
            os.kill(os.getpid(), num)  # delivered to the restored handler
