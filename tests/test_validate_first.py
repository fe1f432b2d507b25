"""Everything a run needs is checked before the first server starts.

Each case runs the real CLI (``gate check``) on one piece of bad input and watches every
process it starts (``conftest.run_gate``, by executable name): the run must end with its
one-line error (exit 2), or BLOCKED for a baseline model whose signed file changed, and
neither tritonserver nor perf_analyzer may have been started. Nothing is faked: these paths
fail before serving, so no server is needed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, run_gate
from scenario import gate_yaml

V1 = FIXTURES / "models" / "v1"
SERVING = {"tritonserver", "perf_analyzer"}


def _check(cfg: Path) -> tuple[int, str, set[str]]:
    done = run_gate("check", str(cfg), timeout=120)
    return done.returncode, done.stdout + done.stderr, done.names


def _tampered_copy(tmp_path: Path) -> Path:
    """The demo model with its signatures, and one signed file changed after signing."""
    repo = tmp_path / "baseline-model"
    shutil.copytree(V1, repo, ignore=shutil.ignore_patterns("__pycache__"))
    model_py = repo / "demo" / "1" / "model.py"
    model_py.write_text(model_py.read_text() + "\n# changed after signing\n")
    return repo


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("no baseline", 2, "no baseline for model 'demo'"),
        ("baseline model missing", 2, "missing-model"),
        ("accuracy floor without eval set", 2, "accuracy floor needs an eval set"),
        ("store is a file", 2, "the baseline store is a file, not a folder"),
        ("baseline model tampered", 1, "signature model.py.sig does not verify"),
    ],
)
def test_bad_input_stops_the_run_before_any_server(
    tmp_path: Path, case: str, code: int, message: str
) -> None:
    policy: str | None = None
    baseline = ""
    store = tmp_path / "store"
    if case == "baseline model missing":
        baseline = f"model_dir: {tmp_path / 'missing-model'}"
    elif case == "accuracy floor without eval set":
        policy = "version: 1\naccuracy: {min_accuracy: 0.9}\n"
        baseline = f"model_dir: {V1}"
    elif case == "store is a file":
        store = tmp_path / "store.txt"
        store.write_text("not a folder\n")
    elif case == "baseline model tampered":
        baseline = f"model_dir: {_tampered_copy(tmp_path)}"
    cfg = gate_yaml(tmp_path, policy=policy, baseline=baseline, store=store)
    got, output, started = _check(cfg)
    assert got == code, output
    assert message in output, output
    assert not (started & SERVING), f"{case}: started {sorted(started & SERVING)}"
