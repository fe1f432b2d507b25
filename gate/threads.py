"""Work in threads started together: what measures both arms of a live A/B session at the
same moment (loads, eval sets, replays, throughput runs) and what loads several models at
once. In the lowest layer because both the measurements (``gate.measure``) and the session
(``gate.app``) need it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from gate.errors import GateError

T = TypeVar("T")


def at_once(work: Callable[[T], None], items: Iterable[T], name: str) -> None:
    """``work(item)`` for every item, each in its own thread (``{name}-{item}``), all started
    together, in ``items``' order. Once all have ended the first failure is raised in the
    caller's thread, a ``GateError`` before any other (it is the one a reader can act on)."""
    errors: list[BaseException] = []

    def one(item: T) -> None:
        try:
            work(item)
        except BaseException as e:  # re-raised below, in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,), name=f"{name}-{i}") for i in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise ([e for e in errors if isinstance(e, GateError)] or errors)[0]
