"""``gate doctor``: the tools the gate needs, where they are, and how to fix what is missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from gate.cli import options
from gate.errors import ExitCode


@click.command()
@click.option("--install", is_flag=True, help="Install perf_analyzer into the cache if missing.")
@click.option(
    "--wheel",
    type=options.FILE,
    help="Install perf_analyzer from this tritonclient wheel (air-gapped runners).",
)
@options.config_file("Use the tool paths configured in this gate.yaml.")
@click.option(
    "--cleanup",
    is_flag=True,
    help="Remove containers left by killed gate runs (found by label) and exit.",
)
@click.option(
    "--docker-host", help="Docker daemon for --cleanup (default: config, DOCKER_HOST, local)."
)
def doctor(
    install: bool,
    wheel: Path | None,
    config: Path | None,
    cleanup: bool,
    docker_host: str | None,
) -> None:
    """Report each tool the gate needs, with path and version, and how to fix what is missing."""
    from gate.app.doctor import doctor as run_doctor
    from gate.config.config import load_config

    ts = pa = None
    if config is not None:
        cfg = load_config(config)
        ts, pa = cfg.launcher.tritonserver, cfg.measure.perf_analyzer
        if cfg.launcher.kind == "docker":
            docker_host = docker_host or cfg.launcher.docker_host
    if cleanup:
        _cleanup(docker_host)
    items = run_doctor(
        tritonserver=ts, perf_analyzer=pa, install=install or wheel is not None, wheel=wheel
    )
    width = max(len(i.name) for i in items)
    for i in items:
        mark = "ok " if i.ok else "MISSING"
        click.echo(f"{mark:7} {i.name:<{width}}  {i.version}")
        click.echo(f"        {'':<{width}}  path: {i.path}")
        click.echo(f"        {'':<{width}}  {i.note}")
    required = {"tritonserver", "perf_analyzer"}
    sys.exit(0 if all(i.ok for i in items if i.name in required) else int(ExitCode.INFRA))


def _cleanup(docker_host: str | None) -> NoReturn:
    from gate.servers.docker import cleanup as docker_cleanup

    found = docker_cleanup(docker_host)
    for c in found:
        click.echo(f"{c.note:<16} {c.name}  run {c.run_id}  ({c.status}, {c.id[:12]})")
    removed = sum(c.removed for c in found)
    click.echo(f"{removed} leftover container(s) removed, {len(found) - removed} kept")
    failed = [c for c in found if not c.removed and c.note not in ("owner still runs",)]
    sys.exit(int(ExitCode.INFRA) if failed else 0)
