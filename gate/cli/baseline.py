"""``gate baseline record|show|list|promote|prune|restore``: the stored baselines."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gate.cli import options
from gate.cli.group import GateGroup
from gate.cli.run import measure_only
from gate.errors import ConfigError, GateError

if TYPE_CHECKING:
    from gate.baselines.store import StoredBaseline


@click.group(cls=GateGroup)
def baseline() -> None:
    """Manage stored baselines."""


def _store_location(config: Path | None, store: str | None) -> str:
    """``--store`` as given (a local folder made absolute), else ``baseline.store`` of the
    config (``gate.yaml`` unless ``--config`` names another)."""
    if store:
        return store if "://" in store else str(Path(store).resolve())
    from gate.config.config import load_config

    try:
        return load_config(config or Path("gate.yaml")).baseline.store
    except GateError as e:
        if config is None:
            e.hint = (e.hint + "; " if e.hint else "") + "or pass --store FOLDER|URL"
        raise


@baseline.command("record")
@options.CONFIG
@options.REPO
@options.REPORT_DIR
@click.option("--runs", type=click.IntRange(1, 50), help="Replays (default baseline.runs, 3).")
@options.QUIET
@options.SET
def baseline_record(
    config: Path,
    repository: Path | None,
    report_dir: Path | None,
    runs: int | None,
    quiet: bool,
    overrides: tuple[str, ...],
) -> None:
    """Replay the traffic K times, each on a fresh server, and store every run."""
    measure_only(
        config,
        overrides,
        store=True,
        repository=repository,
        report_dir=report_dir,
        runs=runs,
        quiet=quiet,
    )


@baseline.command("show")
@options.CONFIG
def baseline_show(config: Path) -> None:
    """Show the stored baselines of the configured model (one per environment)."""
    from gate.baselines.backend import open_store
    from gate.baselines.store import describe, find_baselines, load_baseline
    from gate.config.config import load_config

    cfg = load_config(config)
    paths = find_baselines(open_store(cfg.baseline.store), cfg.model.name)
    if not paths:
        raise ConfigError(
            f"no baseline for model '{cfg.model.name}' in {cfg.baseline.store}",
            hint=f"gate baseline record {config}",
        )
    for p in paths:
        b = load_baseline(p)
        click.echo(
            json.dumps({"path": str(p), **describe(b), "environment": b.environment}, indent=2)
        )


def _row(it: StoredBaseline) -> tuple[str, ...]:
    state = "current" if it.current else f"old@{it.stamp[:15]}"
    b = it.baseline
    if b is None:
        return (it.model, it.env_key, state, "DAMAGED", "-", "-", "-", it.error or "")
    env = b.environment
    gpu = env.get("gpu_model", "?")
    gpu = f"{env.get('gpu_count', '?')}x {gpu}" if gpu not in ("none", "unknown") else gpu
    where = f"triton {env.get('triton_version', '?')}, {gpu}, {env.get('launcher', '?')}"
    samples = str(sum(len(r.latencies_us) for r in b.runs))
    commit = (b.git_commit or "-")[:10]
    return (it.model, it.env_key, state, b.recorded_at, commit, str(len(b.runs)), samples, where)


def _echo_table(items: list[StoredBaseline]) -> None:
    head = ("MODEL", "ENV", "STATE", "RECORDED", "COMMIT", "RUNS", "SAMPLES", "ENVIRONMENT")
    rows: list[tuple[str, ...]] = [head]
    rows += [_row(it) for it in items]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])


@baseline.command("list")
@options.CONFIG_OPTION
@options.STORE
@options.ONLY_MODEL
@click.option("--history", "with_history", is_flag=True, help="Also superseded baselines.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def baseline_list(
    config: Path | None, store: str | None, model: str | None, with_history: bool, as_json: bool
) -> None:
    """Per model and environment: when, from which commit, how many runs and samples.

    Exit 2 if any listed file is damaged (it is listed with the error)."""
    from gate.baselines.store import inventory

    loc = _store_location(config, store)
    items = inventory(loc, model, history=with_history)
    if as_json:
        for it in items:
            click.echo(json.dumps(it.summary(), sort_keys=True))
    elif not items:
        click.echo(f"no baselines in {loc}" + (f" for model '{model}'" if model else ""))
    else:
        _echo_table(items)
    damaged = [it for it in items if it.baseline is None]
    if damaged:
        raise ConfigError(
            f"{len(damaged)} damaged baseline file(s), first: {damaged[0].error}",
            hint="restore it from history/ (gate baseline restore) or record it again",
        )


@baseline.command("promote")
@click.argument("runs", nargs=-1, required=True, type=options.RUN_FILE)
@options.CONFIG_OPTION
@options.STORE
@click.option("--force", is_flag=True, help="Also promote a run whose verdict is not PASS.")
def baseline_promote(
    runs: tuple[Path, ...], config: Path | None, store: str | None, force: bool
) -> None:
    """Make accepted run(s) (run.json of gate check, verdict PASS) the new baseline.

    The store is baseline.store of --config (default gate.yaml) or --store, never one named
    in the run. Each run must be unedited (its integrity digest, and its HMAC when
    GATE_RUN_KEY is set) and its verdict must follow from its checks under the config's
    policy. Several run.json files of one model, traffic and environment are merged (a
    baseline needs at least the policy's min_baseline_runs runs). The baseline they replace
    is kept in the store's history/; 'gate baseline restore' brings it back."""
    from gate.baselines.promote import promote, promote_policy
    from gate.baselines.store import env_key
    from gate.result import run_key

    loc = _store_location(config, store)
    policy, policy_source = promote_policy(config, store)
    path, b = promote(
        runs, store=loc, policy=policy, policy_source=policy_source, force=force, key=run_key()
    )
    click.echo(
        f"promoted {len(b.runs)} run(s) of '{b.model}' (env {env_key(b.environment)}, "
        f"commit {(b.git_commit or '-')[:10]}) to {path}"
    )


def _date(value: str | None) -> _dt.datetime | None:
    if value is None:
        return None
    try:
        t = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--older-than {value!r}: not an ISO date", hint="e.g. 2026-11-01 or 2026-11-01T12:00"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


@baseline.command("prune")
@options.CONFIG_OPTION
@options.STORE
@options.ONLY_MODEL
@click.option(
    "--keep", type=int, help="Keep the newest N per model and environment (current included)."
)
@click.option(
    "--older-than", "older_than", help="Delete superseded baselines older than this date."
)
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; delete nothing.")
def baseline_prune(
    config: Path | None,
    store: str | None,
    model: str | None,
    keep: int | None,
    older_than: str | None,
    dry_run: bool,
) -> None:
    """Delete superseded baselines from history/ (the current ones are never deleted)."""
    from gate.baselines.store import prune

    if keep is None and older_than is None:
        raise ConfigError("nothing to prune by", hint="give --keep N and/or --older-than DATE")
    loc = _store_location(config, store)
    gone = prune(loc, keep=keep, older_than=_date(older_than), model=model, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for g in gone:
        click.echo(f"{verb} {g}")
    click.echo(f"{verb} {len(gone)} superseded baseline(s)")


@baseline.command("restore")
@click.argument("entry")
@options.CONFIG_OPTION
@options.STORE
def baseline_restore(entry: str, config: Path | None, store: str | None) -> None:
    """Make a superseded baseline (from 'gate baseline list --history') current again."""
    from gate.baselines.store import restore

    path, b = restore(_store_location(config, store), entry)
    click.echo(f"restored the baseline of '{b.model}' recorded {b.recorded_at} to {path}")
