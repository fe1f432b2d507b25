"""``gate --help``, ``--version`` and every command's ``--help`` import nothing heavy.

The cold start is what a person waits for on every typo and what CI pays on every step;
``benchmarks/cli_startup.py`` times it. Timing is too noisy for a test, so this guards the
cause instead: ``python -X importtime`` lists every module a real ``python -m gate`` process
imports, and none of the libraries below may be among them until a command runs.
"""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from conftest import ROOT

from gate.cli.main import cli

HEAVY = (
    "pydantic",
    "pydantic_core",
    "numpy",
    "scipy",
    "statsmodels",
    "yaml",
    "rich",
    "tritonclient",
    "matplotlib",
    "docker",
    "sigstore",
    "fsspec",
    "psutil",
    "jinja2",
    "requests",
    "urllib3",
    "httpx",
    "grpc",
    "cryptography",
    "PIL",
)


def imported(*args: str) -> set[str]:
    """Every module a fresh ``python -m gate ARGS`` process imports (from ``-X importtime``)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("import time:")]
    names = {ln.rsplit("|", 1)[-1].strip() for ln in lines}
    names.discard("package")  # the header line: "import time: self [us] | cumulative | package"
    return names


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, cmd in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(cmd, click.Group):
            paths += _command_paths(cmd, (*prefix, name))
    return paths


def test_the_guard_sees_what_a_process_imports() -> None:
    mods = imported("--version")
    assert {"gate", "gate.cli.main", "click"} <= mods
    assert heavy_in({"yaml", "numpy.linalg", "gateway", "pydantic_core._pydantic_core"}) == [
        "numpy.linalg",
        "pydantic_core._pydantic_core",
        "yaml",
    ]


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("-h",)])
def test_top_level_help_and_version_import_nothing_heavy(args: tuple[str, ...]) -> None:
    assert heavy_in(imported(*args)) == []


@pytest.mark.parametrize("path", _command_paths(cli), ids=" ".join)
def test_every_command_help_imports_nothing_heavy(path: tuple[str, ...]) -> None:
    assert heavy_in(imported(*path, "--help")) == []
