"""The baseline model of a live A/B check, found and verified before any server starts.

Live A/B loads the baseline model (arm A) beside the candidate (arm B) in one server. The
baseline model is code like the candidate, so it is resolved and its signatures verified in
``prepare``, with the candidate's, before the first server starts: a missing folder is exit 2
and an unsigned file BLOCKED without a server ever reading it.

Where it comes from: ``baseline.model_dir`` (the target branch's checkout in CI), else with
``baseline.ab_from_store`` the folder the stored baseline was recorded from, when its files
still hash to the stored model digest (else the check falls back to the stored baseline, with
a warning).
"""

from __future__ import annotations

from pathlib import Path

from gate.app.run import Run
from gate.config.config import GateConfig
from gate.config.policy import Policy
from gate.inputs.model import model_digest, resolve_baseline_model


def model_dir_from_store(store: str | Path, name: str) -> tuple[Path | None, str]:
    """The stored baseline's model folder when it is still there unchanged, else a reason.

    A baseline records the repository it was measured from and the model's digest; when
    that folder still hashes to the digest, it *is* the baseline model and live A/B can use
    it (``baseline.ab_from_store``).
    """
    from gate.baselines.store import select_baseline

    base, path, _ = select_baseline(store, name, None)
    folder = Path(base.model_repository) / name
    if not folder.is_dir():
        return None, f"{path}: the baseline's model folder {folder} is gone"
    if model_digest(folder) != base.model_digest:
        return None, f"{path}: {folder} has changed since the baseline was recorded"
    return folder, ""


def find_baseline_model(run: Run, cfg: GateConfig, config_path: Path) -> Path | None:
    """The baseline model's folder for live A/B, or None (no baseline model at hand).

    ConfigError (exit 2) when ``baseline.model_dir`` names no model."""
    if cfg.baseline.model_dir is not None:
        return resolve_baseline_model(cfg.baseline.model_dir, cfg.model.name, str(config_path))
    if not cfg.baseline.ab_from_store:
        return None
    from gate.errors import ConfigError

    try:
        folder, why = model_dir_from_store(cfg.baseline.store, cfg.model.name)
    except ConfigError as e:  # no stored baseline at all
        folder, why = None, e.message
    if folder is None:
        run.warn(f"live A/B not possible ({why}); stored baseline used")
    return folder


def verify_baseline_model(
    run: Run, cfg: GateConfig, config_path: Path, policy: Policy, base_model: Path
) -> None:
    """The baseline model is code too: verified by the same policy before it is loaded.

    Nothing to do when the run verifies no signatures (``signatures.enabled: false``: the
    candidate's stage has already warned)."""
    if run.result.signatures is None:
        return
    from gate.signing.interface import SignaturesBlocked
    from gate.signing.stage import verify_for_run

    with run.stage("signatures (baseline model)") as st:
        try:
            _, warns, st.detail = verify_for_run(cfg, config_path, policy, cfg.policy, base_model)
        except SignaturesBlocked as e:
            e.message = f"baseline model {base_model}: {e.message}"
            raise
        run.warn(*(f"baseline model: {w}" for w in warns))
