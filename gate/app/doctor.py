"""``gate doctor``: what the gate needs on this machine and where each piece comes from."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gate.errors import ToolNotFoundError
from gate.tools import (
    Tool,
    find_perf_analyzer,
    find_tritonserver,
    glibc_version,
    install_perf_analyzer,
    perf_analyzer_version_for_this_host,
    query_gpus,
)


@dataclass(frozen=True)
class DoctorItem:
    name: str
    ok: bool
    path: str
    version: str
    note: str


def _gpus() -> DoctorItem:
    q = query_gpus()
    if q.smi is None:
        return DoctorItem("GPUs", True, "-", "none", "no nvidia-smi: CPU only (fine for the demo)")
    if q.error is not None:
        return DoctorItem("GPUs", False, q.smi, "?", f"nvidia-smi failed: {q.error}")
    if not q.gpus:
        return DoctorItem("GPUs", True, q.smi, "none", "nvidia-smi found no GPU: CPU only")
    names = "; ".join(f"{name}, {driver}" for name, driver in q.gpus)
    return DoctorItem("GPUs", True, q.smi, names, f"{len(q.gpus)} GPU(s)")


def _docker() -> DoctorItem:
    exe = shutil.which("docker")
    if not exe:
        return DoctorItem(
            "docker", True, "-", "-", "not installed: only needed for the docker launcher"
        )
    try:
        out = subprocess.run(
            [exe, "version", "--format", "{{.Client.Version}} / server {{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return DoctorItem("docker", True, exe, "?", f"docker did not answer: {e}")
    ver = out.stdout.strip().removesuffix(" / server").strip() or "client only"
    note = (
        "daemon ready"
        if out.returncode == 0
        else "no daemon reachable: only needed for the docker launcher (start dockerd)"
    )
    return DoctorItem("docker", True, exe, ver, note)


def probe_server_version(ts: Tool) -> str:
    """Start the server on an empty repository for a moment and ask it its version."""
    from gate.servers.local import LocalServer

    with tempfile.TemporaryDirectory(prefix="gate-doctor-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        try:
            with LocalServer(ts, repo, Path(tmp) / "server.log", startup_timeout_s=60) as srv:
                return f"Triton {srv.server_metadata().get('version', '?')}"
        except Exception as e:  # doctor reports, it does not fail
            return f"{ts.version} (did not start: {e})"


def doctor(
    *,
    tritonserver: Path | None = None,
    perf_analyzer: Path | None = None,
    install: bool = False,
    wheel: Path | None = None,
) -> list[DoctorItem]:
    """What the gate needs and where it comes from; never raises for a missing tool."""
    items: list[DoctorItem] = []
    try:
        ts = find_tritonserver(tritonserver)
        ts = Tool(ts.name, ts.path, probe_server_version(ts), ts.source, ts.env, ts.backend_dir)
        note = f"from {ts.source}"
        if ts.backend_dir is not None:
            note += f"; backends linked in {ts.backend_dir}"
        items.append(DoctorItem("tritonserver", True, str(ts.path), ts.version, note))
    except ToolNotFoundError as e:
        items.append(DoctorItem("tritonserver", False, "-", "-", e.diagnostics()))
    try:
        if install and perf_analyzer is None:
            pa = (
                install_perf_analyzer(wheel=wheel)
                if wheel
                else find_perf_analyzer(None, install=True)
            )
        else:
            pa = find_perf_analyzer(perf_analyzer, install=False)
        items.append(
            DoctorItem("perf_analyzer", True, str(pa.path), pa.version, f"from {pa.source}")
        )
    except ToolNotFoundError as e:
        items.append(DoctorItem("perf_analyzer", False, "-", "-", e.diagnostics()))
    items.append(_docker())
    items.append(_gpus())
    g = glibc_version()
    items.append(
        DoctorItem(
            "host",
            True,
            sys.executable,
            f"Python {platform.python_version()}, glibc {'.'.join(map(str, g)) if g else '?'}",
            f"perf_analyzer build for this glibc: {perf_analyzer_version_for_this_host()}",
        )
    )
    return items
