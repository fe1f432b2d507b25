"""Paths named inside a ``run.json`` are read only under the workspace or the baseline store.

A ``run.json`` is input: ``gate report`` may be handed one from anywhere (an artifact of a PR
job, a file attached to an issue). Its ``baseline.path`` must not make gate read, and echo in
an error, any file on the machine (``/etc/shadow`` once); it is followed only when it lies in
the workspace (the current folder, ``$GITHUB_WORKSPACE``) or the store ``./gate.yaml``
configures.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from gate.baselines.store import Baseline, load_baseline
from gate.errors import GateError, InputError


def readable_roots() -> list[Path | str]:
    """The workspace (the current folder, and ``$GITHUB_WORKSPACE`` on Actions) and the
    baseline store of ``./gate.yaml`` when there is one."""
    roots: list[Path | str] = [Path.cwd()]
    if os.environ.get("GITHUB_WORKSPACE"):
        roots.append(Path(os.environ["GITHUB_WORKSPACE"]))
    if Path("gate.yaml").is_file():
        from gate.config.config import load_config

        with contextlib.suppress(GateError):
            roots.append(load_config(Path("gate.yaml")).baseline.store)
    return roots


def is_within(location: str, allowed: Sequence[Path | str]) -> bool:
    """Whether ``location`` (a path, resolved with its symlinks, or a URL) lies under one of
    ``allowed``."""
    if "://" in location:
        return any(
            "://" in str(a) and location.startswith(str(a).rstrip("/") + "/") for a in allowed
        )
    try:
        real = Path(location).resolve(strict=True)
        return any("://" not in str(a) and real.is_relative_to(Path(a).resolve()) for a in allowed)
    except (OSError, RuntimeError):  # missing, unreadable, a symlink loop
        return False


def load_referenced_baseline(location: str, allowed: Sequence[Path | str]) -> Baseline:
    """The baseline at ``location`` (a ``run.json``'s ``baseline.path``) if it lies under one
    of ``allowed``; else an InputError that names the path and reads nothing."""
    if not is_within(location, allowed):
        raise InputError(
            f"{location}: not read: the run's baseline.path is outside the workspace and the "
            "baseline store",
            hint="run gate report in the workspace the run belongs to",
        )
    return load_baseline(location)
