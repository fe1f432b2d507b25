"""A private copy of the model repository, made right after verification, for the server.

Two reasons the server never reads the user's repository directly once signatures are on:
the python backend writes ``__pycache__`` bytecode next to ``model.py`` (its embedded
interpreter ignores ``PYTHONDONTWRITEBYTECODE``), and that unsigned bytecode would block the
next run; and a file added or changed after verification must not reach the server. Files
are hard-linked where the filesystem allows (cheap for large weights), else copied;
``__pycache__`` folders are left out. The copy is removed when the process exits.
"""

from __future__ import annotations

import atexit
import errno
import os
import shutil
import tempfile
from pathlib import Path


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=True)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES, errno.ENOTSUP):
            raise
        shutil.copy2(src, dst)


def snapshot_repository(repository: Path) -> Path:
    """Copy ``repository`` (hard links where possible) into a private temporary folder."""
    root = Path(tempfile.mkdtemp(prefix="gate-verified-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    dest = root / repository.name
    shutil.copytree(
        repository,
        dest,
        symlinks=True,  # links inside a verified model were checked to stay inside it
        ignore=shutil.ignore_patterns("__pycache__"),
        copy_function=_link_or_copy,
    )
    return dest
