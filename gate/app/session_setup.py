"""What a server session sets up before its first server starts: the binaries it runs, the
split of CPU cores between tritonserver and perf_analyzer, and the folder server logs go to.

Kept apart from ``gate.app.session`` because none of it needs a server: it is decided once
when the session is entered, and every server the session starts uses it as it is.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from gate.app.run import Run
from gate.config.config import GateConfig
from gate.servers.affinity import CpuPlan, plan_cpus, throughput_plan
from gate.tools import Tool, find_perf_analyzer, find_tritonserver


@dataclass(frozen=True)
class Tools:
    """The binaries a session runs: tritonserver (local launcher only) and perf_analyzer."""

    tritonserver: Tool | None
    perf_analyzer: Tool


def find_tools(run: Run, cfg: GateConfig) -> Tools:
    """The binaries, found once, as the timed stage ``tools``."""
    with run.stage("tools") as st:
        local = cfg.launcher.kind == "local"
        ts = find_tritonserver(cfg.launcher.tritonserver) if local else None
        pa = find_perf_analyzer(cfg.measure.perf_analyzer)
        where = f"{ts.path} ({ts.source})" if ts else f"{cfg.launcher.kind} launcher"
        st.detail = f"tritonserver {where}; perf_analyzer {pa.version} ({pa.source})"
    return Tools(ts, pa)


def session_cpus(cfg: GateConfig) -> CpuPlan:
    """``measure.cpu_affinity`` for this launcher: a remote server runs on another machine's
    cores, so nothing is pinned there."""
    if cfg.launcher.kind == "remote":
        return CpuPlan()
    return plan_cpus(cfg.measure.cpu_affinity)


def throughput_cpus(cfg: GateConfig, session: CpuPlan) -> CpuPlan:
    """The split while a throughput level is measured, when the session is not split
    already (``gate.servers.affinity``: on 2-3 cores ``auto`` splits only then)."""
    if cfg.launcher.kind == "remote" or session.pinned:
        return CpuPlan()
    return throughput_plan(cfg.measure.cpu_affinity)


def log_dir(run: Run) -> Path:
    """The run's log folder; a read-only or full reports disk must not stop measuring, so
    the logs then go to a temporary folder (with a warning)."""
    try:
        run.log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fallback = Path(tempfile.mkdtemp(prefix="gate-logs-"))
        run.warn(
            f"cannot create the log folder {run.log_dir} ({e.strerror}); "
            f"server logs go to {fallback}"
        )
        run.log_dir = fallback
    return run.log_dir
