"""Files written whole or not at all, and locks between gate processes: the one atomic
write and the one file lock every store, report, history and cache uses.

Readers (a concurrent gate run, CI caching, a person opening the report) see the old file or
the whole new one, never a part. New files get the usual permissions (0666 minus the umask),
so a store or report folder shared by a group stays readable by that group.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from gate.errors import InfraError


@contextlib.contextmanager
def atomic_open(path: Path) -> Iterator[IO[bytes]]:
    """A temp file in the target's folder, fsynced and renamed over ``path`` on success.

    Readers (a concurrent gate run, CI caching) then see the old file or the whole new one,
    never a half-written one. The temp file is removed on any failure.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically."""
    with atomic_open(path) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextlib.contextmanager
def os_errors(what: str, *, hint: str | None = None) -> Iterator[None]:
    """An ``OSError`` in the body (a full disk, a read-only folder, a lock that cannot be
    taken) becomes one InfraError line, ``{what}: {reason}`` (exit 3), and no traceback."""
    try:
        yield
    except OSError as e:
        raise InfraError(f"{what}: {e.strerror or e}", hint=hint) from None


@contextlib.contextmanager
def file_lock(path: Path, *, timeout_s: float | None = None, what: str = "lock") -> Iterator[None]:
    """Hold an exclusive lock on the lock file ``path`` (created, with its folder, if missing).

    A ``flock`` through the ``filelock`` package: the kernel drops it when the holder dies,
    so a killed job never leaves a stale lock behind, and waiters share one inode because
    the file stays in place. ``timeout_s`` None waits for as long as it takes; otherwise an
    InfraError (exit 3) says another gate process has held ``what`` for that long.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=-1 if timeout_s is None else timeout_s)
    with os_errors(f"cannot lock {path}"):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:  # an OSError too: said first, in its own words
            raise InfraError(
                f"{path}: another gate process has held the {what} for over {timeout_s:.0f}s",
                hint="wait for the other job to finish, then retry",
            ) from None
    try:
        yield
    finally:
        lock.release()
