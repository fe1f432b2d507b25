"""The hostile corpus (``tests/hostile/``): every bad input is exit 2, one line, no traceback,
before any server, with the store unchanged and nothing read or written outside the workspace.

Each case of ``tests/hostile/cases.jsonl`` (written by ``tests/hostile/generate.py``) runs the
real CLI in its own fresh workspace under a Python audit hook; ``harness.run_case`` says
what went wrong, if anything. The cases run once per session, a few at a time, and each one
is then its own test here, so a failure names its case. The corpus runs again with the
workspace reached through a symlink and a ``..`` (the path-sensitive families), where every
"inside the store" and "inside the workspace" proof must still hold.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hostile.harness import HERE, Case, Outcome, build_template, load_cases, run_case, table

CASES = load_cases()
#: families whose cases name paths: these run a second time through a symlink and '..'
ALIASED_FAMILIES = ("store", "run.json", "paths")
JOBS = int(os.environ.get("GATE_HOSTILE_JOBS", "4"))


def _run(cases: list[Case], layout: str, root: Path) -> dict[str, Outcome]:
    template = root / "template"
    build_template(template)

    def one(i: int) -> Outcome:
        return run_case(cases[i], template, root / f"{layout}-{i:03d}", layout)

    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        return {o.case.id: o for o in pool.map(one, range(len(cases)))}


@pytest.fixture(scope="session")
def outcomes() -> Iterator[dict[str, Outcome]]:
    with tempfile.TemporaryDirectory(prefix="gate-hostile-") as tmp:
        yield _run(CASES, "plain", Path(tmp))


@pytest.fixture(scope="session")
def aliased() -> Iterator[dict[str, Outcome]]:
    cases = [c for c in CASES if c.family in ALIASED_FAMILIES]
    with tempfile.TemporaryDirectory(prefix="gate-hostile-") as tmp:
        yield _run(cases, "aliased", Path(tmp))


def test_the_corpus_is_generated_and_covers_every_family() -> None:
    res = subprocess.run(
        [sys.executable, str(HERE / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert len(CASES) >= 150
    families = {c.family for c in CASES}
    assert {"config", "policy", "evalset", "store", "run.json", "cli", "paths", "secrets"} <= (
        families
    )
    assert all(c.exit == 2 for c in CASES), "every case of the corpus is bad input"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, outcomes: dict[str, Outcome]) -> None:
    o = outcomes[case.id]
    assert o.category == "clean", o.explain()


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.family in ALIASED_FAMILIES],
    ids=[c.id for c in CASES if c.family in ALIASED_FAMILIES],
)
def test_case_through_a_symlink_and_dotdot(case: Case, aliased: dict[str, Outcome]) -> None:
    o = aliased[case.id]
    assert o.category == "clean", o.explain()


def test_the_table(outcomes: dict[str, Outcome], capsys: pytest.CaptureFixture[str]) -> None:
    """The corpus table (tried / exit 2 clean / other / traceback / data lost / leaked)."""
    text = table(list(outcomes.values()))
    with capsys.disabled():
        print("\n" + text)
    last = text.splitlines()[-1].split("|")
    assert [x.strip() for x in last[3:]] == ["0", "0", "0", "0"], text


def test_the_harness_sees_a_server_start(tmp_path: Path) -> None:
    """The control: a valid configuration gets past every check and starts the (sentinel)
    tritonserver, and the harness says so; without this the corpus could pass by never
    looking."""
    template = tmp_path / "template"
    build_template(template)
    control = Case("control", "control", [], ["check", "{cfg}", "-q"], 2, [])
    o = run_case(control, template, tmp_path / "control")
    assert o.returncode == 3 and any("sentinel" in x for x in o.other), o.explain()


def test_the_audit_flags_reads_and_writes_outside(tmp_path: Path) -> None:
    """The audit log check on a log written as the hook writes it: a read in the sandbox
    outside the workspace and a write outside it are flagged; a file the command line named
    and a write in the workspace are not."""
    import json

    from hostile.harness import Places, _audit

    ws = tmp_path / "ws"
    (tmp_path / "outside").mkdir()
    ws.mkdir()
    places = Places(tmp_path, ws, ws, "x")
    log = tmp_path / "audit.log"
    rows = [
        [str(ws), "read", "../outside/secret.txt"],
        [str(ws), "write", "/var/tmp/gate-escape"],
        [str(ws), "read", str(tmp_path / "outside" / "named.json")],
        [str(ws), "write", "reports/run.json"],
        [str(ws), "exec", "/usr/bin/tritonserver", []],
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    found = _audit(log, places, [tmp_path / "outside" / "named.json"])
    assert any("secret.txt" in f for f in found), found
    assert any("gate-escape" in f for f in found), found
    assert any("started tritonserver" in f for f in found), found
    assert not any("named.json" in f or "run.json" in f for f in found), found
