"""The baseline store on an S3-compatible object store: a real moto server on 127.0.0.1,
started by the fixture (bounded, stopped by its PID), used by separate gate processes
through s3fs — the path teams with many runners take. ``memory://`` is checked as well, but
it cannot show anything across processes."""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_gate
from lifecycle_helpers import ENV, baseline, run_result

from gate.baselines.backend import FsspecStore, open_store
from gate.baselines.store import (
    env_key,
    find_baselines,
    inventory,
    load_baseline,
    read_baseline,
    save_baseline,
    select_baseline,
)
from gate.errors import InputError

BUCKET = "gate-baselines"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port; killed by PID at the end."""
    exe = Path(sys.executable).parent / "moto_server"
    port = _free_port()
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def s3_store(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """A fresh prefix in the bucket; the environment (inherited by gate subprocesses)
    points botocore at the local server with dummy credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    return f"s3://{BUCKET}/{request.node.name}"


def test_s3_roundtrip_history_and_selection(s3_store: str) -> None:
    store = open_store(s3_store)
    assert isinstance(store, FsspecStore)
    save_baseline(s3_store, baseline("one"))
    save_baseline(s3_store, baseline("two"))
    keys = find_baselines(s3_store, "demo")
    assert keys == [f"{s3_store}/demo/baseline-{env_key(ENV)}.json.gz"]
    assert load_baseline(keys[0]).source_run_ids == ["two"]
    b, loc, diffs = select_baseline(s3_store, "demo", ENV)
    assert b.source_run_ids == ["two"] and diffs == [] and loc.startswith("s3://")
    items = inventory(s3_store)
    assert sorted((it.current, it.baseline.source_run_ids[0]) for it in items if it.baseline) == [
        (False, "one"),
        (True, "two"),
    ]
    # no temporary object is left behind
    assert not [k for k in store.fs.find(f"{BUCKET}") if "/.tmp-" in k]


def test_s3_corrupt_object_is_exit_2(s3_store: str) -> None:
    save_baseline(s3_store, baseline("x"))
    store = open_store(s3_store)
    assert isinstance(store, FsspecStore)
    key = f"demo/baseline-{env_key(ENV)}.json.gz"
    raw = store.read_bytes(key)
    store.fs.pipe_file(f"{store.root}/{key}", raw[:-20])
    with pytest.raises(InputError) as ei:
        read_baseline(s3_store, key)
    assert ei.value.exit_code == 2 and "corrupt or truncated" in ei.value.message
    res = run_gate("baseline", "list", "--store", s3_store, timeout=120)
    assert res.returncode == 2 and "DAMAGED" in res.stdout, res.output
    ok = gzip.decompress(raw)  # the original was fine
    assert ok


def test_s3_lifecycle_across_processes(s3_store: str, tmp_path: Path) -> None:
    """promote, list, prune and restore as separate gate processes against one bucket."""
    for i in range(3):
        rj = tmp_path / f"run{i}.json"
        rj.write_text(run_result(seed=i).to_json())
        res = run_gate("baseline", "promote", str(rj), "--store", s3_store, timeout=120)
        assert res.returncode == 0, res.output
    res = run_gate("baseline", "list", "--store", s3_store, "--history", timeout=120)
    assert res.returncode == 0, res.output
    assert res.stdout.count("current") == 1 and res.stdout.count("old@") == 2
    res = run_gate("baseline", "prune", "--store", s3_store, "--keep", "2", timeout=120)
    assert res.returncode == 0 and "deleted 1 " in res.stdout, res.output
    (old,) = [it for it in inventory(s3_store) if not it.current]
    res = run_gate("baseline", "restore", old.key, "--store", s3_store, timeout=120)
    assert res.returncode == 0, res.output
    b, _, _ = select_baseline(s3_store, "demo", ENV)
    assert b.source_run_ids == ["run-1"]


def test_s3_two_writers_at_once_leave_whole_objects(s3_store: str) -> None:
    """No lock on an object store: last writer wins, but every object is whole and every
    superseded one is kept under a unique history name (the documented guarantee)."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from lifecycle_helpers import baseline\n"
        "from gate.baselines.store import save_baseline\n"
        "for i in range(5):\n"
        f"    save_baseline({s3_store!r}, baseline(sys.argv[1] + str(i)))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, w], stderr=subprocess.PIPE, text=True)
        for w in ("A", "B")
    ]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    items = inventory(s3_store)
    assert all(it.baseline is not None for it in items), [it.error for it in items]
    assert sum(it.current for it in items) == 1
    assert len(items) >= 9  # 10 writes; at most the racing "old" copy is shared
    store = open_store(s3_store)
    assert isinstance(store, FsspecStore)
    assert not [k for k in store.fs.find(BUCKET) if "/.tmp-" in k]


def test_memory_store_and_missing_backend() -> None:
    url = "memory://gate-test/baselines"
    save_baseline(url, baseline("m"))
    assert select_baseline(url, "demo", ENV)[0].source_run_ids == ["m"]
    from gate.errors import ConfigError

    with pytest.raises(ConfigError, match="nosuchproto") as ei:
        open_store("nosuchproto://x/y")
    assert ei.value.exit_code == 2 and "fsspec backend" in (ei.value.hint or "")


@pytest.mark.server
def test_gate_check_with_an_s3_store(
    s3_store: str, recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    """baseline.store: s3://… in gate.yaml, end to end with the real server: the URL is
    kept as is by the config loader and the check finds its baseline in the bucket."""
    from scenario import SHORT_AA_POLICY, gate_run

    recorded, _ = recorded_baseline
    (key,) = find_baselines(recorded, "demo")
    save_baseline(s3_store, load_baseline(key))
    r = gate_run(tmp_path, store=s3_store, policy=SHORT_AA_POLICY)
    assert r.returncode == 0, r.output
    assert r.run["baseline"]["path"].startswith(s3_store + "/demo/baseline-")
