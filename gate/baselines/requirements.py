"""Whether a stored baseline holds the samples the policy's checks need (exit 2 if not)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gate.config.policy import Policy
from gate.errors import ConfigError
from gate.evidence import MemoryRun, ThroughputRun


def require_samples(
    policy: Policy,
    *,
    baseline_path: Path | str,
    config_path: Path,
    base_memory: Sequence[MemoryRun],
    base_throughput: Sequence[ThroughputRun],
    cand_memory: Sequence[MemoryRun] = (),
) -> None:
    """Raise a one-line ConfigError naming the baseline file and the fix when it lacks
    memory or throughput samples that the policy judges (recorded by an older gate, or with
    the check disabled, or at other concurrency levels)."""
    fix = f"record the baseline again: gate baseline record {config_path}"
    if policy.memory.enabled:
        if not base_memory:
            raise _none_recorded("memory", baseline_path, fix)
        for src in policy.memory.sources:
            cand_has = bool(cand_memory) and all(src in r.series for r in cand_memory)
            base_has = all(src in r.series for r in base_memory)
            if cand_has and not base_has:
                raise ConfigError(
                    f"{baseline_path}: field 'memory': the baseline has no '{src}' memory "
                    f"samples but this run has",
                    hint=fix,
                )
    if policy.throughput.enabled:
        if not base_throughput:
            raise _none_recorded("throughput", baseline_path, fix)
        have = set.intersection(*({lv.concurrency for lv in r.levels} for r in base_throughput))
        missing = [c for c in policy.throughput.concurrency if c not in have]
        if missing:
            raise ConfigError(
                f"{baseline_path}: field 'throughput': the baseline has no windows at "
                f"concurrency {', '.join(map(str, missing))} (it has "
                f"{', '.join(map(str, sorted(have))) or 'none'})",
                hint=fix,
            )


def _none_recorded(check: str, baseline_path: Path | str, fix: str) -> ConfigError:
    """A baseline without any samples of a check the policy enables (memory, throughput)."""
    return ConfigError(
        f"{baseline_path}: field '{check}': the baseline has no {check} samples and the "
        f"policy judges {check}",
        hint=f"{fix} (or set {check}.enabled: false in the policy)",
    )


def require_samples_in_store(
    policy: Policy,
    paths: Sequence[Path | str],
    config_path: Path,
    load_label: str = "recorded",
) -> None:
    """Fail before measuring when no stored baseline of the model can be judged against:
    none replayed in this load mode, or none with the samples the policy needs (the error
    names the newest). Which baseline is used is decided after measuring."""
    from gate.baselines.store import load_baseline

    first: ConfigError | None = None
    fix = f"record the baseline again: gate baseline record {config_path}"
    for path in paths:
        b = load_baseline(path)
        base_load = b.environment.get("load", "recorded")
        try:
            if base_load != load_label:
                raise ConfigError(
                    f"{path}: field 'environment.load': the baseline was replayed with load "
                    f"'{base_load}', this run would use '{load_label}'",
                    hint=f"use the baseline's load: settings or {fix}",
                )
            require_samples(
                policy,
                baseline_path=path,
                config_path=config_path,
                base_memory=b.memory,
                base_throughput=b.throughput,
            )
            return
        except ConfigError as e:
            first = first or e
    if first is not None:
        raise first
