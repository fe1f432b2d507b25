"""The remote launcher against a real tritonserver the test starts itself, in explicit mode
(the gate loads and unloads the model) and in ``none`` mode (the model must already be
ready). The gate must neither start nor stop that server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, private_repo
from scenario import GateRun, gate_run

pytestmark = pytest.mark.server


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    http: int
    grpc: int

    def ready(self, model: str) -> bool:
        try:
            url = f"http://127.0.0.1:{self.http}/v2/models/{model}/ready"
            with urllib.request.urlopen(url, timeout=5) as r:
                return int(r.status) == 200
        except OSError:
            return False


@contextlib.contextmanager
def triton(mode: str, repository: Path, log: Path) -> Iterator[Server]:
    from gate.servers.local import free_port
    from gate.tools import find_tritonserver

    ts = find_tritonserver()
    http, grpc, metrics = free_port(), free_port(), free_port()
    env = ts.environ()
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    argv = [
        str(ts.path),
        f"--model-repository={repository}",
        f"--model-control-mode={mode}",
        f"--http-port={http}",
        f"--grpc-port={grpc}",
        f"--metrics-port={metrics}",
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--metrics-address=127.0.0.1",
    ]
    if ts.backend_dir is not None:
        argv.append(f"--backend-directory={ts.backend_dir}")
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            argv, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    srv = Server(proc, http, grpc)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{http}/v2/health/ready", timeout=1
                ) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        yield srv
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def replay_remote(
    tmp_path: Path, url: str, *args: str, protocol: str = "http", timeout: float = 300, **kw: Any
) -> GateRun:
    """``gate replay`` against the Triton server at ``url`` (the remote launcher)."""
    edit = {
        "  kind: local\n": f"  kind: remote\n  url: {url}\n",
        "measure:\n": f"measure:\n  protocol: {protocol}\n",
    }
    return gate_run(tmp_path, "replay", args=args, timeout=timeout, edit=edit, **kw)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_explicit_mode_server_is_loaded_and_unloaded(
    tmp_path: Path, tools_ready: None, protocol: str
) -> None:
    with triton("explicit", private_repo(tmp_path), tmp_path / "server.log") as srv:
        assert not srv.ready("demo")
        port = srv.http if protocol == "http" else srv.grpc
        res = replay_remote(tmp_path, f"{protocol}://127.0.0.1:{port}", "-q", protocol=protocol)
        assert res.returncode == 0, res.output
        run = res.run
        assert len(run["runs"][0]["latencies_us"]) == 400
        assert run["environment"]["launcher"] == "remote"
        assert run["environment"]["triton_version"] == "2.51.0"
        assert srv.proc.poll() is None, "the gate must not stop a remote server"
        assert not srv.ready("demo"), "the model the gate loaded must be unloaded again"
        assert srv.proc.pid not in res.children


def test_none_mode_server_uses_the_ready_model(tmp_path: Path, tools_ready: None) -> None:
    with triton("none", private_repo(tmp_path), tmp_path / "server.log") as srv:
        assert srv.ready("demo")
        res = replay_remote(tmp_path, f"http://127.0.0.1:{srv.http}", "-q")
        assert res.returncode == 0, res.output
        assert srv.proc.poll() is None and srv.ready("demo"), "a shared model stays loaded"


def test_none_mode_server_without_the_model_is_exit_3(tmp_path: Path, tools_ready: None) -> None:
    with triton("none", private_repo(tmp_path), tmp_path / "server.log") as srv:
        res = replay_remote(
            tmp_path,
            f"http://127.0.0.1:{srv.http}",
            model="probe",
            repository=FIXTURES / "models" / "probe",
            traffic=FIXTURES / "traffic" / "demo.jsonl.gz",
        )
        assert res.returncode == 3, res.output
        assert "model 'probe' is not ready on the remote server" in res.output
        assert "--model-control-mode=explicit" in res.output
        assert srv.proc.poll() is None


def test_remote_server_that_does_not_answer_is_exit_3(tmp_path: Path, tools_ready: None) -> None:
    from gate.servers.local import free_port

    res = replay_remote(tmp_path, f"http://127.0.0.1:{free_port()}", timeout=120)
    assert res.returncode == 3, res.output
    assert "does not answer" in res.output


def test_remote_protocol_mismatch_is_exit_2(tmp_path: Path, tools_ready: None) -> None:
    res = replay_remote(tmp_path, "grpc://127.0.0.1:8001", timeout=120)
    assert res.returncode == 2, res.output
    assert "set measure.protocol: grpc" in res.output
