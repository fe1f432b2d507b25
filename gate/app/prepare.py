"""Everything that can be checked before a server starts: config, signatures, traffic, eval set.

Bad input is exit 2 here, before any server or perf_analyzer is started. What comes out is a
frozen ``Prepared`` around one ``ModelUnderTest``: the folder the user named (its digest and
signatures) and the repository the server will read (a verified private copy when signatures
are checked). Nothing downstream repoints it; a command that measures another model (``gate
calibrate`` on ``baseline.model_dir``) prepares that one instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gate.app import accuracy as acc_stage
from gate.app import validate
from gate.app.baseline_model import find_baseline_model, verify_baseline_model
from gate.app.environment import git_commit
from gate.app.run import Run
from gate.config.config import GateConfig, check_model_dir
from gate.config.policy import Policy, load_policy
from gate.errors import ConfigError, InputError
from gate.inputs.load import apply_load
from gate.inputs.model import model_digest
from gate.inputs.traffic import Traffic, read_traffic
from gate.result import ModelInfo, TrafficInfo


@dataclass(frozen=True)
class ModelUnderTest:
    """The model a command measures.

    ``model_dir`` is the user's folder (``<repository>/<name>``, hashed and verified);
    ``served`` is the repository the server is started on: the verified private copy when
    signatures were checked (nothing changed after verification reaches the server, and its
    bytecode never lands in the user's folder), else ``repository`` itself.
    """

    name: str
    version: str | None
    repository: Path
    model_dir: Path
    served: Path

    @property
    def served_dir(self) -> Path:
        """The model's folder inside the served repository."""
        return self.served / self.model_dir.name


@dataclass(frozen=True)
class Prepared:
    """What a command knows before any server starts."""

    cfg: GateConfig
    policy: Policy
    model: ModelUnderTest
    traffic: Traffic
    accuracy: acc_stage.AccuracyPlan | None = None
    baseline_model: Path | None = None
    """The baseline model's folder when ``gate check`` runs live A/B (resolved and verified
    here, before any server starts), else None."""

    @property
    def live(self) -> bool:
        """Whether the check is a live A/B session (a baseline model is at hand)."""
        return self.baseline_model is not None


def prepare(run: Run, cfg: GateConfig, config_path: Path, repository: Path | None) -> Prepared:
    """Config, signatures, traffic and eval set, each a timed stage (bad input: exit 2).

    ``repository`` replaces ``model.repository`` (``--model-repository``)."""
    if repository is not None:
        cfg = cfg.model_copy(
            update={"model": cfg.model.model_copy(update={"repository": repository})}
        )
    with run.stage("config"):
        policy = load_policy(cfg.policy)
        run.result.alpha = policy.alpha
        run.result.git_commit = git_commit(config_path.resolve().parent)
        oci_model = cfg.model.artifact is not None  # unpacked once verified, below
        option = "--model-repository" if repository is not None else ""
        model_dir = None if oci_model else check_model_dir(cfg, config_path, from_option=option)
        _validate(run, cfg, config_path, policy)
        run.result.model = ModelInfo(
            name=cfg.model.name,
            repository=cfg.model.artifact or str(cfg.model.repository),
            version=cfg.model.version,
            digest=model_digest(model_dir) if model_dir else "",
            artifact=cfg.model.artifact,
        )
    cfg, model = _verify_signatures(run, cfg, config_path, policy, model_dir)
    base_model = _baseline_model(run, cfg, config_path, policy)
    live = base_model is not None
    traffic = _traffic(run, cfg, config_path, policy, live=live)
    evalplan = _eval_set(run, cfg, config_path, policy, live=live)
    return Prepared(cfg, policy, model, traffic, evalplan, baseline_model=base_model)


def _baseline_model(run: Run, cfg: GateConfig, config_path: Path, policy: Policy) -> Path | None:
    """``gate check``'s baseline model for live A/B, resolved and verified like the
    candidate before any server starts (None: no baseline model at hand)."""
    if run.result.command != "check":
        return None
    with run.stage("baseline model") as st:
        base = find_baseline_model(run, cfg, config_path)
        st.detail = str(base) if base is not None else "none: stored baseline"
    if base is not None:
        verify_baseline_model(run, cfg, config_path, policy, base)
    return base


def _validate(run: Run, cfg: GateConfig, config_path: Path, policy: Policy) -> None:
    """Everything else a person must fix, before any server starts (exit 2)."""
    judging = run.result.command == "check"
    if cfg.launcher.kind == "local":
        validate.check_executable(cfg.launcher.tritonserver, "launcher.tritonserver", config_path)
    validate.check_executable(cfg.measure.perf_analyzer, "measure.perf_analyzer", config_path)
    validate.check_input_file(cfg.traffic.path, "traffic.path", config_path)
    validate.check_reports_dir(run.log_dir.parent, config_path)
    if cfg.accuracy is not None:
        validate.check_input_file(cfg.accuracy.eval_set, "accuracy.eval_set", config_path)
    if judging:
        validate.check_judges_something(policy, cfg.policy, eval_set=cfg.accuracy is not None)
    if run.result.command in ("check", "baseline-record"):
        validate.check_store(cfg, config_path, judge=judging)


def _matches_stored(run: Run, live: bool) -> bool:
    """Whether a check compares with the stored baselines' traffic and eval set up front.

    Live A/B judges every check against the baseline model itself, so the store is not
    compared (it keeps history only)."""
    return run.result.command == "check" and not live


def _verify_signatures(
    run: Run, cfg: GateConfig, config_path: Path, policy: Policy, model_dir: Path | None
) -> tuple[GateConfig, ModelUnderTest]:
    """Verify before any server starts or reads the repository: a model.py is code, and so
    is the container image (fail closed); images and ``oci://`` models are verified by
    digest. The config to run with (images pinned, an ``oci://`` model unpacked) and the
    model it serves."""
    oci_model = cfg.model.artifact is not None
    with run.stage("signatures") as st:
        from gate.signing.stage import signatures_for_run

        cfg, sig, warns, st.detail, served, model_dir = signatures_for_run(
            cfg, config_path, policy, model_dir
        )
        run.result.signatures = sig
        run.warn(*warns)
        if oci_model and sig is not None and run.result.model is not None:
            pinned = next((o.pinned for o in sig.oci if o.kind == "model"), None)
            run.result.model.digest = model_digest(model_dir)
            run.result.model.artifact_digest = pinned
    model = ModelUnderTest(
        cfg.model.name, cfg.model.version, cfg.model.repository, model_dir, served
    )
    return cfg, model


def _traffic(
    run: Run, cfg: GateConfig, config_path: Path, policy: Policy, *, live: bool
) -> Traffic:
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
        if _matches_stored(run, live):
            validate.check_baseline_matches(
                cfg, config_path, traffic_digest=run.result.traffic.digest, eval_digest=None
            )
    return traffic


def _eval_set(
    run: Run, cfg: GateConfig, config_path: Path, policy: Policy, *, live: bool
) -> acc_stage.AccuracyPlan | None:
    if cfg.accuracy is None and not acc_stage.policy_needs_eval(policy):
        return None
    with run.stage("eval set") as st:
        plan = acc_stage.plan(cfg, policy, cfg.policy)
        if plan is not None and run.result.traffic is not None and _matches_stored(run, live):
            paired = plan.checks or policy.agreement.enabled
            validate.check_baseline_matches(
                cfg,
                config_path,
                traffic_digest=run.result.traffic.digest,
                eval_digest=plan.digest if paired else None,
            )
        if plan is not None:
            st.detail = (
                f"{plan.evalset.size} samples ({plan.evalset.kind}s); "
                f"scores: {', '.join(plan.metrics)}"
            )
    return plan
