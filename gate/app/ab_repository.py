"""The temporary model repository of a live A/B session: the baseline model as
``<name>__A`` and the candidate as ``<name>__B``, hard-linked, each config.pbtxt renamed; and
the order in which a pass sends its blocks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

#: Names of the two arms in the temporary model repository.
ARM_SUFFIX = {"A": "__A", "B": "__B"}

_NAME_LINE = re.compile(r'^(\s*name\s*:\s*)"[^"]*"', re.MULTILINE)


def _copy_arm(src: Path, dst: Path, new_name: str) -> None:
    """Version folders hard-linked (copied across filesystems), config.pbtxt rewritten.

    Not symlinks: the python backend writes ``__pycache__`` next to ``model.py``, and through a
    symlink that bytecode would land in the user's (signed) model folder and block the next
    run's signature check. ``__pycache__`` already there is left out.
    """
    from gate.signing.snapshot import _link_or_copy

    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.name in ("config.pbtxt", "__pycache__"):
            continue
        if item.is_dir():
            shutil.copytree(
                item,
                dst / item.name,
                symlinks=True,
                ignore=shutil.ignore_patterns("__pycache__"),
                copy_function=_link_or_copy,
            )
        else:
            _link_or_copy(str(item), str(dst / item.name))
    cfg = src / "config.pbtxt"
    if cfg.is_file():
        text = cfg.read_text(encoding="utf-8")
        if _NAME_LINE.search(text):
            text = _NAME_LINE.sub(lambda m: f'{m.group(1)}"{new_name}"', text, count=1)
        else:
            text = f'name: "{new_name}"\n' + text
        (dst / "config.pbtxt").write_text(text, encoding="utf-8")


def make_ab_repository(root: Path, name: str, baseline_dir: Path, candidate_dir: Path) -> Path:
    """A Triton model repository under ``root`` with ``<name>__A`` (baseline) and
    ``<name>__B`` (candidate). Returns the repository path; the caller removes ``root``."""
    repo = root / "ab-repository"
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    _copy_arm(baseline_dir, repo / (name + ARM_SUFFIX["A"]), name + ARM_SUFFIX["A"])
    _copy_arm(candidate_dir, repo / (name + ARM_SUFFIX["B"]), name + ARM_SUFFIX["B"])
    return repo


def ab_schedule(n: int, block_size: int) -> list[tuple[str, int, int]]:
    """The send order of one pass: (arm, start, stop) per block, each request range once per
    arm; pairs of blocks alternate their order (A B, B A, A B, …) so that a linear drift over
    the run favours neither arm."""
    if n < 1 or block_size < 1:
        raise ValueError("n and block_size must be >= 1")
    out: list[tuple[str, int, int]] = []
    for j, start in enumerate(range(0, n, block_size)):
        stop = min(n, start + block_size)
        arms = ("A", "B") if j % 2 == 0 else ("B", "A")
        out += [(arm, start, stop) for arm in arms]
    return out
