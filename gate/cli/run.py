"""``gate check``, ``gate replay`` and ``gate calibrate``: the commands that start a server.

Each loads the config, hands it to ``gate.app`` with a progress display, and ends in
``gate.cli.finish`` (reports, summary, exit code). The pipeline records its own errors and
interrupts in the ``RunResult``; anything raised before it starts reaches the group's one
error path (``gate.cli.group``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from gate.cli import options
from gate.cli.finish import Notify, finish
from gate.errors import InfraError


@click.command()
@options.CONFIG
@options.REPO
@options.REPORT_DIR
@options.QUIET
@options.SET
@options.NOTIFY
@options.REPORT_URL
@options.PREVIOUS
@click.option(
    "--history",
    type=options.FILE,
    help="Append this run's summary to a JSON-lines history (overrides reports.history).",
)
@options.GITHUB
@click.option(
    "--allow-env-mismatch",
    is_flag=True,
    help="Compare with a baseline measured in another environment (GPU, driver, Triton, "
    "image…) instead of exiting 2; the report flags it.",
)
@click.option(
    "--trusted-config-from",
    "trusted_from",
    metavar="REF",
    help="Read the config's rules (signatures, policy, baseline store, tools) from this "
    "commit, e.g. the pull request's base; a change to them makes a PASS NEEDS_REVIEW (exit 4).",
)
@click.option(
    "--base-checkout",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A checkout of the base commit: its copy of the model is the live A/B baseline "
    "(baseline.model_dir).",
)
def check(
    config: Path,
    repository: Path | None,
    report_dir: Path | None,
    quiet: bool,
    overrides: tuple[str, ...],
    notify: bool,
    report_url: str | None,
    previous: Path | None,
    history: Path | None,
    github: bool | None,
    allow_env_mismatch: bool,
    trusted_from: str | None,
    base_checkout: Path | None,
) -> None:
    """Measure the model and judge it against its stored baseline (the whole gate)."""
    from gate.app.check import run_check
    from gate.app.trust import trusted_run_config
    from gate.config.config import load_config
    from gate.progress import make_progress
    from gate.report.notify import previous_verdict

    cfg = load_config(config, overrides)
    run_cfg, trusted, notes = trusted_run_config(
        cfg, config, overrides, trusted_from=trusted_from, base_checkout=base_checkout
    )
    for note in notes:
        click.echo(f"gate: {note}", err=True)
    to_notify = None
    if notify:
        prev = previous_verdict(previous, cfg.model.name) if previous is not None else None
        to_notify = Notify(cfg.notify, previous=prev, report_url=report_url)
    out = report_dir or cfg.reports.dir
    with make_progress(quiet) as progress:
        result = run_check(
            run_cfg,
            config,
            repository=repository,
            progress=progress,
            log_dir=out / "logs",
            allow_env_mismatch=allow_env_mismatch,
        )
    if trusted is not None:
        trusted.apply(result)
    finish(result, out, history=history or cfg.reports.history, github=github, notify=to_notify)


@click.command()
@options.CONFIG
@options.REPO
@options.REPORT_DIR
@click.option("--runs", type=click.IntRange(1, 50), help="Replays, each on a fresh server.")
@options.QUIET
def replay(
    config: Path, repository: Path | None, report_dir: Path | None, runs: int | None, quiet: bool
) -> None:
    """Measure only: replay the traffic and write a RunResult with the samples."""
    measure_only(
        config,
        (),
        store=False,
        repository=repository,
        report_dir=report_dir,
        runs=runs,
        quiet=quiet,
    )


def measure_only(
    config: Path,
    overrides: tuple[str, ...],
    *,
    store: bool,
    repository: Path | None,
    report_dir: Path | None,
    runs: int | None,
    quiet: bool,
) -> None:
    """The body of ``gate replay`` and (``store``) ``gate baseline record``: replays on fresh
    servers, the baseline stored where asked, the reports written (under ``baseline/`` for
    a recording)."""
    from gate.app.record import run_measure
    from gate.config.config import load_config
    from gate.progress import make_progress

    cfg = load_config(config, overrides)
    out = report_dir or cfg.reports.dir
    if store:
        out = out / "baseline"
    with make_progress(quiet) as progress:
        result, path = run_measure(
            cfg,
            config,
            store=store,
            repository=repository,
            runs=runs,
            progress=progress,
            log_dir=out / "logs",
        )
    if path is not None:
        click.echo(f"baseline stored: {path}", err=True)
    finish(result, out)


@click.command()
@options.CONFIG
@options.REPORT_DIR
@click.option(
    "--runs", type=click.IntRange(3, 50), default=5, show_default=True, help="A/A runs per mode."
)
@click.option("--no-ab", is_flag=True, help="Only the stored-baseline mode (fresh servers).")
@options.QUIET
def calibrate(config: Path, report_dir: Path | None, runs: int, no_ab: bool, quiet: bool) -> None:
    """A/A runs of the baseline model against itself: run-to-run noise per metric and the
    smallest tolerance this machine supports, for stored baselines and live A/B."""
    from gate.app.calibrate import calibrate as run_calibrate
    from gate.app.calibrate import render
    from gate.config.config import load_config
    from gate.files import atomic_write
    from gate.progress import make_progress

    cfg = load_config(config)
    out = report_dir or cfg.reports.dir
    with make_progress(quiet) as progress:
        res = run_calibrate(cfg, config, runs, progress=progress, report_dir=out, ab=not no_ab)
    click.echo(render(res))
    path = out / "calibrate.json"
    try:
        atomic_write(path, json.dumps(res, indent=2, default=str) + "\n")
    except OSError as e:
        raise InfraError(
            f"cannot write {path}: {e.strerror or e}", hint="check that --report-dir is writable"
        ) from None
    click.echo(f"\nwritten: {path}")
