"""The environment fingerprint of a run: what a baseline must match to be comparable."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from gate.config.config import GateConfig
from gate.tools import Tool, cuda_version, query_gpus


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fingerprint(
    server_version: str, pa: Tool, cfg: GateConfig, traffic_digest: str
) -> dict[str, str]:
    q = query_gpus()
    if q.error is not None:
        gpu, count, driver = "unknown", "?", ""
    else:
        gpu = q.gpus[0][0] if q.gpus else "none"
        count, driver = str(len(q.gpus)), (q.gpus[0][1] if q.gpus else "")
    return {
        "triton_version": server_version,
        "perf_analyzer_version": pa.version,
        "cpu_model": _cpu_model(),
        "cpu_count": str(os.cpu_count() or 0),
        "gpu_model": gpu,
        "gpu_count": count,
        "gpu_driver": driver,
        "cuda_version": cuda_version() if q.gpus else "",
        "launcher": cfg.launcher.kind,
        "protocol": cfg.measure.protocol,
        "concurrency": str(getattr(cfg.measure, "concurrency", "") or ""),
        "max_threads": str(cfg.measure.max_threads),
        "traffic_digest": traffic_digest,
        "load": cfg.load.describe(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
