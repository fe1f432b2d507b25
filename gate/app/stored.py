"""The stored baseline a check is judged against: chosen, proven comparable, referenced.

A baseline compares with a run only when both replayed the same traffic in the same load mode
in the same environment (the fingerprint's hard keys); each mismatch is exit 2 naming the
baseline file and the fix, except an environment mismatch under ``--allow-env-mismatch``,
which is recorded in the result and warned about instead.
"""

from __future__ import annotations

from pathlib import Path

from gate.app.prepare import Prepared
from gate.app.replays import Measured
from gate.app.run import Run
from gate.baselines.requirements import require_samples
from gate.baselines.store import Baseline, env_changes, env_mismatch_error, select_baseline
from gate.errors import ConfigError
from gate.evidence import Samples
from gate.result import BaselineRef


def baseline_ref(b: Baseline, path: Path | str) -> BaselineRef:
    """What a run records of the baseline it was judged against (or recorded as)."""
    return BaselineRef(
        path=str(path),
        recorded_at=b.recorded_at,
        runs=len(b.runs),
        model_digest=b.model_digest,
        traffic_digest=b.traffic_digest,
        git_commit=b.git_commit,
    )


def baseline_samples(b: Baseline) -> Samples:
    return Samples(tuple(b.runs), tuple(b.memory), tuple(b.throughput), b.accuracy)


def match_baseline(
    run: Run, prep: Prepared, config_path: Path, cand: Measured, *, allow_env_mismatch: bool
) -> tuple[Baseline, Path | str]:
    """The stored baseline of this environment (or the closest, when allowed), checked to
    be comparable with the candidate's runs and to hold what the policy judges."""
    cfg, result = prep.cfg, run.result
    base, path, diffs = select_baseline(cfg.baseline.store, cfg.model.name, cand.environment)
    base_load = base.environment.get("load", "recorded")
    if base_load != cfg.load.describe():
        raise ConfigError(
            f"{path}: field 'environment.load': the baseline was replayed with load "
            f"'{base_load}', this run with '{cfg.load.describe()}'",
            hint=f"use the baseline's load mode or record again: gate baseline record "
            f"{config_path}",
        )
    assert result.traffic is not None  # prepared before anything is measured
    digest = result.traffic.digest
    if base.traffic_digest != digest:
        raise ConfigError(
            f"{path}: field 'traffic_digest': the baseline was recorded with other "
            f"traffic ({base.traffic_digest[:19]}…, now {digest[:19]}…)",
            hint=f"record the baseline again: gate baseline record {config_path}",
        )
    if diffs:
        changes = env_changes(base.environment, cand.environment)
        if not allow_env_mismatch:
            raise env_mismatch_error(str(path), changes, str(config_path))
        result.baseline_env_mismatch = changes
        run.warn(
            "--allow-env-mismatch: the baseline was measured in another environment ("
            + "; ".join(changes)
            + "); latency differences may come from the machine, not the model"
        )
    require_samples(
        prep.policy,
        baseline_path=path,
        config_path=config_path,
        base_memory=base.memory,
        base_throughput=base.throughput,
        cand_memory=cand.memory,
    )
    result.baseline = baseline_ref(base, path)
    if result.model and base.model_digest == result.model.digest:
        run.warn("the candidate model is byte-identical to the baseline model (A/A)")
    return base, path
