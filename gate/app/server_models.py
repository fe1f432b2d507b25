"""Models in a running server: what the server says about a loaded model, loading several
at once (``gate.threads.at_once``: work in threads started together), and waiting until
unloaded ones are really gone.

Kept apart from ``gate.app.session`` (which decides *when* models load and what is measured
on them) because these are plain exchanges with one running server (``Launcher``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gate.errors import GateError
from gate.servers import Launcher
from gate.servers.tritonserver import Control
from gate.threads import at_once


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded in the running server, with what the server says about it."""

    name: str
    metadata: dict[str, Any]
    config: dict[str, Any]

    @property
    def max_batch_size(self) -> int:
        return int(self.config.get("max_batch_size", 0))


def describe(server: Launcher, model: str, version: str) -> LoadedModel:
    """A loaded model's metadata and configuration, as the server reports them."""
    return LoadedModel(
        model, server.model_metadata(model, version), server.model_config(model, version)
    )


def load_concurrently(server: Launcher, models: list[str]) -> None:
    """Load several models at once (their loads overlap: a python-backend stub takes a second
    to start)."""
    at_once(server.load_model, models, "gate-load")


def wait_unloaded(server: Launcher, models: list[str], timeout_s: float = 30.0) -> None:
    """Until the server has really unloaded ``models``: Triton answers an unload at once and
    stops the model's processes (a python-backend stub) about a second later. A launcher
    without a repository index to ask gets a fixed two seconds."""
    control = getattr(server, "control", None)
    if not isinstance(control, Control):
        time.sleep(2.0)
        return
    names = set(models)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            index = control.repository_index()
        except GateError:
            return
        busy = ("READY", "LOADING", "UNLOADING")
        if not any(m.get("name") in names and m.get("state") in busy for m in index):
            return
        time.sleep(0.05)
