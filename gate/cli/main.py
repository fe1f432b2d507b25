"""The ``gate`` command line. Wires stages together and maps errors to exit codes; nothing else.

Exit codes: 0 pass · 1 blocked · 2 bad usage, config or input · 3 infrastructure error
(server, perf_analyzer, timeout) · 130 interrupted. Heavy modules are imported inside the
commands so ``gate --help`` stays fast.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from gate import __version__
from gate.cli.report import GITHUB_OPTION, publish_to_github, record_history, report
from gate.errors import ConfigError, ExitCode, GateError

_CONFIG = click.argument(
    "config", type=click.Path(path_type=Path, dir_okay=False), default="gate.yaml", required=False
)
_REPO = click.option(
    "--model-repository",
    "repository",
    type=click.Path(path_type=Path, file_okay=False),
    help="Candidate model repository (overrides model.repository in the config).",
)
_REPORT_DIR = click.option(
    "--report-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where reports go (overrides reports.dir in the config).",
)


_SET = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config field, e.g. --set launcher.kind=docker (repeatable; YAML value).",
)
_NOTIFY = click.option(
    "--notify",
    is_flag=True,
    help="Send the notifications configured under notify: (Slack / JSON webhook).",
)
_REPORT_URL = click.option(
    "--report-url",
    metavar="URL",
    help="Link to the report in notifications (default: this GitHub Actions run).",
)
_PREVIOUS = click.option(
    "--previous",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The previous run.json or history JSONL, to notify on recovery.",
)


def _read_run(run_json: Path) -> Any:
    """A saved RunResult, or exit 2 naming the file and the field."""
    from pydantic import ValidationError

    from gate.result import RunResult

    try:
        return RunResult.from_json(run_json.read_text(encoding="utf-8"))
    except OSError as e:
        _fail(ConfigError(f"{run_json}: cannot read: {e.strerror}"))
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        _fail(
            ConfigError(
                f"{run_json}: field '{loc}': {err['msg']}", hint="pass a run.json written by gate"
            )
        )


def _previous_verdict(path: Path | None, model: str | None) -> str | None:
    from gate.report.notify import previous_verdict

    try:
        return previous_verdict(path, model) if path is not None else None
    except GateError as e:
        _fail(e)


def _notify(result: Any, cfg: Any, *, previous: str | None, report_url: str | None) -> None:
    """Send notifications; a failure is a warning in the run and on stderr, never a verdict."""
    import os

    from gate.report.notify import send_notifications

    for notice in send_notifications(result, cfg, previous=previous, report_url=report_url):
        if notice.level != "warning":
            click.echo(f"gate: {notice.message}", err=True)
            continue
        result.warnings.append(notice.message)
        click.echo(f"gate: warning: {notice.message}", err=True)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            safe = notice.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            click.echo(f"::warning title=gate notify::{safe}")


def _fail(exc: GateError) -> NoReturn:
    # One line, always: a path with a newline must not start a line of its own in a CI log
    # (where a line beginning with "::" is a workflow command).
    text = exc.diagnostics().replace("\r", "\\r").replace("\n", "\\n")
    click.echo(f"gate: error: {text}", err=True)
    sys.exit(int(exc.exit_code))


_ACTIVE: list[Any] = []


def _progress(quiet: bool) -> Callable[[str], None]:
    """Progress on stderr: rich on a terminal, plain lines in CI logs (see gate.progress)."""
    from gate.progress import make_progress

    prog = make_progress(quiet)
    _ACTIVE.append(prog)
    return prog


def _close_progress() -> None:
    while _ACTIVE:
        _ACTIVE.pop().close()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    from gate.app.pipeline import Interrupted

    raise Interrupted()


def _finish(
    result: Any,
    report_dir: Path,
    quiet: bool,
    *,
    history: Path | None = None,
    github: bool | None = None,
) -> NoReturn:
    """Write the reports (always), print the summary, exit with the run's code.

    The history line is appended first (so run.json carries a warning if it failed); GitHub
    annotations, outputs and job summary come last, when the report paths are known.
    """
    from gate.report import write_reports
    from gate.report.text import render_console

    _close_progress()
    code = result.exit_code
    record_history(result, history)
    try:
        write_reports(result, report_dir)
    except GateError as e:
        click.echo(f"gate: error: {e.diagnostics()}", err=True)
        code = code if code not in (0,) else int(ExitCode.INFRA)
        _keep_result(result)
    publish_to_github(result, report_dir, github)
    click.echo(render_console(result))
    sys.exit(code)


def _keep_result(result: Any) -> None:
    """The reports could not be written (disk full, read-only): keep the RunResult in the
    temp folder, or print it to stderr when even that fails, so the run is never lost."""
    import os
    import tempfile

    text = result.to_json()
    path = Path(tempfile.gettempdir()) / f"gate-run-{result.run_id}.json"
    try:
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        click.echo(f"gate: the run result was kept in {path}", err=True)
    except OSError:
        click.echo("gate: the run result follows (it could not be written anywhere):", err=True)
        click.echo(text, err=True)


def _load(config: Path, overrides: tuple[str, ...] = ()) -> Any:
    from gate.config.config import load_config

    try:
        return load_config(config, overrides)
    except GateError as e:
        _fail(e)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gate")
def cli() -> None:
    """Admission gate for models served by NVIDIA Triton: replay recorded traffic, compare
    with stored baselines using paired statistics, and block regressions in CI.

    Exit codes: 0 pass, 1 blocked, 2 bad input, 3 infrastructure error."""
    signal.signal(signal.SIGTERM, _on_sigterm)


@cli.command()
@_CONFIG
@_REPO
@_REPORT_DIR
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
@_SET
@_NOTIFY
@_REPORT_URL
@_PREVIOUS
@click.option(
    "--history",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Append this run's summary to a JSON-lines history (overrides reports.history).",
)
@GITHUB_OPTION
@click.option(
    "--allow-env-mismatch",
    is_flag=True,
    help="Compare with a baseline measured in another environment (GPU, driver, Triton, "
    "image…) instead of exiting 2; the report flags it.",
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
) -> None:
    """Measure the model and judge it against its stored baseline (the whole gate)."""
    from gate.app.pipeline import run_check

    cfg = _load(config, overrides)
    prev = _previous_verdict(previous, cfg.model.name) if notify else None
    out = report_dir or cfg.reports.dir
    result = run_check(
        cfg,
        config,
        repository=repository,
        progress=_progress(quiet),
        log_dir=out / "logs",
        allow_env_mismatch=allow_env_mismatch,
    )
    if notify:
        _notify(result, cfg.notify, previous=prev, report_url=report_url)
    _finish(result, out, quiet, history=history or cfg.reports.history, github=github)


@cli.command()
@_CONFIG
@_REPO
@_REPORT_DIR
@click.option("--runs", type=click.IntRange(1, 50), help="Replays, each on a fresh server.")
@click.option("-q", "--quiet", is_flag=True)
def replay(
    config: Path, repository: Path | None, report_dir: Path | None, runs: int | None, quiet: bool
) -> None:
    """Measure only: replay the traffic and write a RunResult with the samples."""
    from gate.app.pipeline import run_replay

    cfg = _load(config)
    out = report_dir or cfg.reports.dir
    result = run_replay(
        cfg,
        config,
        repository=repository,
        runs=runs,
        progress=_progress(quiet),
        log_dir=out / "logs",
    )
    _finish(result, out, quiet)


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path, file_okay=False), required=False)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="gate.yaml: its signatures: section (or its policy's); MODEL_DIR defaults to its model.",
)
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A policy file whose signatures: section applies (instead of --config).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(
    model_dir: Path | None, config: Path | None, policy_path: Path | None, as_json: bool
) -> None:
    """Verify the signatures of a model directory only (a cheap first CI step).

    Exit codes: 0 verified, 1 blocked (unsigned, tampered or untrusted), 2 bad policy or
    usage, 3 infrastructure (a Sigstore trusted root could not be fetched)."""
    from gate.config.config import check_model_dir
    from gate.config.policy import load_policy
    from gate.signing.interface import SignaturesBlocked
    from gate.signing.stage import verify_for_run
    from gate.signing.text import render_signatures

    if config is not None and policy_path is not None:
        _fail(ConfigError("give --config or --policy, not both", hint="drop one of them"))
    try:
        cfg = _load(config) if config is not None else None
        policy = None
        if policy_path is None and cfg is not None:
            policy_path = cfg.policy
        if policy_path is not None:
            policy = load_policy(policy_path)
        if model_dir is None:
            if cfg is None or config is None:
                raise ConfigError(
                    "no MODEL_DIR given", hint="gate verify MODEL_DIR, or --config gate.yaml"
                )
            model_dir = check_model_dir(cfg, config)
        elif not model_dir.is_dir():
            raise ConfigError(f"{model_dir}: model directory does not exist", hint="check the path")
        try:
            res, warns, _ = verify_for_run(cfg, config, policy, policy_path, model_dir)
            code = 0
        except SignaturesBlocked as e:
            res, warns, code = e.result, [], 1
            if res is None:
                raise
    except GateError as e:
        _fail(e)
    if as_json:
        click.echo(res.model_dump_json(indent=2) if res is not None else "null")
    else:
        click.echo(render_signatures(res, warns) if res is not None else "\n".join(warns), nl=False)
    sys.exit(code)


@cli.command()
@_CONFIG
@_REPORT_DIR
@click.option(
    "--runs", type=click.IntRange(3, 50), default=5, show_default=True, help="A/A runs per mode."
)
@click.option("--no-ab", is_flag=True, help="Only the stored-baseline mode (fresh servers).")
@click.option("-q", "--quiet", is_flag=True)
def calibrate(config: Path, report_dir: Path | None, runs: int, no_ab: bool, quiet: bool) -> None:
    """A/A runs of the baseline model against itself: run-to-run noise per metric and the
    smallest tolerance this machine supports, for stored baselines and live A/B."""
    from gate.app.calibrate import calibrate as run_calibrate
    from gate.app.calibrate import render

    cfg = _load(config)
    out = report_dir or cfg.reports.dir
    try:
        res = run_calibrate(
            cfg, config, runs, progress=_progress(quiet), report_dir=out, ab=not no_ab
        )
    except GateError as e:
        _fail(e)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "calibrate.json"
    path.write_text(json.dumps(res, indent=2, default=str) + "\n", encoding="utf-8")
    click.echo(render(res))
    click.echo(f"\nwritten: {path}")


@cli.group()
def baseline() -> None:
    """Manage stored baselines."""


@baseline.command("record")
@_CONFIG
@_REPO
@_REPORT_DIR
@click.option("--runs", type=click.IntRange(1, 50), help="Replays (default baseline.runs, 3).")
@click.option("-q", "--quiet", is_flag=True)
def baseline_record(
    config: Path, repository: Path | None, report_dir: Path | None, runs: int | None, quiet: bool
) -> None:
    """Replay the traffic K times, each on a fresh server, and store every run."""
    from gate.app.pipeline import run_record

    cfg = _load(config)
    out = (report_dir or cfg.reports.dir) / "baseline"
    result, path = run_record(
        cfg,
        config,
        repository=repository,
        runs=runs,
        progress=_progress(quiet),
        log_dir=out / "logs",
    )
    _close_progress()
    if path is not None:
        click.echo(f"baseline stored: {path}", err=True)
    _finish(result, out, quiet)


@baseline.command("show")
@_CONFIG
def baseline_show(config: Path) -> None:
    """Show the stored baselines of the configured model (one per environment)."""
    from gate.baselines.backend import open_store
    from gate.baselines.store import describe, find_baselines, load_baseline

    cfg = _load(config)
    try:
        store = open_store(cfg.baseline.store)
        paths = find_baselines(store, cfg.model.name)
    except GateError as e:
        _fail(e)
    if not paths:
        _fail(
            ConfigError(
                f"no baseline for model '{cfg.model.name}' in {cfg.baseline.store}",
                hint=f"gate baseline record {config}",
            )
        )
    try:
        for p in paths:
            b = load_baseline(p)
            click.echo(
                json.dumps(
                    {"path": str(p), **describe(b), "environment": b.environment},
                    indent=2,
                )
            )
    except GateError as e:
        _fail(e)


@cli.group()
def traffic() -> None:
    """Inspect and convert recorded traffic (gate-traffic/1 JSONL)."""


@traffic.command("inspect")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def traffic_inspect(file: Path) -> None:
    """Print count, duration, rate and a tensor summary of a traffic file."""
    from gate.inputs.traffic import format_summary, read_traffic, summarize

    try:
        click.echo(format_summary(summarize(read_traffic(file)), file))
    except GateError as e:
        _fail(e)


cli.add_command(report)


@cli.command("notify")
@click.argument("run_json", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="gate.yaml whose notify: section to use (default: the built-in defaults).",
)
@_REPORT_URL
@_PREVIOUS
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(["blocked", "inconclusive", "error", "recovery"]),
    help="Notify on these outcomes (repeatable; overrides notify.events).",
)
@click.option("--dry-run", is_flag=True, help="Print the payloads instead of sending them.")
def notify_cmd(
    run_json: Path,
    config: Path | None,
    report_url: str | None,
    previous: Path | None,
    events: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Post a saved run's verdict to Slack / a JSON webhook (URLs from the environment).

    A failed notification is a warning: the exit code is 0 unless the input is bad (2)."""
    from gate.config.config import NotifyConfig
    from gate.report.notify import send_notifications

    result = _read_run(run_json)
    ncfg = _load(config).notify if config is not None else NotifyConfig()
    prev = _previous_verdict(previous, result.model.name if result.model else None)

    def show(channel: str, payload: dict[str, Any]) -> None:
        click.echo(
            json.dumps({"channel": channel, "payload": payload}, indent=2, ensure_ascii=False)
        )

    for notice in send_notifications(
        result,
        ncfg,
        previous=prev,
        report_url=report_url,
        events=events or None,
        dry_run=show if dry_run else None,
    ):
        level = "warning: " if notice.level == "warning" else ""
        click.echo(f"gate: {level}{notice.message}", err=True)


@cli.command()
@click.option(
    "--changed-since",
    "ref",
    metavar="REF",
    help="Plan the models whose inputs changed since the merge base of REF and HEAD.",
)
@click.option("--all", "everything", is_flag=True, help="Plan every model (nightly jobs).")
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=".",
    show_default=True,
    help="A folder inside the git repository to plan.",
)
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Plan file (default: gate-plan.yaml at the repository root, if present).",
)
@click.option(
    "--github-output",
    is_flag=True,
    help="Also append matrix=… and count=… to the file named by $GITHUB_OUTPUT.",
)
def plan(
    ref: str | None, everything: bool, root: Path, plan_path: Path | None, github_output: bool
) -> None:
    """Print a CI matrix (JSON) of the models to gate: {"include": [{"model", "config"}, …]}."""
    import os

    from gate.app.plan import GITHUB_MATRIX_LIMIT, make_plan, write_github_output

    try:
        result = make_plan(root, ref=ref, plan_path=plan_path, everything=everything)
    except GateError as e:
        _fail(e)
    click.echo(result.summary(), err=True)
    if len(result.include) > GITHUB_MATRIX_LIMIT:
        click.echo(
            f"gate plan: warning: {len(result.include)} jobs exceed GitHub's matrix limit of "
            f"{GITHUB_MATRIX_LIMIT}; split the plan (gate-plan.yaml) into several workflows",
            err=True,
        )
    click.echo(json.dumps(result.matrix(), separators=(",", ":")))
    if github_output:
        out = os.environ.get("GITHUB_OUTPUT")
        if not out:
            _fail(ConfigError("--github-output: $GITHUB_OUTPUT is not set", hint="run in Actions"))
        write_github_output(result, out)


@cli.command()
@click.option("--install", is_flag=True, help="Install perf_analyzer into the cache if missing.")
@click.option(
    "--wheel",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Install perf_analyzer from this tritonclient wheel (air-gapped runners).",
)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Use the tool paths configured in this gate.yaml.",
)
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

    ts = pa = None
    if config is not None:
        cfg = _load(config)
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


def _register_lifecycle() -> None:
    from gate.cli.lifecycle import register

    register(baseline, traffic)


_register_lifecycle()


def _cleanup(docker_host: str | None) -> NoReturn:
    from gate.servers.docker import cleanup as docker_cleanup

    try:
        found = docker_cleanup(docker_host)
    except GateError as e:
        _fail(e)
    for c in found:
        click.echo(f"{c.note:<16} {c.name}  run {c.run_id}  ({c.status}, {c.id[:12]})")
    removed = sum(c.removed for c in found)
    click.echo(f"{removed} leftover container(s) removed, {len(found) - removed} kept")
    failed = [c for c in found if not c.removed and c.note not in ("owner still runs",)]
    sys.exit(int(ExitCode.INFRA) if failed else 0)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("gate: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(int(ExitCode.USAGE))
    except GateError as e:
        _fail(e)
    except KeyboardInterrupt:
        click.echo("gate: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
