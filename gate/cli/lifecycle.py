"""``gate baseline list|promote|prune|restore`` and ``gate traffic import|sample``.

Registered onto the groups of ``gate.cli`` (kept in their own module so the lifecycle
commands do not crowd the main CLI file). Same rules: heavy imports inside the commands,
``GateError`` → one line and its exit code.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import click

from gate.errors import ConfigError, GateError

_STORE = click.option(
    "--store",
    help="Baseline store: a folder or an fsspec URL (default: baseline.store of --config).",
)
_CFG = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="gate.yaml whose baseline.store to use (default gate.yaml).",
)


def _fail(exc: GateError) -> None:
    from gate.cli.main import _fail as fail

    fail(exc)


def _store_location(config: Path | None, store: str | None) -> str:
    if store:
        return store if "://" in store else str(Path(store).resolve())
    from gate.config.config import load_config

    path = config or Path("gate.yaml")
    try:
        return load_config(path).baseline.store
    except GateError as e:
        if config is None:
            e.hint = (e.hint + "; " if e.hint else "") + "or pass --store FOLDER|URL"
        _fail(e)
        raise  # unreachable


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


def register(baseline: click.Group, traffic: click.Group) -> None:
    baseline.add_command(baseline_list)
    baseline.add_command(baseline_promote)
    baseline.add_command(baseline_prune)
    baseline.add_command(baseline_restore)
    traffic.add_command(traffic_import)
    traffic.add_command(traffic_sample)


# --------------------------------------------------------------------------------------
# baseline
# --------------------------------------------------------------------------------------


@click.command("list")
@_CFG
@_STORE
@click.option("--model", help="Only this model.")
@click.option("--history", "with_history", is_flag=True, help="Also superseded baselines.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def baseline_list(
    config: Path | None, store: str | None, model: str | None, with_history: bool, as_json: bool
) -> None:
    """Per model and environment: when, from which commit, how many runs and samples.

    Exit 2 if any listed file is damaged (it is listed with the error)."""
    from gate.baselines.store import inventory

    loc = _store_location(config, store)
    try:
        items = inventory(loc, model, history=with_history)
    except GateError as e:
        _fail(e)
    if as_json:
        for it in items:
            click.echo(json.dumps(it.summary(), sort_keys=True))
    elif not items:
        click.echo(f"no baselines in {loc}" + (f" for model '{model}'" if model else ""))
    else:
        rows = [("MODEL", "ENV", "STATE", "RECORDED", "COMMIT", "RUNS", "SAMPLES", "ENVIRONMENT")]
        for it in items:
            b = it.baseline
            state = "current" if it.current else f"old@{it.stamp[:15]}"
            if b is None:
                rows.append((it.model, it.env_key, state, "DAMAGED", "-", "-", "-", it.error or ""))
                continue
            env = b.environment
            gpu = env.get("gpu_model", "?")
            gpu = f"{env.get('gpu_count', '?')}x {gpu}" if gpu not in ("none", "unknown") else gpu
            where = f"triton {env.get('triton_version', '?')}, {gpu}, {env.get('launcher', '?')}"
            rows.append(
                (
                    it.model,
                    it.env_key,
                    state,
                    b.recorded_at,
                    (b.git_commit or "-")[:10],
                    str(len(b.runs)),
                    str(sum(len(r.latencies_us) for r in b.runs)),
                    where,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            click.echo(
                "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]
            )
    damaged = [it for it in items if it.baseline is None]
    if damaged:
        click.echo(
            f"gate: error: {len(damaged)} damaged baseline file(s), first: {damaged[0].error}",
            err=True,
        )
        raise SystemExit(2)


@click.command("promote")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@_CFG
@_STORE
@click.option("--force", is_flag=True, help="Also promote a run whose verdict is not PASS.")
def baseline_promote(
    runs: tuple[Path, ...], config: Path | None, store: str | None, force: bool
) -> None:
    """Make accepted run(s) (run.json of gate check, verdict PASS) the new baseline.

    Several run.json files of one model, traffic and environment are merged (a baseline
    needs at least the policy's min_baseline_runs runs). The baseline they replace is
    kept in the store's history/; 'gate baseline restore' brings it back."""
    from pydantic import ValidationError

    from gate.baselines.store import baseline_from_runs, env_key, save_baseline
    from gate.result import RunResult

    results = []
    for p in runs:
        try:
            results.append(RunResult.from_json(p.read_text(encoding="utf-8")))
        except OSError as e:
            _fail(ConfigError(f"{p}: cannot read: {e.strerror}"))
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            _fail(
                ConfigError(
                    f"{p}: field '{where}': {err['msg']}", hint="pass a run.json written by gate"
                )
            )
    loc = _store_location(config, store) if config or store else _store_of_run(results[0])
    try:
        b = baseline_from_runs(results, force=force, sources=[str(p) for p in runs])
        if len(b.runs) < 2:
            raise ConfigError(
                f"{runs[0]}: field 'runs': {len(b.runs)} run; a baseline needs at least 2 to "
                "see the drift between runs",
                hint="set measure.runs >= 2 for the check you promote, or pass several run.json",
            )
        path = save_baseline(loc, b)
    except GateError as e:
        _fail(e)
    click.echo(
        f"promoted {len(b.runs)} run(s) of '{b.model}' (env {env_key(b.environment)}, "
        f"commit {(b.git_commit or '-')[:10]}) to {path}"
    )


def _store_of_run(result: Any) -> str:
    """Without --store/--config, promote into the store the run itself used: the one its
    baseline came from (``<store>/<model>/baseline-….json.gz``), else its config's."""
    ref = getattr(result, "baseline", None)
    model = result.model.name if result.model else None
    if ref is not None and model:
        head, sep, _ = ref.path.rpartition(f"/{model}/baseline-")
        if sep and head:
            return str(head)
    if result.config_path and Path(result.config_path).is_file():
        return _store_location(Path(result.config_path), None)
    return _store_location(None, None)


@click.command("prune")
@_CFG
@_STORE
@click.option("--model", help="Only this model.")
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
        _fail(ConfigError("nothing to prune by", hint="give --keep N and/or --older-than DATE"))
    loc = _store_location(config, store)
    try:
        gone = prune(loc, keep=keep, older_than=_date(older_than), model=model, dry_run=dry_run)
    except GateError as e:
        _fail(e)
    verb = "would delete" if dry_run else "deleted"
    for g in gone:
        click.echo(f"{verb} {g}")
    click.echo(f"{verb} {len(gone)} superseded baseline(s)")


@click.command("restore")
@click.argument("entry")
@_CFG
@_STORE
def baseline_restore(entry: str, config: Path | None, store: str | None) -> None:
    """Make a superseded baseline (from 'gate baseline list --history') current again."""
    from gate.baselines.store import restore

    loc = _store_location(config, store)
    try:
        path, b = restore(loc, entry)
    except GateError as e:
        _fail(e)
    click.echo(f"restored the baseline of '{b.model}' recorded {b.recorded_at} to {path}")


# --------------------------------------------------------------------------------------
# traffic
# --------------------------------------------------------------------------------------


def _specs(inputs: tuple[str, ...]) -> list[Any]:
    from gate.inputs.traffic import TensorSpec

    specs = []
    for spec in inputs:
        try:
            name, dtype, dims = spec.split(":")
            specs.append(
                TensorSpec(name, dtype.upper(), tuple(int(d) for d in dims.split(",") if d))
            )
        except ValueError:
            _fail(
                ConfigError(
                    f"--input {spec!r}: expected NAME:DTYPE:D1,D2",
                    hint="e.g. --input INPUT0:FP32:16",
                )
            )
    return specs


def _detect(src: Path) -> str:
    """'triton-trace' for a JSON list, 'pa-json' for a {"data": …} object."""
    try:
        with open(src, "rb") as fh:
            head = fh.read(4096).lstrip()
    except OSError as e:
        raise ConfigError(f"{src}: cannot read: {e.strerror}") from None
    if head.startswith(b"["):
        return "triton-trace"
    if head.startswith(b"{"):
        return "pa-json"
    raise ConfigError(
        f"{src}: neither a Triton trace nor perf_analyzer input JSON", hint="pass --from"
    )


@click.command("import")
@click.argument("src", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.argument("dest", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--from",
    "kind",
    type=click.Choice(["auto", "triton-trace", "pa-json"]),
    default="auto",
    show_default=True,
)
@click.option("--model", help="Model name (required for pa-json; picks one model of a trace).")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME:DTYPE:D1,D2",
    help="pa-json input spec without batch dim, e.g. INPUT0:FP32:16 (repeatable).",
)
@click.option(
    "--rate", type=float, help="pa-json: assign arrival times at this constant rate (req/s)."
)
@click.option(
    "--payloads",
    type=click.Path(path_type=Path, dir_okay=False),
    help="triton-trace: take payloads from this gate-traffic file (for level=TIMESTAMPS traces).",
)
def traffic_import(
    src: tuple[Path, ...],
    dest: Path,
    kind: str,
    model: str | None,
    inputs: tuple[str, ...],
    rate: float | None,
    payloads: Path | None,
) -> None:
    """Convert Triton trace file(s) or perf_analyzer --input-data JSON into gate-traffic/1.

    Triton trace: run tritonserver with --trace-config mode=triton --trace-config
    triton,file=F --trace-config level=TIMESTAMPS --trace-config level=TENSORS
    --trace-config rate=1; arrival times and payloads come from the trace."""
    from gate.inputs.trace import import_triton_trace
    from gate.inputs.traffic import import_perf_analyzer_json, read_traffic, write_traffic

    try:
        k = _detect(src[0]) if kind == "auto" else kind
        warnings: list[str] = []
        if k == "triton-trace":
            pay = read_traffic(payloads) if payloads else None
            t, warnings = import_triton_trace(list(src), model=model, payloads=pay)
        else:
            if len(src) != 1:
                raise ConfigError("pa-json: give one input file")
            if not model or not inputs:
                raise ConfigError(
                    f"{src[0]}: perf_analyzer input JSON has no model name or datatypes",
                    hint="pass --model NAME and --input NAME:DTYPE:DIMS for each input",
                )
            t = import_perf_analyzer_json(src[0], model=model, rate_rps=rate, inputs=_specs(inputs))
        write_traffic(dest, t)
    except GateError as e:
        _fail(e)
    for w in warnings:
        click.echo(f"gate: warning: {w}", err=True)
    timing = f"{t.duration_s:.3f} s of arrivals" if t.timed else "untimed"
    click.echo(f"wrote {len(t.requests)} requests of '{t.model}' ({timing}) to {dest}")


@click.command("sample")
@click.argument("src", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("dest", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-n",
    "--requests",
    "count",
    type=click.IntRange(2, None),
    required=True,
    help="Requests to keep.",
)
@click.option(
    "--start",
    type=click.IntRange(0, None),
    help="First request of the window (default: the most representative window).",
)
def traffic_sample(src: Path, dest: Path, count: int, start: int | None) -> None:
    """Cut a recording down to N requests, keeping its arrival process.

    Takes a contiguous window (real gaps and bursts, unlike thinning, which stretches every
    gap), by default the one whose inter-arrival distribution is closest (KS distance) to
    the whole recording's."""
    from gate.inputs.trace import sample_window
    from gate.inputs.traffic import read_traffic, write_traffic

    try:
        t = read_traffic(src)
        out, info = sample_window(t, count, start=start)
        write_traffic(dest, out)
    except GateError as e:
        _fail(e)
    msg = f"wrote requests {info.start}..{info.start + info.n - 1} of {len(t.requests)} to {dest}"
    if info.ks is not None:
        rf = f"{info.rate_full:.1f}" if info.rate_full else "?"
        rw = f"{info.rate_window:.1f}" if info.rate_window else "?"
        msg += f" (inter-arrival KS distance {info.ks:.3f}; rate {rw} req/s vs {rf} overall)"
    click.echo(msg)
