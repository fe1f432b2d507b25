"""Launchers: the ways the gate gets a Triton server (local process, docker container, remote).

``open_server`` picks one from ``launcher.kind``; the docker and remote modules import their
client libraries only when used, so ``gate --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gate.errors import ConfigError, ToolNotFoundError
from gate.servers.interface import Launcher, ServerHandle
from gate.servers.local import LocalServer

if TYPE_CHECKING:
    from gate.config.config import GateConfig
    from gate.tools import Tool

__all__ = ["Launcher", "LocalServer", "ServerHandle", "open_server"]


def open_server(
    cfg: GateConfig,
    tritonserver: Tool | None,
    repository: Path,
    log_path: Path,
    *,
    run_id: str,
    index: int = 1,
    extra_args: Sequence[str] = (),
    cpus: Sequence[int] = (),
) -> Launcher:
    """The configured launcher, not yet started (enter it to start; ``stop()`` always).

    ``extra_args`` are tritonserver arguments the measurement needs (e.g. the metrics
    interval for memory sampling); they go before the user's ``launcher.extra_args``.
    ``cpus``: the cores the server runs on (``gate.servers.affinity``; empty: any), for the
    local and docker launchers (a remote server is not ours to pin).
    """
    lc = cfg.launcher
    if lc.kind == "local":
        if tritonserver is None:
            raise ToolNotFoundError("the local launcher needs a tritonserver binary")
        return LocalServer(
            tritonserver,
            repository,
            log_path,
            startup_timeout_s=lc.startup_timeout_s,
            load_timeout_s=lc.load_timeout_s,
            stop_timeout_s=lc.stop_timeout_s,
            extra_args=(*extra_args, *lc.extra_args),
            cpus=tuple(cpus),
        )
    if lc.kind == "docker":
        from gate.servers.docker import DockerServer

        server_d = DockerServer(lc, repository, log_path, run_id=run_id, index=index)
        server_d.extra_args = (*extra_args, *server_d.extra_args)
        server_d.cpus = tuple(cpus)
        return server_d
    from gate.servers.remote import RemoteServer

    assert lc.url is not None  # the config validator guarantees it
    server = RemoteServer(lc.url, load_timeout_s=lc.load_timeout_s)
    if server.protocol != cfg.measure.protocol:
        raise ConfigError(
            f"launcher.url {lc.url} speaks {server.protocol} but measure.protocol is "
            f"{cfg.measure.protocol}",
            hint=f"set measure.protocol: {server.protocol}",
        )
    return server
