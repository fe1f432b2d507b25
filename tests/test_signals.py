"""A Ctrl-C inside a child's creation is held until the child's handle exists."""

from __future__ import annotations

import os
import signal

import pytest

from gate.signals import deferred_signals


def test_sigint_inside_is_raised_after_the_block() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), deferred_signals():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the block ran to its end")  # without deferral this line is skipped
    assert done == ["the block ran to its end"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_handlers_restored_and_nothing_raised_without_a_signal() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with deferred_signals():
        pass
    assert signal.getsignal(signal.SIGTERM) is before
