"""Issue 15 item 11: "no server before verification" is asserted by executable name.

The flaky assertion was "no child process at all", which a legitimate ``git rev-parse`` (the
run's commit) broke whenever the 50 ms poll of ``watch_children`` caught it. Tests now ask
``Completed.started()``: which of tritonserver, perf_analyzer, the python backend's stub or
docker ran. This checks the watcher itself on real processes: a short helper is seen and
allowed, a process named ``tritonserver`` is seen and named.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import Completed, watch_children


def test_started_names_the_server_and_lets_helpers_pass(tmp_path: Path) -> None:
    fake = tmp_path / "tritonserver"
    fake.write_text("#!/bin/sh\nsleep 1\n")
    fake.chmod(0o755)
    script = textwrap.dedent(
        f"""
        import subprocess, time
        subprocess.run(["git", "--version"], capture_output=True)
        subprocess.run(["{fake}"])
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], text=True)
    names: dict[int, str] = {}
    kids = watch_children(proc, 60, names=names)
    res = Completed(proc.returncode, "", "", kids, names)
    started = res.started()
    assert len(started) == 1 and started[0].endswith(" tritonserver"), names
    assert not any(n == "tritonserver" for n in res.started(("perf_analyzer",)))


def test_a_helper_alone_is_not_a_server(tmp_path: Path) -> None:
    script = "import subprocess, time\nfor _ in range(5): subprocess.run(['sleep', '0.2'])\n"
    proc = subprocess.Popen([sys.executable, "-c", script], text=True)
    names: dict[int, str] = {}
    kids = watch_children(proc, 60, names=names)
    res = Completed(proc.returncode, "", "", kids, names)
    assert "sleep" in names.values(), names  # the watcher saw it
    assert res.started() == []
