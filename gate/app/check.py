"""``gate check``: plan where the evidence comes from, sample it until it decides, judge it.

1. **Plan** (``plan_check``, before any server starts): live A/B when the baseline model is
   at hand (``prepare`` found and verified it: ``baseline.model_dir``, or the stored
   baseline's folder with ``baseline.ab_from_store``): then every check is paired in one
   server and no stored baseline is needed. Otherwise the stored baseline, when something
   needs it; none when the policy judges only absolute objectives (a new model). A check
   that needs a baseline the store lacks is exit 2 here, before any server starts.
2. **Evidence**, sampled until it decides: the live A/B session
   (``gate.app.live_ab.measure_ab``: rounds in one server, a look after each), or candidate
   runs on fresh servers added one at a time against the stored runs (a look after each).
   Both stop when every gating check is decided, when one fails, or at the budget
   (``ab.max_duration_s``, ``ab.max_requests``).
3. **Judge**: ``gate.judge.families.judge(policy, evidence)``, the same pure function the
   looks used; its checks, verdict, warnings and objective values are written into the
   result here, once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from gate.app import accuracy as acc_stage
from gate.app.confirm import confirmation_warning, judge_again, replay_more, session_failures
from gate.app.live_ab import measure_ab
from gate.app.prepare import Prepared, prepare
from gate.app.replays import FreshRuns, Measured
from gate.app.run import CAUGHT, Progress, Run, finish, new_run, quiet, record_error
from gate.app.stored import baseline_samples, match_baseline
from gate.baselines.requirements import require_samples_in_store
from gate.baselines.store import Baseline, find_baselines
from gate.config.config import GateConfig
from gate.config.policy import Policy
from gate.errors import ConfigError
from gate.evidence import Evidence, Sampling, SamplingLook
from gate.judge.design import stop_reason
from gate.judge.families import Judgement, judge
from gate.result import CheckStatus, Comparison, RunResult


class LatencyFrom(str, Enum):
    """Where the comparison comes from."""

    LIVE_AB = "live A/B"
    STORED = "stored baseline"
    NONE = "none"


@dataclass(frozen=True)
class CheckPlan:
    """Where the evidence comes from, decided once before anything is measured.

    ``ab_dir``: the baseline model for a live A/B session (None: no live A/B). ``stored``:
    the stored baselines to judge against (empty: none is used).
    """

    ab_dir: Path | None
    stored: tuple[Path | str, ...] = ()

    @property
    def latency(self) -> LatencyFrom:
        if self.ab_dir is not None:
            return LatencyFrom.LIVE_AB
        return LatencyFrom.STORED if self.stored else LatencyFrom.NONE

    @property
    def fresh(self) -> bool:
        """Whether the candidate is replayed on fresh servers (everything but live A/B)."""
        return self.ab_dir is None


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

    The stored baseline recorded in this environment is chosen; if only baselines of other
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
            write_judgement(run.result, judgement)
            _explain_floor(run, plan, judgement)
            run.result.comparison = _comparison(prep.policy, base, evidence, run.result)
            if plan.latency is LatencyFrom.NONE:
                run.warn("no baseline: only absolute SLOs were judged")
            st.detail = (
                f"{plan.latency.value}, {len(judgement.checks)} checks → {judgement.verdict.value}"
            )
    except CAUGHT as e:
        record_error(run.result, e)
    return finish(run)


def plan_check(run: Run, prep: Prepared, config_path: Path) -> CheckPlan:
    """Decide where the evidence comes from; exit 2 when a needed baseline is missing."""
    cfg, policy = prep.cfg, prep.policy
    with run.stage("baseline") as st:
        if prep.baseline_model is not None:
            st.detail = f"live A/B against {prep.baseline_model}"
            return CheckPlan(prep.baseline_model)
        stored = tuple(find_baselines(cfg.baseline.store, cfg.model.name))
        if not stored:
            if acc_stage.needs_baseline(policy, prep.accuracy is not None):
                raise ConfigError(
                    f"no baseline for model '{cfg.model.name}' in {cfg.baseline.store}",
                    hint=f"record one first (gate baseline record {config_path}), or set "
                    "baseline.model_dir to the baseline model for live A/B",
                )
            st.detail = "none: only absolute SLOs are judged (a new model)"
            return CheckPlan(None)
        require_samples_in_store(policy, stored, config_path, cfg.load.describe())
        st.detail = str(cfg.baseline.store)
        return CheckPlan(None, stored)


def collect(
    run: Run, prep: Prepared, plan: CheckPlan, config_path: Path, allow_env_mismatch: bool
) -> tuple[Evidence, Baseline | None]:
    """Sample what the plan asks for until it decides; the evidence, and the stored
    baseline if one is used."""
    result = run.result
    if plan.ab_dir is not None:
        live = measure_ab(run, prep, plan.ab_dir)
        result.ab, result.sampling = live.info, live.sampling
        # no latency measured (blocked on accuracy before the first round): no run to draw
        result.runs = [live.candidate] if live.candidate.latencies_us else []
        result.accuracy = live.accuracy
        result.environment = dict(live.environment)
        if result.model and live.info.baseline_digest == result.model.digest:
            run.warn("the candidate model is byte-identical to the baseline model (A/A)")
        return live.evidence, None
    return _stored(run, prep, plan, config_path, allow_env_mismatch)


def _stored(
    run: Run, prep: Prepared, plan: CheckPlan, config_path: Path, allow_env_mismatch: bool
) -> tuple[Evidence, Baseline | None]:
    """Candidate runs on fresh servers, one more after each look, against the stored runs;
    a session-level failure confirmed on more fresh servers (``gate.app.confirm``)."""
    policy = prep.policy
    with FreshRuns(run, prep, label="candidate") as fresh:
        t0 = time.monotonic()
        for _ in range(prep.cfg.measure.runs):
            fresh.add()
        measured = fresh.measured()
        if not plan.stored:
            measured.write_to(run.result)
            return Evidence(candidate=measured.samples), None
        # the stored baseline is matched on these runs' fingerprint (as `baseline record`
        # writes it)
        with run.stage("baseline match") as st:
            base, path = match_baseline(
                run, prep, config_path, measured, allow_env_mismatch=allow_env_mismatch
            )
            st.detail = str(path)
        ab = policy.ab
        evidence = Evidence(
            candidate=measured.samples,
            baseline=baseline_samples(base),
            baseline_where=str(path),
            sampling=Sampling(
                mode="stored",
                max_duration_s=ab.max_duration_s,
                max_requests=ab.max_requests,
                rho=ab.rho,
            ),
        )

        def look(measured: Measured) -> SamplingLook:
            return _look(measured, fresh.seconds, time.monotonic() - t0, policy)

        measured, evidence, judgement = _sample(fresh, measured, evidence, look, policy)
        failed = session_failures(evidence, judgement)
        extra = prep.cfg.measure.confirm_runs
        if evidence.sampling and evidence.sampling.stopped == "blocked" and failed and extra:
            first = len(measured.runs)
            more = replay_more(run, fresh, failed, extra)
            if more is not None:
                measured = more
                with run.stage("judge again") as st:
                    evidence, again = judge_again(
                        policy, replace(evidence, candidate=more.samples), look(more)
                    )
                    st.detail = f"{len(more.runs)} candidate runs → {again.verdict.value}"
                run.warn(confirmation_warning(failed, first, extra, again, len(more.runs)))
    measured.write_to(run.result)
    run.result.sampling = evidence.sampling
    return evidence, base


def _sample(
    fresh: FreshRuns,
    measured: Measured,
    evidence: Evidence,
    look: Callable[[Measured], SamplingLook],
    policy: Policy,
) -> tuple[Measured, Evidence, Judgement]:
    """Look after each candidate run and add one more until the checks decide, one fails,
    or the budget is spent: the runs, the evidence (its sampling marked with why it
    stopped) and the judgement at the last look."""
    assert evidence.sampling is not None
    sampling = evidence.sampling
    while True:
        lk = look(measured)
        sampling = sampling.model_copy(update={"looks": [*sampling.looks, lk]})
        evidence = replace(evidence, candidate=measured.samples, sampling=sampling)
        judgement = judge(policy, evidence)
        stop = stop_reason(judgement.checks, lk.final)
        if stop:
            sampling = sampling.model_copy(update={"stopped": stop})
            return measured, replace(evidence, sampling=sampling), judgement
        fresh.add()
        measured = fresh.measured()


def _look(
    measured: Measured, run_seconds: list[float], seconds: float, policy: Policy
) -> SamplingLook:
    """The look after the runs measured so far: the share of the budget they used, and
    whether it is the last (one more run, as long as the last, would pass the budget)."""
    ab = policy.ab
    requests = sum(len(r.latencies_us) for r in measured.runs)
    t = min(1.0, max(seconds / ab.max_duration_s, requests / ab.max_requests))
    per_run = requests / max(1, len(measured.runs))
    final = (
        t >= 1.0
        or seconds + run_seconds[-1] > ab.max_duration_s
        or requests + per_run > ab.max_requests
    )
    return SamplingLook(
        round=len(measured.runs),
        t=round(t, 6),
        final=final,
        seconds=round(seconds, 3),
        requests=requests,
        units={"runs": len(measured.runs)},
    )


def write_judgement(result: RunResult, judgement: Judgement) -> None:
    """The judge's values into the run's record (the judge itself writes nothing)."""
    result.checks = list(judgement.checks)
    result.verdict = judgement.verdict
    result.warnings.extend(judgement.warnings)
    result.slo.update(judgement.slo)


def _explain_floor(run: Run, plan: CheckPlan, judgement: Judgement) -> None:
    """Stored mode, sampling ended by the budget: say when the baseline's few runs kept a
    check from deciding (more candidate runs cannot shrink the interval below what K
    allows). A check left undecided because another one failed first needs no such word."""
    sampling = run.result.sampling
    if plan.latency is not LatencyFrom.STORED or sampling is None or sampling.stopped != "budget":
        return
    for c in judgement.checks:
        floor = c.details.get("floor")
        if c.status is not CheckStatus.INCONCLUSIVE or not isinstance(floor, dict):
            continue
        k = floor.get("baseline_runs", 0)
        run.warn(
            f"{c.name}: the stored baseline has {k} runs, and run-to-run drift between fresh "
            "servers bounds what any number of candidate runs can show; record more baseline "
            "runs (gate baseline record --runs), or set baseline.model_dir for live A/B"
        )


def _comparison(
    policy: Policy, base: Baseline | None, evidence: Evidence, result: RunResult
) -> Comparison | None:
    """The baseline's samples and percentile ratios the HTML report draws (never fatal): the
    stored runs, or arm A of a live session."""
    from gate.judge.comparison import (
        accuracy_class_changes,
        accuracy_deltas,
        build_comparison,
    )

    if base is not None:
        baseline_runs = [r.latencies_us for r in base.runs]
        base_acc = base.accuracy
    elif evidence.ab is not None and evidence.ab.latencies_a_us:
        baseline_runs = [evidence.ab.latencies_a_us]
        base_acc = evidence.ab.accuracy_a
    else:
        return None
    try:
        comparison = build_comparison(
            baseline_runs,
            [r.latencies_us for r in result.runs],
            alpha=policy.alpha,
            resamples=policy.latency.bootstrap_resamples,
            seed=policy.seed,
        )
    except (ValueError, ArithmeticError) as e:
        result.warnings.append(f"the report's latency comparison could not be computed: {e}")
        return None
    if base_acc and result.accuracy:
        with contextlib.suppress(ValueError, TypeError):  # a figure must never cost the run
            comparison.accuracy_deltas = accuracy_deltas(base_acc, result.accuracy)
        with contextlib.suppress(ValueError, TypeError):
            comparison.accuracy_classes = accuracy_class_changes(base_acc, result.accuracy)
    return comparison
