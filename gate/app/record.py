"""``gate baseline record`` and ``gate replay``: measure only, nothing judged.

Both replay the traffic on fresh servers (``gate.app.replays``); ``record`` then stores the
samples as the model's baseline for this environment, atomically.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from gate import __version__
from gate.app.prepare import Prepared, prepare
from gate.app.replays import measure_runs
from gate.app.run import CAUGHT, Progress, Run, finish, new_run, quiet, record_error
from gate.app.stored import baseline_ref
from gate.baselines.store import Baseline, save_baseline
from gate.config.config import GateConfig
from gate.errors import ConfigError
from gate.result import RunResult, Verdict, now_iso


def run_measure(
    cfg: GateConfig,
    config_path: Path,
    *,
    store: bool,
    repository: Path | None = None,
    runs: int | None = None,
    progress: Progress = quiet,
    log_dir: Path | None = None,
) -> tuple[RunResult, str | None]:
    """``gate replay`` (``store=False``: measure only, the RunResult carries the samples,
    nothing is judged) and ``gate baseline record`` (``store=True``: K replays stored
    atomically as the baseline, whose path comes back). Each replay is on a fresh server."""
    command, label = ("baseline-record", "baseline") if store else ("replay", "replay")
    run = new_run(command, config_path, progress, log_dir or cfg.reports.dir / "logs")
    path: str | None = None
    with _measuring(run):
        prep = prepare(run, cfg, config_path, repository)
        k = runs or (cfg.baseline.runs if store else cfg.measure.runs)
        if store and k < prep.policy.latency.min_baseline_runs:
            raise ConfigError(
                f"--runs {k} is below the policy's latency.min_baseline_runs="
                f"{prep.policy.latency.min_baseline_runs}",
                hint="record at least that many runs: the judge needs them to see drift",
            )
        measure_runs(run, prep, k, label=label).write_to(run.result)
        if store:
            path = _store(run, prep)
    return finish(run), path


@contextlib.contextmanager
def _measuring(run: Run) -> Iterator[None]:
    """The body of a command that only measures: verdict MEASURED when it completes;
    whatever stops it is recorded as the run's error, not raised, so reports still follow."""
    try:
        yield
    except CAUGHT as e:
        record_error(run.result, e)
    else:
        run.result.verdict = Verdict.MEASURED


def _store(run: Run, prep: Prepared) -> str:
    """Store the measured runs as the model's baseline for this environment; its path."""
    result, cfg = run.result, prep.cfg
    with run.stage("store") as st:
        assert result.model is not None and result.traffic is not None
        b = Baseline(
            model=cfg.model.name,
            model_digest=result.model.digest,
            model_repository=(
                f"oci://{result.model.artifact_digest}"  # the private unpack is gone later
                if result.model.artifact_digest
                else str(prep.model.repository)
            ),
            traffic_digest=result.traffic.digest,
            traffic_requests=result.traffic.requests,
            environment=result.environment,
            recorded_at=now_iso(),
            git_commit=result.git_commit,
            gate_version=__version__,
            runs=result.runs,
            accuracy=result.accuracy,
            memory=result.memory,
            throughput=result.throughput,
        )
        path = str(save_baseline(cfg.baseline.store, b))
        st.detail = path
        result.baseline = baseline_ref(b, path)
    return path
