"""Orchestration of one gate run: config → tools → traffic → servers → replay → judge → reports.

Every stage is timed into the ``RunResult``; whatever stops the run (bad input, a server that
does not start, perf_analyzer hanging past its retries, Ctrl-C) is recorded as the run's
error and the reports are still written. Servers are context managers, so teardown happens
on every path out of a stage. Library code never prints: progress goes to a callback.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gate import __version__
from gate.app import accuracy as acc_stage
from gate.app import validate
from gate.app.environment import fingerprint, git_commit
from gate.baselines.requirements import require_samples, require_samples_in_store
from gate.baselines.store import (
    Baseline,
    env_changes,
    env_mismatch_error,
    find_baselines,
    save_baseline,
    select_baseline,
)
from gate.config.config import GateConfig, check_model_dir
from gate.config.policy import Policy, load_policy
from gate.errors import ConfigError, GateError, InputError
from gate.evidence import LatencyRun
from gate.inputs.load import apply_load, replay_concurrency
from gate.inputs.model import model_digest
from gate.inputs.traffic import Traffic, read_traffic, validate_against_model
from gate.judge.latency import judge_latency
from gate.judge.memory import memory_checks
from gate.judge.resources import explain
from gate.judge.throughput import throughput_checks
from gate.measure.latency import ReplaySpec, replay
from gate.measure.memory import MemoryRecorder, server_args
from gate.measure.perf_analyzer import (
    Pace,
    retry_note,
    retry_warnings,
    write_perf_analyzer_inputs,
)
from gate.measure.throughput import ThroughputSpec, measure_throughput
from gate.result import (
    BaselineRef,
    ClassChange,
    Comparison,
    ErrorInfo,
    ModelInfo,
    RunResult,
    StageResult,
    StageStatus,
    TrafficInfo,
    Verdict,
    now_iso,
)
from gate.servers import open_server
from gate.signing.interface import SignaturesBlocked
from gate.tools import find_perf_analyzer, find_tritonserver

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: the run stops, servers are torn down, reports are still written."""


@dataclass
class Run:
    """The mutable state of one run: its RunResult and where it writes."""

    result: RunResult
    progress: Progress
    log_dir: Path

    @contextlib.contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[StageResult]:
        t0 = time.perf_counter()
        st = StageResult(name=name, status=StageStatus.OK, seconds=0.0, detail=detail)
        self.progress(f"{name}…")
        try:
            yield st
        except BaseException as e:
            st.status = StageStatus.FAILED
            msg = e.message if isinstance(e, GateError) else (str(e) or type(e).__name__)
            st.detail = (st.detail + "; " if st.detail else "") + msg
            raise
        finally:
            st.seconds = round(time.perf_counter() - t0, 4)
            self.result.stages.append(st)


def new_result(command: str, config_path: Path | None) -> RunResult:
    return RunResult(
        run_id=f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}",
        command=command,
        gate_version=__version__,
        started_at=now_iso(),
        config_path=str(config_path) if config_path else None,
    )


def record_error(result: RunResult, exc: BaseException) -> None:
    if isinstance(exc, SignaturesBlocked):
        # A verdict, not an error: the model may not be loaded (exit 1), nothing was started.
        from gate.signing.stage import blocked_check

        result.checks = [blocked_check(exc.message)]
        result.signatures = exc.result
        result.verdict = Verdict.BLOCKED
        return
    if isinstance(exc, GateError):
        result.error = ErrorInfo(
            kind=exc.kind,
            message=exc.message,
            hint=exc.hint,
            details=exc.details,
            exit_code=int(exc.exit_code),
        )
    elif isinstance(exc, Interrupted | KeyboardInterrupt):
        result.error = ErrorInfo(
            kind="Interrupted",
            message="the run was interrupted (Ctrl-C or SIGTERM); servers were stopped",
            exit_code=130,
        )
    else:
        result.error = ErrorInfo(
            kind=type(exc).__name__,
            message=f"unexpected error: {exc}",
            hint="this is a bug in gate; please report it with the RunResult JSON",
            exit_code=3,
        )
    result.verdict = Verdict.ERROR


# --------------------------------------------------------------------------------------
# Environment fingerprint
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------


@dataclass
class Prepared:
    cfg: GateConfig
    policy: Policy
    repository: Path
    model_dir: Path
    traffic: Traffic
    accuracy: acc_stage.AccuracyPlan | None = None
    served: Path | None = None  # the verified private copy the server reads (signatures)


def prepare(run: Run, cfg: GateConfig, config_path: Path, repository: Path | None) -> Prepared:
    """Everything that can be checked before a server starts (bad input is exit 2 here)."""
    with run.stage("config"):
        if repository is not None:
            cfg = cfg.model_copy(
                update={"model": cfg.model.model_copy(update={"repository": repository})}
            )
        policy = load_policy(cfg.policy)
        run.result.alpha = policy.alpha
        run.result.git_commit = git_commit(config_path.resolve().parent)
        oci_model = cfg.model.artifact is not None  # unpacked once verified, below
        option = "--model-repository" if repository is not None else ""
        model_dir = None if oci_model else check_model_dir(cfg, config_path, from_option=option)
        # everything else a person must fix, before any server starts (exit 2)
        judging = run.result.command == "check"
        # live A/B judges latency against the baseline model itself; the stored baselines'
        # traffic and eval set are then compared after measuring, where the store is used
        live_ab = cfg.baseline.model_dir is not None or cfg.baseline.ab_from_store
        if cfg.launcher.kind == "local":
            validate.check_executable(
                cfg.launcher.tritonserver, "launcher.tritonserver", config_path
            )
        validate.check_executable(cfg.measure.perf_analyzer, "measure.perf_analyzer", config_path)
        validate.check_input_file(cfg.traffic.path, "traffic.path", config_path)
        validate.check_reports_dir(run.log_dir.parent, config_path)
        if cfg.accuracy is not None:
            validate.check_input_file(cfg.accuracy.eval_set, "accuracy.eval_set", config_path)
        if judging:
            validate.check_judges_something(policy, cfg.policy, eval_set=cfg.accuracy is not None)
        if run.result.command in ("check", "baseline-record"):
            validate.check_store(cfg, config_path, judge=judging)
        run.result.model = ModelInfo(
            name=cfg.model.name,
            repository=cfg.model.artifact or str(cfg.model.repository),
            version=cfg.model.version,
            digest=model_digest(model_dir) if model_dir else "",
            artifact=cfg.model.artifact,
        )
    with run.stage("signatures") as st:
        # Before any server starts or reads the repository: a model.py is code, and so is the
        # container image (fail closed); images and oci:// models are verified by digest.
        from gate.signing.stage import signatures_for_run

        cfg, sig, warns, st.detail, served, model_dir = signatures_for_run(
            cfg, config_path, policy, model_dir
        )
        run.result.signatures = sig
        run.result.warnings.extend(warns)
        if oci_model and sig is not None:
            pinned = next((o.pinned for o in sig.oci if o.kind == "model"), None)
            run.result.model.digest = model_digest(model_dir)
            run.result.model.artifact_digest = pinned
    with run.stage("traffic"):
        traffic = apply_load(read_traffic(cfg.traffic.path), cfg.load)
        if cfg.load.duration_s is not None and cfg.load.duration_s >= cfg.measure.timeout_s:
            raise ConfigError(
                f"{config_path}: field 'load.duration_s': {cfg.load.duration_s:g}s is not below "
                f"measure.timeout_s={cfg.measure.timeout_s:g}s, so every replay would be killed",
                hint="raise measure.timeout_s above the load duration",
            )
        if len(traffic.requests) < policy.latency.min_requests:
            raise InputError(
                f"{cfg.traffic.path}: {len(traffic.requests)} requests is below the policy's "
                f"latency.min_requests={policy.latency.min_requests}",
                hint="record more traffic or lower latency.min_requests in the policy",
            )
        run.result.traffic = TrafficInfo(
            path=str(cfg.traffic.path),
            digest=traffic.digest(),
            requests=len(traffic.requests),
            duration_s=traffic.duration_s,
        )
        if run.result.command == "check" and not live_ab:
            validate.check_baseline_matches(
                cfg, config_path, traffic_digest=traffic.digest(), eval_digest=None
            )
    acc_plan = None
    if cfg.accuracy is not None or acc_stage.policy_needs_eval(policy):
        with run.stage("eval set") as st:
            acc_plan = acc_stage.plan(cfg, policy, cfg.policy)
            if acc_plan is not None and run.result.command == "check" and not live_ab:
                validate.check_baseline_matches(
                    cfg,
                    config_path,
                    traffic_digest=traffic.digest(),
                    eval_digest=acc_plan.digest
                    if acc_plan.checks or policy.agreement.enabled
                    else None,
                )
            if acc_plan is not None:
                st.detail = (
                    f"{acc_plan.evalset.size} samples ({acc_plan.evalset.kind}s); "
                    f"scores: {', '.join(acc_plan.metrics)}"
                )
    return Prepared(cfg, policy, cfg.model.repository, model_dir, traffic, acc_plan, served=served)


def measure(run: Run, prep: Prepared, runs: int, *, label: str) -> list[LatencyRun]:
    """Replay the traffic ``runs`` times, each on a freshly started server."""
    cfg = prep.cfg
    with run.stage("tools") as st:
        local = cfg.launcher.kind == "local"
        ts = find_tritonserver(cfg.launcher.tritonserver) if local else None
        pa = find_perf_analyzer(cfg.measure.perf_analyzer)
        where = f"{ts.path} ({ts.source})" if ts else f"{cfg.launcher.kind} launcher"
        st.detail = f"tritonserver {where}; perf_analyzer {pa.version} ({pa.source})"
    out: list[LatencyRun] = []
    try:
        run.log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a read-only or full reports disk must not stop the measurement
        fallback = Path(tempfile.mkdtemp(prefix="gate-logs-"))
        run.result.warnings.append(
            f"cannot create the log folder {run.log_dir} ({e.strerror}); "
            f"server logs go to {fallback}"
        )
        run.log_dir = fallback
    with tempfile.TemporaryDirectory(prefix="gate-pa-") as tmp:
        work = Path(tmp)
        pa_inputs = None
        intervals: list[int] | None = None
        pace = Pace()  # perf_analyzer's seconds per request on this model: bounds hangs
        for i in range(runs):
            log_path = run.log_dir / f"server-{label}-{i + 1}.log"
            server = open_server(
                cfg,
                ts,
                prep.served or prep.repository,
                log_path,
                run_id=run.result.run_id,
                index=i + 1,
                extra_args=server_args(prep.policy.memory),
            )
            mem: MemoryRecorder | None = None
            try:
                with run.stage(f"server start #{i + 1}"):
                    server.__enter__()
                if prep.policy.memory.enabled:
                    mem = MemoryRecorder.for_server(server, prep.policy.memory, index=i)
                    mem.before_load()
                with run.stage(f"model load #{i + 1}"):
                    server.load_model(cfg.model.name)
                    if mem is not None:
                        mem.after_load()
                    meta = server.model_metadata(cfg.model.name, cfg.model.version or "")
                    mcfg = server.model_config(cfg.model.name, cfg.model.version or "")
                    if pa_inputs is None:
                        warns = validate_against_model(
                            prep.traffic,
                            meta,
                            int(mcfg.get("max_batch_size", 0)),
                            str(cfg.traffic.path),
                        )
                        run.result.warnings.extend(warns)
                        if prep.accuracy is not None:
                            acc_stage.bind_model(prep.accuracy, meta, mcfg)
                        pa_inputs = write_perf_analyzer_inputs(
                            prep.traffic,
                            work,
                            warmup=cfg.traffic.warmup_requests,
                            max_batch_size=int(mcfg.get("max_batch_size", 0)),
                        )
                        if pa_inputs.intervals is not None:
                            intervals = [int(x) for x in pa_inputs.intervals.read_text().split()]
                    if not run.result.environment:
                        version = str(server.server_metadata().get("version", "unknown"))
                        run.result.environment = fingerprint(
                            version, pa, cfg, prep.traffic.digest()
                        )
                        run.result.environment.update(server.environment())
                        env = run.result.environment
                        if not env.get("concurrency"):  # how this replay loads the server
                            env["concurrency"] = "recorded-intervals" if intervals else "1"
                with run.stage(f"replay #{i + 1}") as st:
                    spec = ReplaySpec(
                        model=cfg.model.name,
                        version=cfg.model.version,
                        url=server.http_url if cfg.measure.protocol == "http" else server.grpc_url,
                        protocol=cfg.measure.protocol,
                        inputs=pa_inputs,
                        timeout_s=cfg.measure.timeout_s,
                        retries=cfg.measure.retries,
                        max_threads=max(cfg.measure.max_threads, replay_concurrency(cfg.load)),
                        concurrency=replay_concurrency(cfg.load),
                    )
                    try:
                        with mem.during_replay() if mem else contextlib.nullcontext():
                            lr = replay(pa, spec, work, index=i, intervals_us=intervals, pace=pace)
                    except GateError as e:
                        if not server.is_alive():
                            e.message = (
                                f"{e.message}; tritonserver died during the replay: "
                                f"{server.last_error() or 'see its log'}"
                            )
                        e.details = (e.details or "") + "\n--- server log ---\n" + server.log_tail()
                        raise
                    lr.server_log = str(log_path)
                    out.append(lr)
                    pa_info = lr.perf_analyzer
                    tries = pa_info.attempts if pa_info else 1
                    st.detail = f"{len(lr.latencies_us)} requests, {tries} attempt(s)"
                    st.detail += retry_note(pa_info.retries if pa_info else [])
                if i == 0 and prep.accuracy is not None:
                    # after the replay, in the same server: accuracy requests never overlap it
                    with run.stage("accuracy") as st:
                        rec = acc_stage.evaluate(
                            prep.accuracy,
                            cfg,
                            http_url=server.http_url,
                            grpc_url=server.grpc_url,
                            model_version=cfg.model.version or "",
                        )
                        run.result.accuracy = rec
                        st.detail = f"{rec.samples} samples in {rec.seconds:.2f} s: " + ", ".join(
                            f"{k} {v:.4g}" for k, v in rec.summary.items()
                        )
                if mem is not None:
                    run.result.memory.append(mem.result())
                if prep.policy.throughput.enabled:
                    with run.stage(f"throughput #{i + 1}") as st:
                        tspec = ThroughputSpec(
                            model=cfg.model.name,
                            version=cfg.model.version,
                            url=spec.url,
                            protocol=spec.protocol,
                            input_data=pa_inputs.input_data,
                            batch_size=pa_inputs.batch_size,
                            timeout_s=cfg.measure.timeout_s,
                            retries=cfg.measure.retries,
                            max_threads=cfg.measure.max_threads,
                        )
                        tr = measure_throughput(
                            pa, tspec, prep.policy.throughput, work, index=i, pace=pace
                        )
                        run.result.throughput.append(tr)
                        st.detail = ", ".join(
                            f"c={lv.concurrency}: {sum(lv.windows) / len(lv.windows):.0f}/s"
                            for lv in tr.levels
                        ) + retry_note([r for lv in tr.levels for r in lv.retries])
            except BaseException:
                run.result.server_log_tail = server.log_tail()
                raise
            finally:
                with run.stage(f"server stop #{i + 1}"):
                    server.stop()
    return out


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------


def _finish(run: Run) -> RunResult:
    run.result.warnings.extend(retry_warnings(run.result))
    run.result.finished_at = now_iso()
    return run.result


def _comparison(
    policy: Policy, base: list[LatencyRun], cand: list[LatencyRun], warnings: list[str]
) -> Comparison | None:
    """The baseline's samples and percentile ratios the HTML report draws (never fatal)."""
    from gate.judge.comparison import build_comparison

    try:
        return build_comparison(
            [r.latencies_us for r in base],
            [r.latencies_us for r in cand],
            alpha=policy.alpha,
            resamples=policy.latency.bootstrap_resamples,
            seed=policy.seed,
        )
    except (ValueError, ArithmeticError) as e:
        warnings.append(f"the report's latency comparison could not be computed: {e}")
        return None


def _accuracy_deltas(base: object, cand: object) -> dict[str, list[float]]:
    from gate.judge.comparison import accuracy_deltas

    try:
        return accuracy_deltas(base, cand)
    except (ValueError, TypeError):  # a report figure must never cost the run
        return {}


def _accuracy_classes(base: object, cand: object) -> list[ClassChange]:
    from gate.judge.comparison import accuracy_class_changes

    try:
        return accuracy_class_changes(base, cand)
    except (ValueError, TypeError):  # a report figure must never cost the run
        return []


def run_check(
    cfg: GateConfig,
    config_path: Path,
    *,
    repository: Path | None = None,
    progress: Progress = _quiet,
    log_dir: Path | None = None,
    allow_env_mismatch: bool = False,
) -> RunResult:
    """``gate check``: measure the candidate and judge it against the stored baseline.

    The baseline recorded in this environment is chosen; if only baselines of other
    environments exist (different GPU, driver, Triton, image…), that is exit 2 naming the
    differences, unless ``allow_env_mismatch``: then the closest one is used, and the
    differences are recorded in ``baseline_env_mismatch`` and as a warning.
    """
    result = new_result("check", config_path)
    run = Run(result, progress, log_dir or cfg.reports.dir / "logs")
    try:
        prep = prepare(run, cfg, config_path, repository)
        ab_dir = cfg.baseline.model_dir
        if ab_dir is None and cfg.baseline.ab_from_store:
            from gate.app.live_ab import model_dir_from_store

            ab_dir, why = model_dir_from_store(cfg.baseline.store, cfg.model.name)
            if ab_dir is None:
                result.warnings.append(f"live A/B not possible ({why}); stored baseline used")
        if ab_dir is not None:
            # Live A/B (gate.judge.live_ab): the baseline model itself is at hand, so latency
            # is judged in one server against it rather than against stored runs of another
            # start.
            from gate.app.live_ab import measure_ab
            from gate.judge.decide import decide_policy
            from gate.judge.live_ab import ab_checks

            result.ab = measure_ab(run, prep, config_path, ab_dir)
            if result.model and result.ab.baseline_digest == result.model.digest:
                result.warnings.append(
                    "the candidate model is byte-identical to the baseline model (A/A)"
                )
            resources = prep.policy.memory.enabled or prep.policy.throughput.enabled
            stored = bool(find_baselines(cfg.baseline.store, cfg.model.name))
            if resources and not stored and prep.accuracy is None:
                result.warnings.append(
                    "memory and throughput were not judged: they need a stored baseline "
                    f"(gate baseline record {config_path}); latency was judged live A/B"
                )
            if prep.accuracy is None and not (resources and stored):
                with run.stage("judge") as st:
                    checks = ab_checks(
                        prep.policy,
                        result.ab.latencies_a_us,
                        result.ab.latencies_b_us,
                        block_size=result.ab.block_size,
                    )
                    checks += acc_stage.extra_checks(
                        prep.policy, None, result, None, has_baseline=False, baseline_where=""
                    )
                    result.checks, result.verdict, warns = decide_policy(checks, prep.policy)
                    result.warnings.extend(warns)
                    st.detail = f"live A/B, {len(checks)} checks → {result.verdict.value}"
                return _finish(run)
            # accuracy, memory and throughput need the stored baseline's samples and a server
            # running the candidate alone: the stored-baseline flow below measures and judges
            # them, with latency from the A/B above
        with run.stage("baseline") as st:
            have_base = bool(find_baselines(cfg.baseline.store, cfg.model.name))
            if not have_base and not acc_stage.needs_baseline(
                prep.policy, prep.accuracy is not None
            ):
                st.detail = "none: only absolute SLOs are judged (a new model)"
            elif not have_base:
                raise ConfigError(
                    f"no baseline for model '{cfg.model.name}' in {cfg.baseline.store}",
                    hint=f"record one first: gate baseline record {config_path}",
                )
            else:
                require_samples_in_store(
                    prep.policy,
                    find_baselines(cfg.baseline.store, cfg.model.name),
                    config_path,
                    prep.cfg.load.describe(),
                )
                st.detail = str(cfg.baseline.store)
        if result.ab is not None:
            # the stored baseline is compared in the environment measure() fingerprints (as
            # `baseline record` does), not the A/B server's
            result.environment = {}
        runs = measure(run, prep, cfg.measure.runs, label="candidate")
        result.runs = runs
        with run.stage("judge") as st:
            if not have_base:
                extra = acc_stage.extra_checks(
                    prep.policy,
                    prep.accuracy,
                    result,
                    None,
                    has_baseline=False,
                    baseline_where="",
                )
                checks, verdict, warns = judge_latency(prep.policy, [], [], extra=extra)
                result.checks, result.verdict = checks, verdict
                result.warnings.extend(warns)
                result.warnings.append("no baseline: only absolute SLOs were judged")
                st.detail = f"{len(checks)} checks → {verdict.value}"
                return _finish(run)
            base, path, diffs = select_baseline(
                cfg.baseline.store, cfg.model.name, result.environment
            )
            assert result.traffic is not None
            base_load = base.environment.get("load", "recorded")
            if base_load != prep.cfg.load.describe():
                raise ConfigError(
                    f"{path}: field 'environment.load': the baseline was replayed with load "
                    f"'{base_load}', this run with '{prep.cfg.load.describe()}'",
                    hint=f"use the baseline's load mode or record again: gate baseline record "
                    f"{config_path}",
                )
            if base.traffic_digest != result.traffic.digest:
                raise ConfigError(
                    f"{path}: field 'traffic_digest': the baseline was recorded with other "
                    f"traffic ({base.traffic_digest[:19]}…, now {result.traffic.digest[:19]}…)",
                    hint=f"record the baseline again: gate baseline record {config_path}",
                )
            if diffs:
                changes = env_changes(base.environment, result.environment)
                if not allow_env_mismatch:
                    raise env_mismatch_error(str(path), changes, str(config_path))
                result.baseline_env_mismatch = changes
                result.warnings.append(
                    "--allow-env-mismatch: the baseline was measured in another environment ("
                    + "; ".join(changes)
                    + "); latency differences may come from the machine, not the model"
                )
            result.baseline = BaselineRef(
                path=str(path),
                recorded_at=base.recorded_at,
                runs=len(base.runs),
                model_digest=base.model_digest,
                traffic_digest=base.traffic_digest,
                git_commit=base.git_commit,
            )
            if result.model and base.model_digest == result.model.digest:
                result.warnings.append(
                    "the candidate model is byte-identical to the baseline model (A/A)"
                )
            extra = acc_stage.extra_checks(
                prep.policy,
                prep.accuracy,
                result,
                base.accuracy,
                has_baseline=True,
                baseline_where=str(path),
            )
            require_samples(
                prep.policy,
                baseline_path=path,
                config_path=config_path,
                base_memory=base.memory,
                base_throughput=base.throughput,
                cand_memory=result.memory,
            )
            mem_checks, mem_warns = memory_checks(prep.policy, base.memory, result.memory)
            tp_checks, tp_warns = throughput_checks(prep.policy, base.throughput, result.throughput)
            if result.ab is not None:  # latency from the live A/B, the rest from the store
                from gate.judge.decide import decide_policy
                from gate.judge.live_ab import ab_checks

                lat = ab_checks(
                    prep.policy,
                    result.ab.latencies_a_us,
                    result.ab.latencies_b_us,
                    block_size=result.ab.block_size,
                )
                checks, verdict, warns = decide_policy(
                    lat + list(extra) + mem_checks + tp_checks, prep.policy
                )
            else:
                checks, verdict, warns = judge_latency(
                    prep.policy,
                    [r.latencies_us for r in base.runs],
                    [r.latencies_us for r in runs],
                    extra=extra + mem_checks + tp_checks,
                )
            warns += mem_warns + tp_warns
            checks = explain(checks)
            result.checks = checks
            result.verdict = verdict
            result.warnings.extend(warns)
            result.comparison = _comparison(prep.policy, base.runs, runs, result.warnings)
            if result.comparison is not None and base.accuracy and result.accuracy:
                result.comparison.accuracy_deltas = _accuracy_deltas(base.accuracy, result.accuracy)
                result.comparison.accuracy_classes = _accuracy_classes(
                    base.accuracy, result.accuracy
                )
            st.detail = f"{len(checks)} checks → {verdict.value}"
    except (Exception, Interrupted, KeyboardInterrupt) as e:
        record_error(result, e)
    return _finish(run)


def run_replay(
    cfg: GateConfig,
    config_path: Path,
    *,
    repository: Path | None = None,
    runs: int | None = None,
    progress: Progress = _quiet,
    log_dir: Path | None = None,
) -> RunResult:
    """``gate replay``: measure only; the RunResult carries the samples, nothing is judged."""
    result = new_result("replay", config_path)
    run = Run(result, progress, log_dir or cfg.reports.dir / "logs")
    try:
        prep = prepare(run, cfg, config_path, repository)
        result.runs = measure(run, prep, runs or cfg.measure.runs, label="replay")
        result.verdict = Verdict.MEASURED
    except (Exception, Interrupted, KeyboardInterrupt) as e:
        record_error(result, e)
    return _finish(run)


def run_record(
    cfg: GateConfig,
    config_path: Path,
    *,
    repository: Path | None = None,
    runs: int | None = None,
    progress: Progress = _quiet,
    log_dir: Path | None = None,
) -> tuple[RunResult, str | None]:
    """``gate baseline record``: K replays, each on a fresh server, stored atomically."""
    result = new_result("baseline-record", config_path)
    run = Run(result, progress, log_dir or cfg.reports.dir / "logs")
    path: str | None = None
    try:
        prep = prepare(run, cfg, config_path, repository)
        k = runs or cfg.baseline.runs
        if k < prep.policy.latency.min_baseline_runs:
            raise ConfigError(
                f"--runs {k} is below the policy's latency.min_baseline_runs="
                f"{prep.policy.latency.min_baseline_runs}",
                hint="record at least that many runs: the judge needs them to see drift",
            )
        result.runs = measure(run, prep, k, label="baseline")
        with run.stage("store") as st:
            assert result.model is not None and result.traffic is not None
            b = Baseline(
                model=cfg.model.name,
                model_digest=result.model.digest,
                model_repository=(
                    f"oci://{result.model.artifact_digest}"  # the private unpack is gone later
                    if result.model.artifact_digest
                    else str(prep.repository)
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
            result.baseline = BaselineRef(
                path=str(path),
                recorded_at=b.recorded_at,
                runs=len(b.runs),
                model_digest=b.model_digest,
                traffic_digest=b.traffic_digest,
                git_commit=b.git_commit,
            )
        result.verdict = Verdict.MEASURED
    except (Exception, Interrupted, KeyboardInterrupt) as e:
        record_error(result, e)
    return _finish(run), path
