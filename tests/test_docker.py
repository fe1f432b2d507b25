"""The docker launcher against a real Docker engine.

A session fixture starts Debian's ``dockerd`` as root with its own socket, data root and
exec root, without a bridge or iptables (DESIGN.md §10), and stops it by its PID after.
Nothing can be pulled here, so the image is built locally (scripts/build_test_image.sh:
debootstrap + the real tritonserver of the nvidia-pytriton wheel, cached between runs) and
imported. Every test then runs the real CLI, the real tritonserver in a container and the
real perf_analyzer on the host. Tests skip only where no Docker engine can start (not root,
dockerd does not start); under CI=true a missing dockerd or debootstrap is a failure
instead, since .ci/run installs both.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import FIXTURES, ROOT, alive, gate_cmd, run_gate, watch_children, write_config

pytestmark = [pytest.mark.server, pytest.mark.docker]

IMAGE = "gate-test/tritonserver:local"


def _unavailable(reason: str, *, installable: bool = False) -> None:
    """Skip with the reason; under CI a missing package is a failure (.ci/run installs it)."""
    if installable and os.environ.get("CI"):
        pytest.fail(f"CI must run the docker tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[str]:
    """A private dockerd for this test session; yields its DOCKER_HOST URL."""
    if os.geteuid() != 0:
        _unavailable("no Docker engine: starting dockerd needs root")
    exe = shutil.which("dockerd")
    if exe is None:
        _unavailable(
            "no Docker engine: dockerd is not installed (apt-get install docker.io)",
            installable=True,
        )
    assert exe is not None
    # a short path: unix socket paths are limited to 108 bytes
    base = Path(tempfile.mkdtemp(prefix="gate-dockerd-", dir="/tmp"))
    host = f"unix://{base}/docker.sock"
    log = open(base / "dockerd.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [
            exe,
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            f"--host={host}",
            f"--data-root={base}/data",
            f"--exec-root={base}/exec",
            f"--pidfile={base}/docker.pid",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    import docker

    ok = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            docker.DockerClient(base_url=host, timeout=5).ping()
            ok = True
            break
        except Exception:
            time.sleep(0.3)
    if not ok:
        proc.kill()
        proc.wait()
        tail = (base / "dockerd.log").read_text(errors="replace").splitlines()[-5:]
        shutil.rmtree(base, ignore_errors=True)
        _unavailable("no Docker engine: dockerd did not start: " + " | ".join(tail))
    try:
        yield host
    finally:
        with contextlib.suppress(Exception):
            client = docker.DockerClient(base_url=host, timeout=30)
            for c in client.containers.list(all=True):
                c.remove(force=True)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        _unmount_below(base)
        shutil.rmtree(base, ignore_errors=True)


def _unmount_below(base: Path) -> None:
    """dockerd leaves its default network namespace mounted under the exec root."""
    with open("/proc/mounts") as fh:
        points = [ln.split()[1] for ln in fh if ln.split()[1].startswith(f"{base}/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@pytest.fixture(scope="session")
def image(dockerd: str, tools_ready: None) -> str:
    """The locally built tritonserver image, imported into the session's engine."""
    if shutil.which("debootstrap") is None:
        _unavailable("cannot build the test image: debootstrap is not installed", installable=True)
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_test_image.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env={**os.environ, "GATE_PYTHON": sys.executable},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    tarball = out.stdout.strip().splitlines()[-1]
    import docker

    client = docker.DockerClient(base_url=dockerd, timeout=600)
    repo, tag = IMAGE.split(":")
    client.api.import_image(
        src=tarball,
        repository=repo,
        tag=tag,
        changes=["ENV PATH=/opt/tritonserver/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    )
    client.images.get(IMAGE)
    return IMAGE


def _client(host: str) -> Any:
    import docker

    return docker.DockerClient(base_url=host, timeout=60)


def _containers(host: str) -> list[str]:
    return [f"{c.name} ({c.status})" for c in _client(host).containers.list(all=True)]


def docker_config(
    path: Path, host: str, *, image: str = IMAGE, launcher: str = "", **kw: Any
) -> Path:
    """The shared test config, with the docker launcher in place of the local one."""
    write_config(path, **kw)
    text = path.read_text().replace(
        "  kind: local\n",
        f"  kind: docker\n  image: '{image}'\n  pull: never\n  docker_host: '{host}'\n"
        f"  gpus: none\n{launcher}",
    )
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def docker_baseline(
    tmp_path_factory: pytest.TempPathFactory, dockerd: str, image: str
) -> Iterator[Path]:
    """A baseline of the demo model recorded through the docker launcher (3 containers)."""
    root = tmp_path_factory.mktemp("docker-baseline")
    store = root / "store"
    cfg = docker_config(root / "gate.yaml", dockerd, store=store, reports=root / "r", runs=3)
    res = run_gate("baseline", "record", str(cfg), "-q", timeout=600)
    assert res.returncode == 0, res.output
    assert _containers(dockerd) == []
    yield store
    shutil.rmtree(root, ignore_errors=True)


def _run(tmp_path: Path) -> dict[str, Any]:
    return dict(json.loads((tmp_path / "r" / "run.json").read_text()))


# --------------------------------------------------------------------------------------
# The same end-to-end checks as the local launcher, through containers
# --------------------------------------------------------------------------------------


def test_identical_model_passes_in_docker(
    dockerd: str, docker_baseline: Path, tmp_path: Path
) -> None:
    """The docker launcher runs the check (the verdict itself is test_e2e's subject): a short
    sampling budget, as undecided checks pass here anyway (``inconclusive: pass``)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nalpha: 0.001\ninconclusive: pass\nab: {max_duration_s: 15}\n")
    cfg = docker_config(
        tmp_path / "gate.yaml",
        dockerd,
        store=docker_baseline,
        reports=tmp_path / "r",
        policy=policy,
    )
    res = run_gate("check", str(cfg), timeout=300)
    assert res.returncode == 0, res.output
    run = _run(tmp_path)
    assert run["verdict"] == "PASS"
    env = run["environment"]
    assert env["launcher"] == "docker" and env["image"] == IMAGE
    assert env["image_digest"].startswith("sha256:")
    assert env["triton_version"] == "2.51.0"
    log = Path(run["runs"][0]["server_log"]).read_text()
    assert "--model-repository=/models" in log and "successfully loaded 'demo'" in log
    assert _containers(dockerd) == []
    assert not alive(res.children)


def test_slow_model_is_blocked_in_docker(
    dockerd: str, docker_baseline: Path, tmp_path: Path
) -> None:
    cfg = docker_config(
        tmp_path / "gate.yaml",
        dockerd,
        store=docker_baseline,
        reports=tmp_path / "r",
        repository=FIXTURES / "models" / "slow",
    )
    res = run_gate("check", str(cfg), timeout=300)
    assert res.returncode == 1, res.output
    assert _run(tmp_path)["verdict"] == "BLOCKED"
    assert _containers(dockerd) == []


def test_broken_model_is_exit_3_in_docker(
    dockerd: str, docker_baseline: Path, tmp_path: Path
) -> None:
    cfg = docker_config(
        tmp_path / "gate.yaml",
        dockerd,
        store=docker_baseline,
        reports=tmp_path / "r",
        repository=FIXTURES / "models" / "broken",
    )
    res = run_gate("check", str(cfg), timeout=300)
    assert res.returncode == 3, res.output
    assert "weights.npz is missing" in res.output
    run = _run(tmp_path)
    assert run["error"]["exit_code"] == 3
    assert "weights.npz is missing" in run["server_log_tail"]
    assert _containers(dockerd) == []


# --------------------------------------------------------------------------------------
# What the container is given
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpus", "expected"),
    [
        ("all", [{"Driver": "nvidia", "Count": -1, "DeviceIDs": []}]),
        (2, [{"Driver": "nvidia", "Count": 2, "DeviceIDs": []}]),
        (("0", "GPU-3f2a"), [{"Driver": "nvidia", "Count": 0, "DeviceIDs": ["0", "GPU-3f2a"]}]),
        ("none", None),
    ],
)
def test_container_request(
    dockerd: str, image: str, tmp_path: Path, gpus: Any, expected: Any
) -> None:
    """The request is checked on a real container created (not started: there is no GPU
    here) by the real daemon; only the NVIDIA runtime's side needs benchmarks/gpu_check.sh."""
    from gate.config.config import LauncherConfig
    from gate.servers.docker import LABEL_PID, LABEL_RUN_ID, DockerServer

    lc = LauncherConfig(kind="docker", image=image, docker_host=dockerd, gpus=gpus)
    srv = DockerServer(lc, FIXTURES / "models" / "v1", tmp_path / "log", run_id="req-test")
    srv.http_port, srv.grpc_port, srv.metrics_port = 18000, 18001, 18002
    kwargs = srv.run_kwargs(host_gpus=False)
    kwargs.pop("detach")
    client = _client(dockerd)
    c = client.containers.create(image, **kwargs)
    try:
        hc = c.attrs["HostConfig"]
        got = hc.get("DeviceRequests")
        if expected is None:
            assert not got
        else:
            assert [{k: r[k] for k in ("Driver", "Count", "DeviceIDs")} for r in got] == expected
            assert all(r["Capabilities"] == [["gpu"]] for r in got)
        assert hc["NetworkMode"] == "host"
        assert hc["Binds"] == [f"{(FIXTURES / 'models' / 'v1').resolve()}:/models:ro"]
        assert hc["ShmSize"] == 256 * 1024 * 1024
        labels = c.labels
        assert labels[LABEL_RUN_ID] == "req-test" and labels[LABEL_PID] == str(os.getpid())
        cmd = c.attrs["Config"]["Cmd"]
        assert "--model-control-mode=explicit" in cmd and "--http-address=127.0.0.1" in cmd
        assert "--http-port=18000" in cmd
    finally:
        c.remove(force=True)


def test_auto_gpus_follow_the_host() -> None:
    from gate.servers.docker import device_requests

    assert device_requests("auto", host_gpus=False) == []
    (req,) = device_requests("auto", host_gpus=True)
    assert req["Count"] == -1 and req["Driver"] == "nvidia"


# --------------------------------------------------------------------------------------
# Failures: each exit 3 with the reason, nothing left behind
# --------------------------------------------------------------------------------------


def test_daemon_not_running_is_exit_3(tmp_path: Path, tools_ready: None) -> None:
    cfg = docker_config(
        tmp_path / "gate.yaml",
        f"unix://{tmp_path}/no-docker.sock",
        store=tmp_path / "s",
        reports=tmp_path / "r",
    )
    res = run_gate("replay", str(cfg), timeout=120)
    assert res.returncode == 3, res.output
    assert "Docker daemon" in res.output and "not reachable" in res.output
    assert _run(tmp_path)["error"]["kind"] == "DockerError"


def test_image_that_cannot_be_pulled_is_exit_3(
    dockerd: str, tmp_path: Path, tools_ready: None
) -> None:
    # a registry on a closed loopback port: the pull fails at once, nothing leaves the host
    cfg = docker_config(
        tmp_path / "gate.yaml",
        dockerd,
        image="127.0.0.1:9/gate-test/nosuch:1",
        store=tmp_path / "s",
        reports=tmp_path / "r",
    )
    cfg.write_text(cfg.read_text().replace("pull: never", "pull: missing"))
    res = run_gate("replay", str(cfg), timeout=120)
    assert res.returncode == 3, res.output
    assert "127.0.0.1:9/gate-test/nosuch:1 is missing locally and could not be pulled" in res.output
    assert _containers(dockerd) == []


def test_container_exiting_early_is_exit_3_with_its_log(
    dockerd: str, image: str, tmp_path: Path
) -> None:
    cfg = docker_config(
        tmp_path / "gate.yaml",
        dockerd,
        store=tmp_path / "s",
        reports=tmp_path / "r",
        launcher="  extra_args: ['--no-such-option=1']\n",
    )
    res = run_gate("replay", str(cfg), timeout=120)
    assert res.returncode == 3, res.output
    assert "container exited with code" in res.output
    run = _run(tmp_path)
    assert "unrecognized option '--no-such-option=1'" in res.output
    assert run["server_log_tail"]
    kept = (tmp_path / "r" / "logs" / "server-replay-1.log").read_text()
    assert "unrecognized option '--no-such-option=1'" in kept
    assert _containers(dockerd) == []


def test_port_taken_is_exit_3(dockerd: str, image: str, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = docker_config(
            tmp_path / "gate.yaml",
            dockerd,
            store=tmp_path / "s",
            reports=tmp_path / "r",
            launcher=f"  http_port: {port}\n",
        )
        res = run_gate("replay", str(cfg), timeout=120)
    assert res.returncode == 3, res.output
    assert "port is taken" in res.output and "already in use" in res.output
    assert f"127.0.0.1:{port}" in _run(tmp_path)["server_log_tail"]
    assert _containers(dockerd) == []


def _start_and_wait_for_replay(cfg: Path) -> tuple[subprocess.Popen[str], set[int]]:
    proc = subprocess.Popen(
        gate_cmd("replay", str(cfg)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    parent = psutil.Process(proc.pid)
    seen: set[int] = set()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        kids = parent.children(recursive=True)
        seen.update(k.pid for k in kids)
        with contextlib.suppress(psutil.Error):
            if any(k.name() == "perf_analyzer" and "--input-data" in k.cmdline() for k in kids):
                return proc, seen
        time.sleep(0.02)
    out, err = proc.communicate()
    raise AssertionError(f"perf_analyzer never started: {out}{err}")


def _slow_traffic(tmp_path: Path) -> Path:
    """Probe-model traffic that keeps perf_analyzer busy for ~10 s (each request sleeps)."""
    import numpy as np

    from gate.inputs.traffic import Request, TensorSpec, Traffic, write_traffic

    reqs = []
    for i in range(120):
        x = np.zeros((1, 16), dtype=np.float32)
        x[0, 0] = 80.0
        reqs.append(Request(i * 85_000, {"INPUT0": x}))
    path = tmp_path / "slow.jsonl"
    write_traffic(path, Traffic("probe", (TensorSpec("INPUT0", "FP32", (16,)),), tuple(reqs)))
    return path


def test_sigterm_removes_the_container(dockerd: str, image: str, tmp_path: Path) -> None:
    cfg = docker_config(
        tmp_path / "gate.yaml",
        dockerd,
        model="probe",
        repository=FIXTURES / "models" / "probe",
        traffic=_slow_traffic(tmp_path),
        store=tmp_path / "s",
        reports=tmp_path / "r",
    )
    proc, seen = _start_and_wait_for_replay(cfg)
    assert len(_client(dockerd).containers.list()) == 1
    proc.send_signal(signal.SIGTERM)
    seen |= watch_children(proc, 120)  # type: ignore[arg-type]
    out, err = proc.communicate()
    assert proc.returncode == 130, out + err
    assert _containers(dockerd) == []
    assert not alive(seen)
    assert _run(tmp_path)["error"]["kind"] == "Interrupted"


def test_container_killed_mid_replay_is_exit_3(dockerd: str, image: str, tmp_path: Path) -> None:
    cfg = docker_config(
        tmp_path / "gate.yaml",
        dockerd,
        model="probe",
        repository=FIXTURES / "models" / "probe",
        traffic=_slow_traffic(tmp_path),
        store=tmp_path / "s",
        reports=tmp_path / "r",
    )
    cfg.write_text(cfg.read_text().replace("retries: 2", "retries: 1"))
    proc, seen = _start_and_wait_for_replay(cfg)
    (c,) = _client(dockerd).containers.list()
    c.kill()
    seen |= watch_children(proc, 300)  # type: ignore[arg-type]
    out, err = proc.communicate()
    assert proc.returncode == 3, out + err
    assert "tritonserver died during the replay" in out + err
    assert _containers(dockerd) == []
    assert not alive(seen)


def test_doctor_cleanup_removes_leftovers_of_a_killed_run(
    dockerd: str, image: str, tmp_path: Path
) -> None:
    cfg = docker_config(
        tmp_path / "gate.yaml",
        dockerd,
        model="probe",
        repository=FIXTURES / "models" / "probe",
        traffic=_slow_traffic(tmp_path),
        store=tmp_path / "s",
        reports=tmp_path / "r",
    )
    proc, seen = _start_and_wait_for_replay(cfg)
    (c,) = _client(dockerd).containers.list()
    run_id = c.labels["gate.run_id"]
    proc.kill()  # SIGKILL: no teardown can run
    proc.communicate()
    for pid in seen:  # perf_analyzer runs in its own group: end what the test's gate started
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            if p.name() == "perf_analyzer":
                p.kill()
    # a live run's container is not touched by cleanup
    live = _client(dockerd).containers.create(
        image,
        command=["sleep", "60"],
        labels={
            "gate.managed": "true",
            "gate.owner_pid": str(os.getpid()),
            "gate.owner_start": f"{psutil.Process().create_time():.2f}",
            "gate.owner_host": socket.gethostname(),
            "gate.run_id": "live",
        },
    )
    try:
        res = run_gate("doctor", "--cleanup", "--docker-host", dockerd, timeout=120)
        assert res.returncode == 0, res.output
        assert run_id in res.stdout and "removed" in res.stdout
        names = [x.name for x in _client(dockerd).containers.list(all=True)]
        assert names == [live.name]
    finally:
        live.remove(force=True)
