"""Deferring Ctrl-C and SIGTERM across the few lines where a child is being created.

A signal that lands inside ``subprocess.Popen`` (after the fork, before ``Popen`` returns)
raises before the caller holds the child's handle, so nobody can stop the child: a
tritonserver would outlive the gate. Inside :func:`deferred_signals` SIGINT and SIGTERM are
only recorded; when the block ends the handlers are restored and a recorded signal is raised
again, now that the child is known and teardown can reach it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be changed (and signals only arrive) in the main thread
        return
    pending: list[int] = []

    def record(signum: int, _frame: FrameType | None) -> None:
        pending.append(signum)

    old: dict[int, Any] = {}
    for s in _SIGNALS:
        old[s] = signal.signal(s, record)
    try:
        yield
    finally:
        for num, h in old.items():
            signal.signal(num, h)
        for num in dict.fromkeys(pending):
            os.kill(os.getpid(), num)  # delivered to the restored handler
