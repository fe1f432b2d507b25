"""A real git repository laid out as a user's would be, for the trust and workflow tests.

``make_repo`` commits, on ``main``: the signed fixture model ``demo`` under
``models/repo/demo``, its traffic, a key, a policy that passes an A/A comparison (live A/B
with large tolerances, ``inconclusive: pass``, no memory or throughput checks, so a real
run is short), ``models/demo/gate.yaml`` naming all of them, and ``gate-plan.yaml``.
Branches are made with ``branch`` (a function that edits files and commits).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import FIXTURES

POLICY = """\
version: 1
alpha: 0.01
inconclusive: pass
latency:
  shift: {tolerance: 0.5}
  tails: [{percentile: 95, tolerance: 1.0}]
  min_requests: 50
memory: {enabled: false}
throughput: {enabled: false}
"""

CONFIG = """\
version: 1
model:
  name: demo
  repository: ../repo
launcher:
  kind: local
  startup_timeout_s: 60
  load_timeout_s: 120
traffic:
  path: ../../traffic/demo.jsonl.gz
  warmup_requests: 10
measure:
  timeout_s: 120
baseline:
  store: ../../.gate/baselines
  runs: 2
  ab_block_size: 100
policy: ../../policies/ci.yaml
signatures:
  rules:
    - method: cosign-key
      key: ../../keys/cosign.pub
reports:
  dir: ../../gate-reports/demo
"""

GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str, check: bool = True) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(repo.parent)}
    res = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, timeout=60
    )
    if check and res.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {res.stderr}")
    return res.stdout.strip()


def make_repo(path: Path, extra: Callable[[Path], None] | None = None) -> Path:
    """A repository with one commit on ``main`` (see the module doc)."""
    path.mkdir(parents=True)
    shutil.copytree(FIXTURES / "models" / "v1" / "demo", path / "models" / "repo" / "demo")
    (path / "models" / "demo").mkdir(parents=True)
    (path / "models" / "demo" / "gate.yaml").write_text(CONFIG)
    (path / "traffic").mkdir()
    shutil.copy(FIXTURES / "traffic" / "demo.jsonl.gz", path / "traffic" / "demo.jsonl.gz")
    (path / "keys").mkdir()
    shutil.copy(FIXTURES / "keys" / "TEST-ONLY-cosign.pub", path / "keys" / "cosign.pub")
    (path / "policies").mkdir()
    (path / "policies" / "ci.yaml").write_text(POLICY)
    (path / "gate-plan.yaml").write_text("version: 1\nconfigs: [models/*/gate.yaml]\n")
    (path / ".gitignore").write_text("gate-reports/\n__pycache__/\n")
    if extra is not None:
        extra(path)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    return path


def branch(repo: Path, name: str, edit: Callable[[Path], None], base: str = "main") -> str:
    """Commit ``edit``'s changes on a new branch ``name`` from ``base``; returns its sha."""
    git(repo, "switch", "-q", "-c", name, base)
    edit(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", name)
    sha = git(repo, "rev-parse", "HEAD")
    git(repo, "switch", "-q", base)
    return sha


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
