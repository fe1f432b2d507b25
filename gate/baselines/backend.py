"""Where baselines live: a local folder (default) or any fsspec URL (``s3://bucket/prefix``…).

A store is a flat key space of small files (``<model>/baseline-<envkey>.json.gz`` and its
``history/``). Both kinds promise the same thing to readers: **a file is either absent, the
old version, or the whole new version — never a part**.

* Local folder: ``gate.files.atomic_write`` (a temporary file in the same folder, fsync,
  ``os.replace``, fsync of the folder; new files 0666 minus the umask, so a store shared by
  a group stays writable by it). Writers of one model serialise on a lock file
  (``<model>/.lock``, ``gate.files.file_lock``), so two nightly jobs on one runner (or on a
  shared NFS/EFS mount with working locks) never interleave "move the old baseline to
  history" and "write the new one".
* fsspec URL: the bytes are uploaded to a temporary key beside the target
  (``.tmp-<uuid>-<name>``) and then moved onto it (``fs.mv``; on S3-compatible stores a
  server-side copy, which creates the object whole, then a delete of the temporary key). An
  object store has no portable lock, so concurrent writers of the *same* model and
  environment are last-writer-wins; each one's superseded file still goes to ``history/``
  under a unique name, so nothing is lost and ``gate baseline restore`` can bring any back.
  Run one promote job per model at a time (e.g. a CI concurrency group) if that matters.

fsspec is imported only when a URL is used (``pip install 'triton-gate[store]'`` adds it
with s3fs), so the default local store needs nothing extra.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.errors import ConfigError, InfraError
from gate.files import atomic_write, file_lock, os_errors
from gate.result import is_model_name

#: how long a writer waits for another writer of the same model before giving up (exit 3)
LOCK_TIMEOUT_S = 300.0


def is_url(location: str | Path) -> bool:
    """``s3://…``, ``memory://…``, ``gs://…``: anything fsspec handles; ``file://`` too."""
    return isinstance(location, str) and "://" in location


@dataclass(frozen=True)
class Entry:
    """One file in the store: its key (relative, ``/``-separated) and modification time."""

    key: str
    mtime: float


class Store:
    """The operations the baseline lifecycle needs; keys are relative ``a/b/c`` strings."""

    url: str

    def read_bytes(self, key: str) -> bytes:  # FileNotFoundError when absent
        raise NotImplementedError

    def write_atomic(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def files(self, prefix: str) -> list[Entry]:
        """Files directly under the folder ``prefix`` (no recursion), temporaries excluded."""
        raise NotImplementedError

    def dirs(self) -> list[str]:
        """Top-level folders (one per model)."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def locate(self, key: str) -> str:
        """A human-readable full location of ``key`` for messages and reports."""
        return f"{self.url.rstrip('/')}/{key}" if key else self.url

    def key_of(self, location: str) -> str:
        """The key of a location given on the command line: a key, or a full location of a
        file in this store (``locate`` of it)."""
        prefix = self.url.rstrip("/") + "/"
        return check_key(location[len(prefix) :] if location.startswith(prefix) else location)

    def location(self, key: str) -> Path | str:
        """Where ``key`` is: a ``Path`` in a folder store, a URL string otherwise."""
        return self.locate(key)

    @contextlib.contextmanager
    def lock(self, folder: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        yield


def _is_tmp(name: str) -> bool:
    return name.startswith(".")


def _claims_baseline(name: str) -> bool:
    """A name the store reserves for baseline files: whatever sits there must be one."""
    return name.startswith("baseline-") and name.endswith(".json.gz")


_KEY_HINT = "keys are <model>/baseline-<env>.json.gz or <model>/history/… inside the store"


def check_key(key: str) -> str:
    """``key`` if it is a store key: relative, ``/``-separated, no empty, ``.`` or ``..``
    part, its first part a model name (``gate.result.MODEL_NAME_PATTERN``); else a
    ConfigError (exit 2). Every key the store is handed goes through here, so no name from
    a config, a run.json or a listing can point outside the store."""
    parts = key.split("/")
    if (
        not key
        or "\\" in key
        or "\0" in key
        or any(p in ("", ".", "..") for p in parts)
        or not is_model_name(parts[0])
    ):
        raise ConfigError(f"{key!r}: not a key inside the baseline store", hint=_KEY_HINT)
    return key


class LocalStore(Store):
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.url = str(root)

    def _check_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(
                f"{self.root}: the baseline store is a file, not a folder",
                hint="point baseline.store (or --store) at a folder; it is created if missing",
            )

    def _p(self, key: str) -> Path:
        """The path of ``key``, proven to stay inside the store: every folder on the way is
        a folder, and no symlink leads out of the store's real location."""
        check_key(key)
        self._check_root()
        path = self.root / key
        try:
            real_root = self.root.resolve()
            real = path.resolve()
        except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop (Python < 3.13)
            raise ConfigError(
                f"{path}: cannot be resolved ({e})",
                hint="remove the symlink loop inside the baseline store",
            ) from None
        if not real.is_relative_to(real_root):
            raise ConfigError(
                f"{path}: leads outside the baseline store {self.root} (through a symlink)",
                hint="baseline files and model folders must be real folders inside the store",
            )
        folder = self.root
        for part in key.split("/")[:-1]:
            folder = folder / part
            if folder.exists() and not folder.is_dir():
                raise ConfigError(
                    f"{folder}: is a file where the baseline store needs a folder",
                    hint="move the file away (the store keeps <model>/ and <model>/history/ "
                    "as folders)",
                )
        return path

    def read_bytes(self, key: str) -> bytes:
        return self._p(key).read_bytes()

    def write_atomic(self, key: str, data: bytes) -> None:
        path = self._p(key)
        hint = "check that the baseline store is writable and the disk is not full"
        with os_errors(f"cannot write {path}", hint=hint):
            atomic_write(path, data)

    def exists(self, key: str) -> bool:
        return self._p(key).is_file()

    def files(self, prefix: str) -> list[Entry]:
        """Files under ``prefix``, and anything else named like a baseline file (a folder, a
        dangling link): reading it then says what is wrong instead of passing it over."""
        d = self._p(prefix.rstrip("/"))
        if d.exists() and not d.is_dir():
            raise ConfigError(
                f"{d}: is a file where the baseline store needs a folder",
                hint="move the file away (the store keeps <model>/ and <model>/history/ "
                "as folders)",
            )
        if not d.is_dir():
            return []
        out = []
        for p in d.iterdir():
            if _is_tmp(p.name) or not (p.is_file() or _claims_baseline(p.name)):
                continue
            try:
                mtime = p.stat().st_mtime
            except OSError:
                mtime = 0.0
            out.append(Entry(f"{prefix.rstrip('/')}/{p.name}", mtime))
        return out

    def dirs(self) -> list[str]:
        """Model folders: names that are model names (``gate.result.is_model_name``)."""
        self._check_root()
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and is_model_name(p.name))

    def delete(self, key: str) -> None:
        try:
            self._p(key).unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise InfraError(f"cannot delete {self._p(key)}: {e.strerror}") from None

    def locate(self, key: str) -> str:
        return str(self._p(key)) if key else str(self.root)

    def location(self, key: str) -> Path | str:
        return self._p(key)

    def key_of(self, location: str) -> str:
        """The key of a location given on the command line: a key, or a path of a file
        inside the store (checked: a path outside it is an error, not a key)."""
        p = Path(location)
        if not p.is_absolute() and not p.exists():
            return check_key(location)
        try:
            rel = p.resolve().relative_to(self.root.resolve())
        except (OSError, RuntimeError, ValueError):
            raise ConfigError(
                f"{location}: not inside the baseline store {self.root}",
                hint="pick an entry from 'gate baseline list --history'",
            ) from None
        return check_key(rel.as_posix())

    @contextlib.contextmanager
    def lock(self, folder: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        """An exclusive lock on ``<folder>/.lock``, waited for up to ``timeout_s``."""
        with file_lock(self._p(f"{folder}/.lock"), timeout_s=timeout_s, what="baseline lock"):
            yield


class FsspecStore(Store):
    def __init__(self, url: str):
        try:
            import fsspec
        except ImportError:
            raise ConfigError(
                f"baseline.store {url!r} is a URL but fsspec is not installed",
                hint="pip install 'triton-gate[store]' (fsspec + s3fs), or use a local folder",
            ) from None
        try:
            # a fresh instance: fsspec's cache would keep an endpoint or credentials that
            # the environment has since changed (one store per command, so no cost)
            fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True)
        except (ImportError, ValueError) as e:
            raise ConfigError(
                f"baseline.store {url!r}: {e}",
                hint="install the fsspec backend for this protocol (e.g. s3fs for s3://)",
            ) from None
        self.fs: Any = fs
        self.root = root.rstrip("/")
        self.url = url

    def _p(self, key: str) -> str:
        check_key(key)
        return f"{self.root}/{key}" if self.root else key

    def _infra(self, what: str, key: str, e: Exception) -> InfraError:
        where = key if key.startswith(self.root) else self.locate(key)
        return InfraError(
            f"cannot {what} {where}: {e}",
            hint="check the store URL, its credentials and that the service is reachable",
        )

    def read_bytes(self, key: str) -> bytes:
        try:
            data: bytes = self.fs.cat_file(self._p(key))
        except FileNotFoundError:
            raise
        except Exception as e:
            raise self._infra("read", key, e) from None
        return data

    def write_atomic(self, key: str, data: bytes) -> None:
        final = self._p(key)
        parent, _, name = final.rpartition("/")
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}-{name}" if parent else f".tmp-{uuid.uuid4().hex}"
        try:
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, final)
        except Exception as e:
            with contextlib.suppress(Exception):
                self.fs.rm_file(tmp)
            raise self._infra("write", key, e) from None
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache()

    def exists(self, key: str) -> bool:
        try:
            return bool(self.fs.isfile(self._p(key)))
        except Exception as e:
            raise self._infra("check", key, e) from None

    def _ls(self, path: str) -> list[dict[str, Any]]:
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache()
        try:
            items: list[dict[str, Any]] = self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        except Exception as e:
            raise self._infra("list", path, e) from None
        return items

    def files(self, prefix: str) -> list[Entry]:
        out = []
        for it in self._ls(self._p(prefix.rstrip("/"))):
            name = str(it["name"]).rstrip("/").rpartition("/")[2]
            if _is_tmp(name) or not (it.get("type") == "file" or _claims_baseline(name)):
                continue
            out.append(Entry(f"{prefix.rstrip('/')}/{name}", _mtime(it)))
        return out

    def dirs(self) -> list[str]:
        names = []
        for it in self._ls(self.root or "/"):
            name = str(it["name"]).rstrip("/").rpartition("/")[2]
            if it.get("type") == "directory" and is_model_name(name):
                names.append(name)
        return sorted(names)

    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self._p(key))
        except FileNotFoundError:
            pass
        except Exception as e:
            raise self._infra("delete", key, e) from None


def _mtime(info: dict[str, Any]) -> float:
    for k in ("mtime", "LastModified", "created", "updated"):
        v = info.get(k)
        if v is None:
            continue
        if isinstance(v, int | float):
            return float(v)
        ts = getattr(v, "timestamp", None)
        if callable(ts):
            return float(ts())
    return 0.0


def open_store(location: str | Path | Store) -> Store:
    """The store for a ``baseline.store`` value: a Store, a local path, or an fsspec URL."""
    if isinstance(location, Store):
        return location
    if is_url(location):
        s = str(location)
        if s.startswith("file://"):
            return LocalStore(Path(s[len("file://") :]))
        return FsspecStore(s)
    return LocalStore(Path(location))
