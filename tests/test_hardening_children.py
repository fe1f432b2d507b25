"""Issue 15 item 11: "no server before verification" is asserted by executable name.

The flaky assertion was "no child process at all", which a legitimate ``git rev-parse`` (the
run's commit) broke whenever the 50 ms poll of ``watch_children`` caught it. Tests now ask
which executables ran (``Completed.names``). This checks the watcher on real processes: a
short helper is seen and is no server; a process that starts as a fork of Python and then
becomes ``tritonserver`` is named ``tritonserver`` (the latest name seen, not the first).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import watch_children

SERVERS = ("tritonserver", "perf_analyzer", "triton_python_b")


def _names(script: str) -> set[str]:
    proc = subprocess.Popen([sys.executable, "-c", script], text=True)
    names: dict[int, str] = {}
    watch_children(proc, 60, names)
    return set(names.values())


def test_a_server_started_by_a_helper_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "tritonserver"
    fake.write_text("#!/bin/sh\nsleep 1\n")
    fake.chmod(0o755)
    script = textwrap.dedent(
        f"""
        import os, subprocess, time
        subprocess.run(["git", "--version"], capture_output=True)
        pid = os.fork()
        if pid == 0:  # a child that is Python for a while, then becomes the server
            time.sleep(0.3)
            os.execv("{fake}", ["{fake}"])
        os.waitpid(pid, 0)
        """
    )
    names = _names(script)
    assert "tritonserver" in names, names
    assert {n for n in names if n.startswith(SERVERS)} == {"tritonserver"}, names


def test_a_helper_alone_is_not_a_server() -> None:
    names = _names("import subprocess\nfor _ in range(5): subprocess.run(['sleep', '0.2'])\n")
    assert "sleep" in names, names  # the watcher saw it
    assert not {n for n in names if n.startswith(SERVERS)}
