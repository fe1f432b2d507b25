"""``gate check``: plan where the evidence comes from, measure it, judge it once.

1. **Plan** (``plan_check``, before any server starts): live A/B when a baseline model is at
   hand (``baseline.model_dir``, or the stored baseline's folder with
   ``baseline.ab_from_store``); the stored baseline when one exists and something needs it;
   none when the policy judges only absolute objectives (a new model). A check that needs a
   baseline the store lacks is exit 2 here, not after minutes of measuring.
2. **Evidence** (``collect``): the live A/B replay, the candidate's runs on fresh servers,
   and the stored baseline those runs match, gathered into one ``Evidence``.
3. **Judge**: ``gate.judge.families.judge(policy, evidence)``, a pure function; a failure
   against the stored baseline is first confirmed on fresh servers (``gate.app.confirm``);
   the checks, verdict, warnings and objective values are written into the result, once.

Live A/B judges latency; accuracy, memory and throughput need the stored baseline's samples
and a server running the candidate alone, so with any of them in play the candidate is also
measured on fresh servers and those families are judged against the store.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from gate.app import accuracy as acc_stage
from gate.app.confirm import confirm
from gate.app.live_ab import measure_ab, model_dir_from_store
from gate.app.prepare import Prepared, prepare
from gate.app.replays import measure_runs
from gate.app.run import CAUGHT, Progress, Run, finish, new_run, quiet, record_error
from gate.app.stored import baseline_samples, match_baseline
from gate.baselines.requirements import require_samples_in_store
from gate.baselines.store import Baseline, find_baselines
from gate.config.config import GateConfig
from gate.config.policy import Policy
from gate.errors import ConfigError
from gate.evidence import Evidence, Samples
from gate.judge.families import Judgement, judge
from gate.result import Comparison, RunResult


class LatencyFrom(str, Enum):
    """Where the latency checks' comparison comes from."""

    LIVE_AB = "live A/B"
    STORED = "stored baseline"
    NONE = "none"


@dataclass(frozen=True)
class CheckPlan:
    """Where each family's evidence comes from, decided once before anything is measured.

    ``ab_dir``: the baseline model for a live A/B replay (None: no live A/B). ``stored``: the
    stored baselines to judge against (empty: none is used). ``fresh``: the candidate is also
    replayed on fresh servers (everything but a live A/B alone).
    """

    ab_dir: Path | None
    stored: tuple[Path | str, ...] = ()
    fresh: bool = True

    @property
    def latency(self) -> LatencyFrom:
        if self.ab_dir is not None:
            return LatencyFrom.LIVE_AB
        return LatencyFrom.STORED if self.stored else LatencyFrom.NONE


def run_check(
    cfg: GateConfig,
    config_path: Path,
    *,
    repository: Path | None = None,
    progress: Progress = quiet,
    log_dir: Path | None = None,
    allow_env_mismatch: bool = False,
) -> RunResult:
    """``gate check``: measure the candidate and judge it against its baseline.

    The baseline recorded in this environment is chosen; if only baselines of other
    environments exist (different GPU, driver, Triton, image…), that is exit 2 naming the
    differences, unless ``allow_env_mismatch``: then the closest one is used, and the
    differences are recorded in ``baseline_env_mismatch`` and as a warning.
    """
    run = new_run("check", config_path, progress, log_dir or cfg.reports.dir / "logs")
    try:
        prep = prepare(run, cfg, config_path, repository)
        plan = plan_check(run, prep, config_path)
        evidence, base = collect(run, prep, plan, config_path, allow_env_mismatch)
        with run.stage("judge") as st:
            judgement = judge(prep.policy, evidence)
            st.detail = (
                f"{plan.latency.value}, {len(judgement.checks)} checks → {judgement.verdict.value}"
            )
        evidence, judgement = confirm(run, prep, evidence, judgement)  # when a block needs it
        write_judgement(run.result, judgement)
        if base is not None:
            run.result.comparison = _comparison(prep.policy, base, run.result)
        elif plan.fresh:
            run.warn("no baseline: only absolute SLOs were judged")
    except CAUGHT as e:
        record_error(run.result, e)
    return finish(run)


def plan_check(run: Run, prep: Prepared, config_path: Path) -> CheckPlan:
    """Decide where the evidence comes from; exit 2 when a needed baseline is missing."""
    cfg, policy = prep.cfg, prep.policy
    ab_dir = cfg.baseline.model_dir
    if ab_dir is None and cfg.baseline.ab_from_store:
        ab_dir, why = model_dir_from_store(cfg.baseline.store, cfg.model.name)
        if ab_dir is None:
            run.warn(f"live A/B not possible ({why}); stored baseline used")
    with run.stage("baseline") as st:
        stored = tuple(find_baselines(cfg.baseline.store, cfg.model.name))
        if ab_dir is not None and _ab_alone(run, prep, bool(stored), config_path):
            st.detail = f"live A/B against {ab_dir}"
            return CheckPlan(ab_dir, fresh=False)
        if not stored:
            if acc_stage.needs_baseline(policy, prep.accuracy is not None):
                raise ConfigError(
                    f"no baseline for model '{cfg.model.name}' in {cfg.baseline.store}",
                    hint=f"record one first: gate baseline record {config_path}",
                )
            st.detail = "none: only absolute SLOs are judged (a new model)"
            return CheckPlan(ab_dir)
        require_samples_in_store(policy, stored, config_path, cfg.load.describe())
        st.detail = str(cfg.baseline.store)
        return CheckPlan(ab_dir, stored)


def _ab_alone(run: Run, prep: Prepared, stored: bool, config_path: Path) -> bool:
    """Whether live A/B is the whole evidence: no eval set, and no memory or throughput
    check that a stored baseline could judge (they are skipped, with a warning, without
    one)."""
    resources = prep.policy.memory.enabled or prep.policy.throughput.enabled
    if prep.accuracy is not None:
        return False
    if resources and not stored:
        run.warn(
            "memory and throughput were not judged: they need a stored baseline "
            f"(gate baseline record {config_path}); latency was judged live A/B"
        )
    return not (resources and stored)


def collect(
    run: Run, prep: Prepared, plan: CheckPlan, config_path: Path, allow_env_mismatch: bool
) -> tuple[Evidence, Baseline | None]:
    """Measure what the plan asks for; the evidence, and the stored baseline if one is used."""
    result = run.result
    ab = None
    if plan.ab_dir is not None:
        live = measure_ab(run, prep, config_path, plan.ab_dir)
        ab, result.ab = live.info, live.info
        result.runs, result.environment = [live.candidate], dict(live.environment)
        if result.model and ab.baseline_digest == result.model.digest:
            run.warn("the candidate model is byte-identical to the baseline model (A/A)")
        if not plan.fresh:
            return Evidence(candidate=Samples(runs=(live.candidate,)), ab=ab), None
    # the stored baseline is matched on these runs' fingerprint (as `baseline record`
    # writes it), not the A/B server's
    measured = measure_runs(run, prep, prep.cfg.measure.runs, label="candidate")
    measured.write_to(result)
    if not plan.stored:
        return Evidence(candidate=measured.samples, ab=ab), None
    with run.stage("baseline match") as st:
        base, path = match_baseline(
            run, prep, config_path, measured, allow_env_mismatch=allow_env_mismatch
        )
        st.detail = str(path)
    evidence = Evidence(
        candidate=measured.samples,
        baseline=baseline_samples(base),
        baseline_where=str(path),
        ab=ab,
    )
    return evidence, base


def write_judgement(result: RunResult, judgement: Judgement) -> None:
    """The judge's values into the run's record (the judge itself writes nothing)."""
    result.checks = list(judgement.checks)
    result.verdict = judgement.verdict
    result.warnings.extend(judgement.warnings)
    result.slo.update(judgement.slo)


def _comparison(policy: Policy, base: Baseline, result: RunResult) -> Comparison | None:
    """The baseline's samples and percentile ratios the HTML report draws (never fatal)."""
    from gate.judge.comparison import (
        accuracy_class_changes,
        accuracy_deltas,
        build_comparison,
    )

    try:
        comparison = build_comparison(
            [r.latencies_us for r in base.runs],
            [r.latencies_us for r in result.runs],
            alpha=policy.alpha,
            resamples=policy.latency.bootstrap_resamples,
            seed=policy.seed,
        )
    except (ValueError, ArithmeticError) as e:
        result.warnings.append(f"the report's latency comparison could not be computed: {e}")
        return None
    if base.accuracy and result.accuracy:
        with contextlib.suppress(ValueError, TypeError):  # a figure must never cost the run
            comparison.accuracy_deltas = accuracy_deltas(base.accuracy, result.accuracy)
        with contextlib.suppress(ValueError, TypeError):
            comparison.accuracy_classes = accuracy_class_changes(base.accuracy, result.accuracy)
    return comparison
