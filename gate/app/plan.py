"""``gate plan``: which models need gating, as a CI matrix.

The CI system is the distributed engine: ``gate plan --changed-since origin/main`` prints
``{"include": [{"model": ..., "config": ..., "id": ...}, ...]}`` and each entry becomes one
job on its own (GPU) runner. There is no scheduler here, only the question "what did this
change touch?".

A model is planned when anything its gate depends on changed since the merge base of REF
and ``HEAD`` (including uncommitted and untracked files, so the same command works locally
before a push): its gate config, its model folder (``model.repository/model.name``), its
traffic file, its policy, any other file or folder the config names (eval sets, signature
files, keys: every path-typed field, so new config sections are covered without touching
this module), the ``watch`` globs listed for it in ``gate-plan.yaml``, or the plan's
``always`` globs. Output locations (the baseline store, the reports folder) are not inputs.

Configs are found by globs (default ``**/gate.yaml``) over the files git knows
(tracked, or untracked and not ignored), so virtual environments and build folders are
never searched. An optional ``gate-plan.yaml`` at the root says otherwise::

    version: 1
    configs:                        # globs, relative to the repository root
      - models/*/gate.yaml
      - path: models/ensemble/gate.yaml
        watch: [models/shared/preprocess/**]   # more inputs of this one model
    always:                         # a change here gates every model
      - ci/triton-image.txt
    runner: [self-hosted, gpu]      # optional: labels for matrix.runner (also per entry)
    trust: [.github/workflows/**]   # a change here needs a review (--trusted-config-from)

A config that does not load is an error (exit 2), never a silently skipped model: the gate
fails closed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gate.config.globs import glob_to_regex
from gate.errors import ConfigError, InfraError

PLAN_FILE = "gate-plan.yaml"
DEFAULT_CONFIG_GLOBS: tuple[str, ...] = ("**/gate.yaml",)
DEFAULT_TRUST_GLOBS: tuple[str, ...] = (".github/workflows/**", "**/CODEOWNERS")
GITHUB_MATRIX_LIMIT = 256
"""GitHub Actions refuses a matrix with more jobs than this."""

# Config fields that are outputs of the gate, not inputs of its verdict.
_OUTPUT_FIELDS = frozenset({"baseline.store", "reports.dir"})


# --------------------------------------------------------------------------------------
# gate-plan.yaml
# --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigEntry(_Strict):
    path: str = Field(min_length=1, description="glob of gate configs, relative to the root")
    watch: tuple[str, ...] = Field((), description="more globs this model depends on")
    runner: tuple[str, ...] | None = Field(
        None, description="runner labels for this model's job (matrix.runner)"
    )


class PlanFile(_Strict):
    """The contents of ``gate-plan.yaml``."""

    version: int = Field(1, ge=1, le=1)
    configs: tuple[str | ConfigEntry, ...] = DEFAULT_CONFIG_GLOBS
    always: tuple[str, ...] = ()
    runner: tuple[str, ...] | None = Field(
        None, description="default runner labels of every job (matrix.runner)"
    )
    trust: tuple[str, ...] = Field(
        DEFAULT_TRUST_GLOBS,
        description="globs of files whose change needs a person's review, read from the base "
        "branch by gate plan --trusted-config-from (see gate.app.trust_report)",
    )

    def entries(self) -> list[ConfigEntry]:
        return [ConfigEntry(path=c) if isinstance(c, str) else c for c in self.configs]


def load_plan_file(path: Path) -> PlanFile:
    """Read ``gate-plan.yaml`` with the same strict, one-line errors as ``gate.yaml``."""
    from gate.config.yaml import read_yaml, validation_message

    data = read_yaml(path, "plan")
    try:
        return PlanFile.model_validate(data)
    except ValidationError as e:
        raise validation_message(path, e, PlanFile) from None


# --------------------------------------------------------------------------------------
# globs (gate.config.globs), relative to the repository root
# --------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob of the plan file, compiled. A pattern ending in ``/`` or naming a folder also
    matches everything below it."""
    pat = pattern.strip().removeprefix("./").rstrip("/")
    return re.compile(f"^{glob_to_regex(pat)}(?:/.*)?$")


def matches(pattern: str, path: str) -> bool:
    return glob_regex(pattern).match(path) is not None


# --------------------------------------------------------------------------------------
# git
# --------------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except FileNotFoundError:
        raise InfraError("git is not installed", hint="install git on the runner") from None
    except subprocess.TimeoutExpired:
        raise InfraError(f"git {' '.join(args)} did not finish in 120 s") from None
    if proc.returncode != 0:
        raise _GitFailed(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "")
    return proc.stdout


class _GitFailed(Exception):
    pass


def repo_root(start: Path) -> Path:
    """The top of the git work tree holding ``start``."""
    if not start.is_dir():
        raise ConfigError(f"--root {start}: not a folder", hint="pass the repository's folder")
    try:
        return Path(_git(start, "rev-parse", "--show-toplevel").strip()).resolve()
    except _GitFailed as e:
        raise ConfigError(
            f"{start}: not inside a git repository ({e})",
            hint="run gate plan in a git checkout or pass --root",
        ) from None


def known_files(root: Path) -> list[str]:
    """Tracked files plus untracked ones git does not ignore (repository-relative)."""
    out = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted({p for p in out.split("\0") if p})


def merge_base(root: Path, ref: str) -> str:
    """The merge base of ``ref`` and ``HEAD``, or a ConfigError that says how to get one."""
    try:
        _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except _GitFailed:
        raise ConfigError(
            f"--changed-since {ref}: no such commit or branch in {root}",
            hint="fetch it first (actions/checkout with fetch-depth: 0, or git fetch origin)",
        ) from None
    try:
        return _git(root, "merge-base", ref, "HEAD").strip()
    except _GitFailed:
        raise ConfigError(
            f"--changed-since {ref}: no common ancestor with HEAD",
            hint="the clone is probably shallow: use actions/checkout with fetch-depth: 0",
        ) from None


def changed_files(root: Path, base: str) -> list[str]:
    """Files that differ between ``base`` and the work tree, plus untracked ones.

    Renames count as a deletion and an addition, so a model moved away from a watched
    folder is still seen as a change there.
    """
    diff = _git(root, "diff", "--name-only", "--no-renames", "-z", base, "--")
    untracked = _git(root, "ls-files", "-z", "--others", "--exclude-standard")
    return sorted({p for p in (diff + untracked).split("\0") if p})


# --------------------------------------------------------------------------------------
# what one config depends on
# --------------------------------------------------------------------------------------


def _path_fields(obj: Any, prefix: str = "") -> Iterator[tuple[str, Path]]:
    """Every ``Path`` value in a config model, with its dotted field name."""
    if isinstance(obj, Path):
        yield prefix, obj
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from _path_fields(getattr(obj, name), f"{prefix}.{name}" if prefix else name)
    elif isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            yield from _path_fields(item, f"{prefix}[{i}]")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _path_fields(v, f"{prefix}.{k}")


def _raw_strings(obj: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every string value in the raw YAML mapping, with its dotted key."""
    if isinstance(obj, str):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _raw_strings(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _raw_strings(item, f"{prefix}[{i}]")


def _existing_paths(config_file: Path) -> Iterator[tuple[str, Path]]:
    """String values of the config that name an existing file or folder next to it.

    A safety net for path fields typed as plain strings (an eval set, a key file): a
    spurious match only gates a model once more, a missed input would let a change through.
    """
    from gate.config.yaml import read_yaml

    base = config_file.parent
    for name, value in _raw_strings(read_yaml(config_file, "config")):
        if not value or "\n" in value or "://" in value or len(value) > 4096:
            continue
        candidate = Path(value).expanduser()
        candidate = candidate if candidate.is_absolute() else base / candidate
        try:
            if candidate.exists():
                yield name, candidate
        except OSError:
            continue


def _relative(root: Path, p: Path) -> str | None:
    try:
        return PurePosixPath(p.resolve().relative_to(root)).as_posix()
    except ValueError:
        return None  # outside the repository: no diff can change it


@dataclass
class Target:
    """One gate config and the repository paths (or globs) its verdict depends on."""

    model: str
    config: str
    inputs: dict[str, str] = field(default_factory=dict)
    """label -> repository-relative path (a file or a folder)"""
    globs: list[str] = field(default_factory=list)
    store: str | None = None
    runner: tuple[str, ...] | None = None

    def reasons(self, changed: Sequence[str], always: Sequence[str]) -> list[str]:
        """Why this target must be gated (empty: it need not)."""
        why: list[str] = []
        for label, path in self.inputs.items():
            if any(f == path or f.startswith(path + "/") for f in changed):
                why.append(label)
        if any(matches(g, f) for g in self.globs for f in changed):
            why.append("watch")
        if any(matches(g, f) for g in always for f in changed):
            why.append("always")
        return why


def load_target(root: Path, config_rel: str, watch: Iterable[str] = ()) -> Target:
    """Load one gate config (strictly) and list what it depends on."""
    from gate.config.config import load_config

    cfg = load_config(root / config_rel)
    target = Target(model=cfg.model.name, config=config_rel, globs=list(watch))
    target.inputs["config"] = config_rel
    found = dict(_existing_paths(root / config_rel))
    found.update(_path_fields(cfg))  # typed fields win (model.repository is special)
    for name, value in found.items():
        if name in _OUTPUT_FIELDS or name.split("[")[0] in _OUTPUT_FIELDS:
            continue
        if name == "model.repository":
            value = value / cfg.model.name
            name = "model"
        rel = _relative(root, value)
        if rel is not None and rel not in ("", "."):
            target.inputs[name] = rel
    store = getattr(cfg.baseline, "store", None)
    if store is not None:
        s = str(store)
        target.store = s if "://" in s else (_relative(root, Path(s)) or s)
    return target


# --------------------------------------------------------------------------------------
# the plan
# --------------------------------------------------------------------------------------


@dataclass
class Plan:
    """The outcome of ``gate plan``: the matrix and how it was reached."""

    include: list[dict[str, Any]]
    targets: int
    base: str | None
    ref: str | None
    changed: int

    def matrix(self) -> dict[str, Any]:
        return {"include": self.include}

    def summary(self) -> str:
        names = ", ".join(f"{e['model']} ({', '.join(e['reasons'])})" for e in self.include)
        if self.ref is None:
            head = f"gate plan: all {self.targets} model(s)"
        else:
            head = (
                f"gate plan: {len(self.include)} of {self.targets} model(s) changed since "
                f"{self.ref} (merge base {(self.base or '')[:12]}, {self.changed} file(s) changed)"
            )
        return head + (f": {names}" if names else "")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def discover(root: Path, plan_file: PlanFile) -> list[Target]:
    """Every gate config the plan's globs match, loaded, in path order."""
    files = [f for f in known_files(root) if (root / f).is_file()]
    chosen: dict[str, list[str]] = {}
    runners: dict[str, tuple[str, ...] | None] = {}
    for entry in plan_file.entries():
        hits = [f for f in files if matches(entry.path, f)]
        for f in hits:
            chosen.setdefault(f, []).extend(entry.watch)
            if entry.runner is not None or f not in runners:
                runners[f] = entry.runner if entry.runner is not None else plan_file.runner
    targets = []
    for f, watch in sorted(chosen.items()):
        t = load_target(root, f, watch)
        t.runner = runners.get(f)
        targets.append(t)
    return targets


def make_plan(
    root: Path,
    *,
    ref: str | None,
    plan_path: Path | None = None,
    everything: bool = False,
) -> Plan:
    """Plan the matrix: the models changed since ``ref`` (or all, with ``everything``)."""
    if ref is None and not everything:
        raise ConfigError(
            "gate plan needs --changed-since REF or --all",
            hint="e.g. gate plan --changed-since origin/main",
        )
    root = repo_root(root)
    if plan_path is None and (root / PLAN_FILE).is_file():
        plan_path = root / PLAN_FILE
    plan_file = load_plan_file(plan_path) if plan_path is not None else PlanFile()
    targets = discover(root, plan_file)

    always = list(plan_file.always)
    if plan_path is not None:
        rel = _relative(root, plan_path)
        if rel:
            always.append(rel)  # a new plan can change every model's gating

    base: str | None = None
    changed: list[str] = []
    if not everything and ref is not None:
        base = merge_base(root, ref)
        changed = changed_files(root, base)

    include = _entries(targets, changed, always, everything=everything)
    return Plan(
        include=include,
        targets=len(targets),
        base=base,
        ref=None if everything else ref,
        changed=len(changed),
    )


def _entries(
    targets: Sequence[Target], changed: Sequence[str], always: Sequence[str], *, everything: bool
) -> list[dict[str, Any]]:
    """One matrix entry per target to gate, with a unique id and why it is gated."""
    counts: dict[str, int] = {}
    for t in targets:
        counts[t.model] = counts.get(t.model, 0) + 1
    include: list[dict[str, Any]] = []
    used: set[str] = set()
    for t in targets:
        reasons = ["all"] if everything else t.reasons(changed, always)
        if not reasons:
            continue
        ident = t.model if counts[t.model] == 1 else f"{t.model}-{PurePosixPath(t.config).parent}"
        ident = _slug(ident)
        while ident in used:
            ident += "_"
        used.add(ident)
        entry: dict[str, Any] = {
            "model": t.model,
            "config": t.config,
            "id": ident,
            "reasons": reasons,
        }
        if t.store is not None:
            entry["store"] = t.store
        if t.runner is not None:
            entry["runner"] = list(t.runner)
        include.append(entry)
    return include


def write_github_output(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Append ``matrix`` (compact JSON) and ``count`` to a ``$GITHUB_OUTPUT`` file."""
    line = json.dumps(plan.matrix(), separators=(",", ":"))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"matrix={line}\ncount={len(plan.include)}\n")
