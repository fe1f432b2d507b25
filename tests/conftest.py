"""Shared fixtures. Server tests use the real tritonserver (from nvidia-pytriton) and the
real perf_analyzer (from the tritonclient wheel, installed into the gate cache on first use).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def gate_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gate", *args]


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str
    children: set[int]
    names: set[str] = field(default_factory=set)  # executable names of those children

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_gate(
    *args: str, timeout: float = 300, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Completed:
    """Run the real CLI, watching every process it starts so tests can prove teardown.

    ``env`` is added to (and overrides) this process's environment."""
    proc = subprocess.Popen(
        gate_cmd(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd or ROOT,
        env={**os.environ, **env} if env is not None else None,
    )
    names: dict[int, str] = {}
    children = watch_children(proc, timeout, names)
    out, err = proc.communicate()
    return Completed(proc.returncode, out, err, children, set(names.values()))


def watch_children(
    proc: subprocess.Popen[str], timeout: float, names: dict[int, str] | None = None
) -> set[int]:
    """Poll the process tree until ``proc`` exits, returning every descendant pid seen
    (and filling ``names`` with their executable names, read while they run)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        parent = psutil.Process(proc.pid)
    except psutil.NoSuchProcess:
        return seen
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"gate did not finish within {timeout}s")
        try:
            found = parent.children(recursive=True)
            # tritonserver runs in its own session; its stubs are its children
            for c in list(parent.children()):
                found += c.children(recursive=True)
            seen.update(c.pid for c in found)
            if names is not None:
                for c in found:
                    # the latest name: a child seen between fork and exec still reads
                    # 'python' the first time, and must not hide the program it became
                    with contextlib.suppress(psutil.Error):
                        names[c.pid] = c.name()
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    return seen


def alive(pids: set[int]) -> list[str]:
    """Descriptions of the pids that still run (zombies excluded)."""
    left = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{pid} {p.name()}")
        except psutil.NoSuchProcess:
            pass
    return left


@dataclass
class DemoProject:
    root: Path
    config: Path
    store: Path
    reports: Path

    def write_config(self, name: str = "gate.yaml", **overrides: str) -> Path:
        text = self.config.read_text()
        for key, value in overrides.items():
            text = text.replace(f"@{key}@", value)
        path = self.root / name
        path.write_text(text)
        return path


CONFIG_TEMPLATE = """\
version: 1
model:
  name: {model}
  repository: {repository}
launcher:
  kind: local
  startup_timeout_s: 60
  load_timeout_s: 120
traffic:
  path: {traffic}
  warmup_requests: 30
measure:
  timeout_s: 120
  retries: 2
baseline:
  store: {store}
  runs: {runs}
policy: {policy}
signatures:
  # the fixture models are signed with the TEST-ONLY key (fixtures/sign_models.py); a
  # temporary unsigned model only warns here, a signed file that changed still blocks
  required: false
  rules:
    - method: cosign-key
      key: {test_key}
reports:
  dir: {reports}
"""

TEST_KEY = FIXTURES / "keys" / "TEST-ONLY-cosign.pub"


def write_config(
    path: Path,
    *,
    model: str = "demo",
    repository: Path = FIXTURES / "models" / "v1",
    traffic: Path = FIXTURES / "traffic" / "demo.jsonl.gz",
    store: Path,
    runs: int = 4,
    policy: Path = ROOT / "gate" / "data" / "policy.yaml",
    reports: Path,
    extra: str = "",
) -> Path:
    extra = textwrap.dedent(extra)
    path.write_text(
        _without_sections(CONFIG_TEMPLATE, _top_keys(extra)).format(
            model=model,
            repository=repository,
            traffic=traffic,
            store=store,
            runs=runs,
            policy=policy,
            reports=reports,
            test_key=TEST_KEY,
        )
        + extra
    )
    return path


def _top_keys(text: str) -> set[str]:
    return {line.split(":", 1)[0] for line in text.splitlines() if line[:1].isalpha()}


def _without_sections(template: str, keys: set[str]) -> str:
    """The template without the top-level sections ``extra`` replaces: gate refuses a YAML
    key given twice (the last would silently win), so a test's section replaces the
    template's instead of repeating it."""
    out: list[str] = []
    skipping = False
    for line in template.splitlines(keepends=True):
        if line[:1].isalpha():
            skipping = line.split(":", 1)[0] in keys
        if not skipping:
            out.append(line)
    return "".join(out)


@pytest.fixture(scope="session")
def tools_ready() -> None:
    """Fail early and clearly if the real tools are missing (they are installed by pip)."""
    from gate.tools import find_perf_analyzer, find_tritonserver

    find_tritonserver()
    find_perf_analyzer()  # installs into the cache on first use


@pytest.fixture(scope="session")
def recorded_baseline(
    tmp_path_factory: pytest.TempPathFactory, tools_ready: None
) -> Iterator[tuple[Path, Path]]:
    """A baseline of the demo model (4 runs, each on a fresh server), recorded once."""
    root = tmp_path_factory.mktemp("baseline")
    store = root / "store"
    cfg = write_config(root / "gate.yaml", store=store, reports=root / "reports")
    res = run_gate("baseline", "record", str(cfg), "-q", timeout=400)
    assert res.returncode == 0, res.output
    assert not alive(res.children), "baseline record left processes behind"
    yield store, cfg
    shutil.rmtree(root, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # fast tests first: a broken statistic should not wait for servers
    items.sort(key=lambda it: 1 if it.get_closest_marker("server") else 0)


os.environ.setdefault("PYTHONUNBUFFERED", "1")


def private_repo(tmp_path: Path, name: str = "v1") -> Path:
    """A copy of a fixture model repository, for tests that start tritonserver on it
    themselves: the python backend writes ``__pycache__`` next to model.py, and bytecode in
    the signed fixtures would (rightly) block later signature checks."""
    import shutil

    dest = tmp_path / f"repo-{name}"
    shutil.copytree(FIXTURES / "models" / name, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest
