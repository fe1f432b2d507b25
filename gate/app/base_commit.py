"""The files of a base commit, read with ``git`` into a private folder (``gate.app.trust``).

``git show`` / ``git archive`` of one commit, never a checkout: the work tree and the index
of the repository are left alone, and nothing of the change under test is read.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gate.errors import ConfigError

_LFS = b"version https://git-lfs.github.com/spec/v1"


def git_output(root: Path, *args: str) -> bytes | None:
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"git {args[0]} failed in {root}: {e}") from None
    return proc.stdout if proc.returncode == 0 else None


def resolve_commit(root: Path, ref: str) -> str:
    """The commit ``ref`` names, or exit 2 saying how to get it into the clone."""
    out = git_output(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if not out or not ref or ref.startswith("-"):
        raise ConfigError(
            f"--trusted-config-from {ref}: no such commit in {root}",
            hint="fetch the base branch first (actions/checkout with fetch-depth: 0)",
        )
    return out.decode().strip()


@dataclass
class BaseTree:
    """The files of one commit, written on demand under ``workdir`` at their repository
    paths (so that relative paths between them resolve as they do in the repository)."""

    root: Path
    ref: str
    commit: str
    workdir: Path

    def rel(self, p: Path | str) -> str | None:
        """``p`` relative to the repository, whether it lies in the work tree or the copy."""
        path = Path(p)
        for top in (self.workdir, self.root):
            try:
                return PurePosixPath(path.relative_to(top)).as_posix()
            except ValueError:
                continue
        return None

    def kind(self, rel: str) -> str | None:
        out = git_output(self.root, "cat-file", "-t", f"{self.commit}:{rel}")
        return out.decode().strip() if out else None

    def fetch(self, rel: str) -> Path | None:
        """Write the commit's file or folder ``rel`` under ``workdir``; None if it has none."""
        dest = self.workdir / rel
        kind = self.kind(rel)
        if kind == "blob":
            data = git_output(self.root, "show", f"{self.commit}:{rel}") or b""
            self._refuse_lfs(rel, data)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            mode = (git_output(self.root, "ls-tree", self.commit, "--", rel) or b"").split(b" ", 1)[
                0
            ]
            dest.chmod(0o755 if mode == b"100755" else 0o644)
            return dest
        if kind == "tree":
            data = git_output(self.root, "archive", "--format=tar", self.commit, "--", rel) or b""
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for member in tar.getmembers():
                    f = tar.extractfile(member) if member.isfile() else None
                    if f is not None:
                        self._refuse_lfs(member.name, f.read(len(_LFS)))
                tar.extractall(self.workdir, filter="data")
            return dest
        return None

    def _refuse_lfs(self, rel: str, head: bytes) -> None:
        if head.startswith(_LFS):
            raise ConfigError(
                f"{self.ref}:{rel} is a Git LFS pointer; the trusted copy cannot be read",
                hint="keep policies, keys and a repository baseline store out of Git LFS "
                "(or use an object store for baselines)",
            )

    def message(self, text: str) -> str:
        """An error text with the private folder replaced by ``REF:``."""
        return text.replace(f"{self.workdir}/", f"{self.ref}:")
