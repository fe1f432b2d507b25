"""Checks of a run's inputs that must hold before any server starts (bad input is exit 2).

A problem found after a server started costs minutes and reads as an infrastructure failure
(exit 3, "worth a retry"); found here it costs nothing and names the file, the field and the
fix. Each check is a plain function of the configuration and what ``prepare`` already read,
so whoever orders the run's stages calls them where they fit; today
``gate.app.prepare.prepare`` does.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gate.baselines.backend import open_store
from gate.baselines.store import current_keys, read_baseline
from gate.config.config import GateConfig
from gate.config.policy import Policy
from gate.errors import ConfigError, InputError

#: what an executable file starts with: an ELF binary or a script's ``#!`` line
_MAGIC = (b"\x7fELF", b"#!")


def check_executable(path: Path | None, field: str, config_path: Path) -> None:
    """A configured tool (``launcher.tritonserver``, ``measure.perf_analyzer``) must be an
    executable file: a regular file, with the execute bit, starting as a binary or a script
    does. A text file or a folder there is the user's to fix (exit 2), not worth a retry."""
    if path is None:
        return
    where = f"{config_path}: field '{field}'"
    fix = "point it at the executable, or remove the key to use PATH / the embedded one"
    try:
        st = path.stat()
    except OSError as e:
        raise ConfigError(f"{where}: {path}: {e.strerror or e}", hint=fix) from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{where}: {path} is not a file", hint=fix)
    if not os.access(path, os.X_OK):
        raise ConfigError(f"{where}: {path} is not executable (no execute permission)", hint=fix)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as e:
        raise ConfigError(f"{where}: {path}: cannot read: {e.strerror or e}", hint=fix) from None
    if not head.startswith(_MAGIC):
        raise ConfigError(
            f"{where}: {path} is not an executable program (neither a binary nor a #! script)",
            hint=fix,
        )


def check_input_file(path: Path, field: str, config_path: Path) -> None:
    """A data file the run reads (traffic, eval set) must be a regular file: a folder or a
    FIFO (which would block the run forever) is named here."""
    if path.exists() and not path.is_file():
        raise ConfigError(
            f"{config_path}: field '{field}': {path} is not a regular file",
            hint="point it at the file itself",
        )


def check_reports_dir(path: Path, config_path: Path) -> None:
    """The reports folder is a folder, or can become one: a file in its place (or on its
    way) is the user's to fix, now rather than after measuring. A read-only or full disk is
    not judged here: that is infrastructure, and the run keeps its record in $TMPDIR."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise ConfigError(
                    f"{config_path}: field 'reports.dir': {p} is a file, so {path} cannot be "
                    "a folder",
                    hint="point reports.dir (or --report-dir) at a folder",
                )
            return


def check_judges_something(policy: Policy, policy_path: Path | None, *, eval_set: bool) -> None:
    """``gate check`` with a policy that judges nothing would measure for minutes and then end
    in ERROR (no check judged): refuse it now."""
    acc = policy.accuracy
    judged = (
        policy.latency.shift.enabled
        or any(t.enabled for t in policy.latency.tails)
        or policy.memory.enabled
        or policy.throughput.enabled
        or bool(policy.slo.objectives)
        or (
            eval_set
            and acc.enabled
            and (acc.checks is None or any(c.enabled for c in acc.checks) or acc.min_accuracy)
        )
        or (eval_set and policy.agreement.enabled)
    )
    if not judged:
        where = str(policy_path) if policy_path else "the built-in default policy"
        raise ConfigError(
            f"{where}: every check is disabled, so a run would judge nothing",
            hint="enable at least one check (e.g. latency.shift.enabled: true) or add an "
            "slo.objectives entry",
        )


def check_store(cfg: GateConfig, config_path: Path, *, judge: bool) -> None:
    """The store's layout for this model (the store, ``<model>/`` and ``history/`` are
    folders), and, when the run will ``judge``, every current baseline of the model read and
    checked against its claims: a damaged or misplaced file is exit 2 now, not after
    measuring."""
    store = open_store(cfg.baseline.store)
    model = cfg.model.name
    keys = current_keys(store, model)
    store.files(f"{model}/history")
    if judge:
        for key in keys:
            read_baseline(store, key)


def check_baseline_matches(
    cfg: GateConfig,
    config_path: Path,
    *,
    traffic_digest: str,
    eval_digest: str | None,
) -> None:
    """Before measuring: some current baseline of the model was recorded with this traffic
    (and, when accuracy is judged, scored on this eval set); the one chosen after measuring
    is checked again. No baseline at all is left to the caller (SLO-only runs need none)."""
    store = open_store(cfg.baseline.store)
    baselines = [(k, read_baseline(store, k)) for k in current_keys(store, cfg.model.name)]
    # only those replayed in this run's load mode (another mode sends other traffic, and the
    # baseline stage says so by name, see gate.baselines.requirements)
    label = cfg.load.describe()
    baselines = [(k, b) for k, b in baselines if b.environment.get("load", "recorded") == label]
    if not baselines:
        return
    fix = f"record the baseline again: gate baseline record {config_path}"
    if not any(b.traffic_digest == traffic_digest for _, b in baselines):
        key, b = baselines[0]
        raise InputError(
            f"{store.locate(key)}: field 'traffic_digest': the baseline was recorded with other "
            f"traffic ({b.traffic_digest[:19]}…, now {traffic_digest[:19]}…)",
            hint=fix,
        )
    scored = [(k, b.accuracy) for k, b in baselines if b.accuracy is not None]
    if (
        eval_digest is not None
        and scored
        and not any(a.eval_set_digest == eval_digest for _, a in scored)
    ):
        key, acc = scored[0]
        raise InputError(
            f"{store.locate(key)}: field 'accuracy.eval_set_digest': the baseline was "
            f"scored on another eval set ({acc.eval_set_digest[:19]}…, now "
            f"{eval_digest[:19]}…)",
            hint=fix.replace("again", "again with this eval set"),
        )
