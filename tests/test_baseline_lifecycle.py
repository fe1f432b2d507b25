"""Baseline store and lifecycle on a local folder: integrity, history, promote, prune, the
environment guard, and two writer processes at once (real processes, real flock)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, run_gate
from lifecycle_helpers import ENV, baseline, run_result

from gate.baselines.backend import LocalStore
from gate.baselines.store import (
    baseline_from_runs,
    current_key,
    env_changes,
    env_key,
    find_baselines,
    inventory,
    prune,
    read_baseline,
    restore,
    save_baseline,
    select_baseline,
)
from gate.errors import ConfigError, InputError
from gate.result import Verdict

GPU_ENV = {**ENV, "gpu_model": "NVIDIA H100 80GB HBM3", "gpu_count": "1", "gpu_driver": "550.54"}


def _only_current(store: Path) -> Path:
    (p,) = (store / "demo").glob("baseline-*.json.gz")
    return p


def test_roundtrip_and_history(tmp_path: Path) -> None:
    loc = save_baseline(tmp_path, baseline("first"))
    assert Path(loc) == _only_current(tmp_path)
    save_baseline(tmp_path, baseline("second"))
    b, _, diffs = select_baseline(tmp_path, "demo", ENV)
    assert b.source_run_ids == ["second"] and diffs == []
    hist = list((tmp_path / "demo" / "history").glob("*.json.gz"))
    assert len(hist) == 1
    assert read_baseline(LocalStore(tmp_path), f"demo/history/{hist[0].name}").source_run_ids == [
        "first"
    ]
    # restore makes the superseded one current again, and keeps the replaced one
    restore(tmp_path, f"demo/history/{hist[0].name}")
    b, _, _ = select_baseline(tmp_path, "demo", ENV)
    assert b.source_run_ids == ["first"]
    assert len(list((tmp_path / "demo" / "history").glob("*.json.gz"))) == 2
    assert not [p for p in (tmp_path / "demo").rglob(".*") if p.name != ".lock"]


def test_a_shared_store_stays_writable_by_its_group(tmp_path: Path) -> None:
    """Baselines, their history and the lock file get 0666 minus the umask, as any file the
    group's tools write (a private 0600 baseline would lock the next job of the group out)."""
    import os

    old = os.umask(0o002)
    try:
        save_baseline(tmp_path, baseline("first"))
        save_baseline(tmp_path, baseline("second"))
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "demo").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {".lock", _only_current(tmp_path).name}
    assert len(files) == 3  # current, one in history, the lock
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o664)}


@pytest.mark.parametrize(
    "damage",
    ["truncate", "flip", "garbage", "empty"],
)
def test_damaged_baseline_is_exit_2_never_skipped(tmp_path: Path, damage: str) -> None:
    save_baseline(tmp_path, baseline("good", env=GPU_ENV))  # an intact one of another env
    save_baseline(tmp_path, baseline("victim"))
    p = tmp_path / "demo" / f"baseline-{env_key(ENV)}.json.gz"
    raw = p.read_bytes()
    if damage == "truncate":
        p.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":  # valid gzip, valid JSON, one latency changed
        doc = json.loads(gzip.decompress(raw))
        doc["payload"]["runs"][0]["latencies_us"][0] += 1.0
        p.write_bytes(gzip.compress(json.dumps(doc).encode()))
    elif damage == "garbage":
        p.write_bytes(b"\x00" * 100)
    else:
        p.write_bytes(b"")
    with pytest.raises(InputError) as ei:
        select_baseline(tmp_path, "demo", ENV)
    assert ei.value.exit_code == 2
    assert str(p) in ei.value.message
    assert "sha256" in ei.value.message or "corrupt" in ei.value.message
    # the CLI says so too, for list and show
    res = run_gate("baseline", "list", "--store", str(tmp_path), timeout=60)
    assert res.returncode == 2, res.output
    assert "DAMAGED" in res.stdout and "damaged baseline" in res.stderr


def test_environments_live_side_by_side_and_the_matching_one_is_chosen(tmp_path: Path) -> None:
    save_baseline(tmp_path, baseline("cpu", env=ENV))
    save_baseline(tmp_path, baseline("gpu", env=GPU_ENV))
    assert len(find_baselines(tmp_path, "demo")) == 2
    assert select_baseline(tmp_path, "demo", ENV)[0].source_run_ids == ["cpu"]
    assert select_baseline(tmp_path, "demo", GPU_ENV)[0].source_run_ids == ["gpu"]
    # an unknown environment: the closest one, with what differs
    other = {**GPU_ENV, "gpu_driver": "560.1"}
    b, _, diffs = select_baseline(tmp_path, "demo", other)
    assert b.source_run_ids == ["gpu"] and diffs == ["gpu_driver"]
    assert env_changes(b.environment, other) == ["gpu_driver: 550.54 → 560.1"]
    # soft keys do not matter; an absent image digest equals an empty one
    assert env_key({**ENV, "python": "3.12", "image_digest": ""}) == env_key(ENV)
    assert env_key({**ENV, "image_digest": "sha256:aa"}) != env_key(ENV)


def test_promote_accepts_pass_and_refuses_the_rest(tmp_path: Path) -> None:
    b = baseline_from_runs([run_result()], force=False, sources=["run.json"])
    assert b.source == "promote" and b.source_run_ids == ["run-1"]
    assert b.git_commit == "c0ffee" * 6 and len(b.runs) == 2
    with pytest.raises(InputError, match=r"verdict.*BLOCKED"):
        baseline_from_runs([run_result(Verdict.BLOCKED)], force=False, sources=["r.json"])
    assert baseline_from_runs([run_result(Verdict.MEASURED)], force=True, sources=["r"]).runs
    # several runs merge when model, traffic and environment agree; indices renumbered
    merged = baseline_from_runs(
        [run_result(seed=1), run_result(seed=2)], force=False, sources=["a", "b"]
    )
    assert [r.index for r in merged.runs] == [0, 1, 2, 3]
    with pytest.raises(InputError, match=r"environment.*gpu_model"):
        baseline_from_runs(
            [run_result(), run_result(env=GPU_ENV, seed=2)], force=False, sources=["a", "b"]
        )
    errored = run_result()
    errored.traffic = None
    with pytest.raises(InputError, match="traffic"):
        baseline_from_runs([errored], force=False, sources=["x.json"])


def test_promote_list_prune_through_the_cli(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for i in range(4):
        rj = tmp_path / f"run{i}.json"
        rj.write_text(run_result(seed=i).to_json())
        res = run_gate("baseline", "promote", str(rj), "--store", str(store), timeout=60)
        assert res.returncode == 0, res.output
        assert "promoted 2 run(s) of 'demo'" in res.stdout
    blocked = tmp_path / "blocked.json"
    blocked.write_text(run_result(Verdict.BLOCKED).to_json())
    res = run_gate("baseline", "promote", str(blocked), "--store", str(store), timeout=60)
    assert res.returncode == 2 and "--force" in res.stderr
    one = tmp_path / "one.json"
    one.write_text(run_result(k=1).to_json())
    res = run_gate("baseline", "promote", str(one), "--store", str(store), timeout=60)
    assert res.returncode == 2 and "at least 2" in res.stderr

    res = run_gate("baseline", "list", "--store", str(store), "--history", "--json", timeout=60)
    assert res.returncode == 0, res.output
    rows = [json.loads(x) for x in res.stdout.splitlines()]
    assert sum(r["current"] for r in rows) == 1 and len(rows) == 4
    cur = next(r for r in rows if r["current"])
    assert cur["runs"] == 2 and cur["samples"] == 200 and cur["git_commit"] == "c0ffee" * 6
    assert cur["env_key"] == env_key(ENV) and cur["source"] == "promote"
    table = run_gate("baseline", "list", "--store", str(store), timeout=60)
    assert "current" in table.stdout and "triton 2.51.0" in table.stdout

    res = run_gate("baseline", "prune", "--store", str(store), "--keep", "2", "--dry-run")
    assert res.returncode == 0 and "would delete 2 " in res.stdout
    assert len(list((store / "demo" / "history").iterdir())) == 3
    res = run_gate("baseline", "prune", "--store", str(store), "--keep", "2")
    assert res.returncode == 0 and "deleted 2 " in res.stdout
    assert len(list((store / "demo" / "history").iterdir())) == 1
    assert (store / current_key("demo", env_key(ENV))).is_file()


def test_prune_older_than_keeps_the_current_baseline(tmp_path: Path) -> None:
    for i in range(3):
        save_baseline(tmp_path, baseline(str(i)))
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    past = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    assert prune(tmp_path, keep=None, older_than=past) == []
    gone = prune(tmp_path, keep=None, older_than=future)
    assert len(gone) == 2
    assert [it.current for it in inventory(tmp_path)] == [True]
    with pytest.raises(ConfigError):
        prune(tmp_path, keep=0, older_than=None)


_WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from lifecycle_helpers import baseline
    from gate.baselines.store import save_baseline
    for i in range({count}):
        save_baseline({store!r}, baseline(f"{{sys.argv[1]}}-{{i}}"))
    """
)

_READER = textwrap.dedent(
    """
    import sys, time
    from gate.baselines.store import find_baselines, load_baseline
    reads = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        keys = find_baselines({store!r}, "demo")
        for k in keys:
            load_baseline(k)  # raises on a partial file
            reads += 1
        if open({stop!r}).read() == "stop":
            break
    print(reads)
    """
)


def test_two_writer_processes_lose_nothing_and_readers_never_see_a_part(tmp_path: Path) -> None:
    """Two real processes promote 30 baselines each into one model and environment while a
    third reads continuously. With the lock, every baseline ends up exactly once (current or
    history); without it, both writers would copy the same 'old' file to history and one
    new baseline would vanish. The reader must never fail on a half-written file."""
    store = str(tmp_path / "store")
    stop = tmp_path / "stop"
    stop.write_text("")
    count = 30
    code = _WRITER.format(tests=str(ROOT / "tests"), count=count, store=store)
    save_baseline(store, baseline("seed"))
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER.format(store=store, stop=str(stop))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", code, w], stderr=subprocess.PIPE, text=True)
        for w in ("A", "B")
    ]
    try:
        for w in writers:
            _, err = w.communicate(timeout=120)
            assert w.returncode == 0, err
    finally:
        stop.write_text("stop")
        out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    assert int(out) > 0
    tags = [
        tag
        for it in inventory(store)
        for tag in (it.baseline.source_run_ids if it.baseline else ["BAD"])
    ]
    expected = ["seed"] + [f"{w}-{i}" for w in "AB" for i in range(count)]
    assert sorted(tags) == sorted(expected)
    assert not [p for p in Path(store).rglob("*.tmp")]


def test_lock_waits_for_the_holder(tmp_path: Path) -> None:
    """A second process cannot take the model's lock while the first holds it."""
    s = LocalStore(tmp_path)
    probe = textwrap.dedent(
        f"""
        from gate.baselines.backend import LocalStore
        from gate.errors import InfraError
        try:
            with LocalStore({str(tmp_path)!r}).lock("demo", timeout_s=0.5):
                print("got it")
        except InfraError as e:
            print("busy:", e.message)
        """
    )
    with s.lock("demo"):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stdout.startswith("busy:"), out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stdout.strip() == "got it"
