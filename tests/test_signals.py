"""Ctrl-C and SIGTERM: held while a child is created, one path for both, and the run record
kept when they cut the reports short."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, write_config

from gate.cli.finish import INTERRUPTED_WARNING
from gate.report.json import load_run
from gate.signals import Terminated, deferred_signals, sigterm_as_interrupt


def test_sigint_inside_is_raised_after_the_block() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), deferred_signals():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the block ran to its end")  # without deferral this line is skipped
    assert done == ["the block ran to its end"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_is_an_interrupt_until_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    restore = sigterm_as_interrupt()
    try:
        with pytest.raises(KeyboardInterrupt) as caught:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
        assert caught.type is Terminated
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_inside_deferred_block_is_raised_after_it() -> None:
    restore = sigterm_as_interrupt()
    done = []
    try:
        with pytest.raises(Terminated), deferred_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("the block ran to its end")
    finally:
        restore()
    assert done == ["the block ran to its end"]


def test_handlers_restored_and_nothing_raised_without_a_signal() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with deferred_signals():
        pass
    assert signal.getsignal(signal.SIGTERM) is before


# --------------------------------------------------------------------------------------
# Ctrl-C and SIGTERM at the end of a real `gate check`: the record is kept
# --------------------------------------------------------------------------------------

# A real `gate check` process whose HTML report takes as long as a slow matplotlib on a busy
# runner: the renderer announces itself in a file, then waits for the test's signal.
SLOW_REPORTS = r"""
import sys, time
from pathlib import Path

import gate.report

marker = Path(sys.argv[1])


def slow_html(result):
    marker.write_text("rendering the html report")
    time.sleep(120)
    raise AssertionError("the signal never came")


gate.report._RENDERERS["html"] = slow_html
from gate.cli.main import main

sys.argv = ["gate", *sys.argv[2:]]
main()
"""


def _interrupt_while_rendering(
    tmp_path: Path, sig: signal.Signals, reports: Path
) -> tuple[int, str, Path]:
    """Run `gate check` (no baseline yet: an exit-2 run with its reports, no server), send
    ``sig`` while the reports are rendered; its exit code, stderr and temp folder."""
    cfg = write_config(tmp_path / "gate.yaml", store=tmp_path / "store", reports=reports)
    marker, tmp = tmp_path / "rendering", tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_REPORTS, str(marker), "check", "-q", str(cfg)],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), proc.communicate(timeout=10)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err, tmp


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_reports_still_write_run_json(tmp_path: Path, sig: signal.Signals) -> None:
    reports = tmp_path / "reports"
    code, err, _ = _interrupt_while_rendering(tmp_path, sig, reports)
    assert code == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-2:] == [
        f"gate: interrupted; the run was saved in {reports / 'run.json'}",
        "gate: interrupted",
    ]
    run = load_run(reports / "run.json")
    assert run.error is not None and "no baseline" in run.error.message  # the run's own outcome
    assert INTERRUPTED_WARNING in run.warnings
    assert run.reports == {"json": str(reports / "run.json")}
    assert not (reports / "report.html").exists()


def test_interrupted_reports_keep_run_json_in_tmpdir_when_the_folder_fails(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-file").write_text("reports cannot go under a file")
    code, err, tmp = _interrupt_while_rendering(
        tmp_path, signal.SIGTERM, tmp_path / "a-file" / "reports"
    )
    assert code == 130, err
    assert "Traceback" not in err
    kept = list(tmp.glob("gate-run-*.json"))
    assert len(kept) == 1, err
    assert f"gate: the run result was kept in {kept[0]}" in err
    assert INTERRUPTED_WARNING in load_run(kept[0]).warnings
