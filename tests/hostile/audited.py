"""Run the gate CLI with a Python audit hook that logs every file it touches.

``python audited.py LOG gate-args…``: each ``open`` (with its mode or flags), listing,
``mkdir``/``rename``/``remove``/``symlink`` and ``subprocess.Popen`` becomes one JSON line in
LOG, written with ``os.write`` on a descriptor opened before the hook is installed (so the
hook never audits itself). The hostile corpus reads the log to prove that no input made gate
read or write outside its workspace and store. The exit code and output are gate's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

_EVENTS = {
    "os.listdir",
    "os.scandir",
    "os.mkdir",
    "os.rmdir",
    "os.remove",
    "os.rename",
    "os.symlink",
    "os.link",
    "os.truncate",
    "os.chmod",
    "shutil.copyfile",
    "shutil.rmtree",
}


def _install(log_path: str) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    cwd = os.getcwd()

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = (*args, None, None)[:3]
            if isinstance(path, int):
                return
            if mode is None:
                write = bool(flags) and bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            else:
                write = any(c in str(mode) for c in "wax+")
            rec: list[Any] = ["write" if write else "read", os.fsdecode(path)]
        elif event in _EVENTS:
            paths = [os.fsdecode(a) for a in args[:2] if isinstance(a, str | bytes | os.PathLike)]
            rec = [event, *paths]
        elif event == "subprocess.Popen":
            rec = ["exec", os.fsdecode(args[0]), [os.fsdecode(a) for a in (args[1] or [])][:4]]
        else:
            return
        with contextlib.suppress(OSError, TypeError, ValueError):
            os.write(fd, (json.dumps([cwd, *rec]) + "\n").encode())

    sys.addaudithook(hook)


def main() -> None:
    log_path, *args = sys.argv[1:]
    _install(log_path)
    sys.argv = ["gate", *args]
    from gate.cli import main as gate_main

    gate_main()


if __name__ == "__main__":
    main()
