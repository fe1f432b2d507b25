"""Whether a stored baseline holds the samples the policy's checks need (exit 2 if not)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gate.config import Policy
from gate.errors import ConfigError
from gate.measure.samples import MemoryRun, ThroughputRun


def require_samples(
    policy: Policy,
    *,
    baseline_path: Path,
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
            raise ConfigError(
                f"{baseline_path}: field 'memory': the baseline has no memory samples and the "
                "policy judges memory",
                hint=fix + " (or set memory.enabled: false in the policy)",
            )
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
            raise ConfigError(
                f"{baseline_path}: field 'throughput': the baseline has no throughput samples "
                "and the policy judges throughput",
                hint=fix + " (or set throughput.enabled: false in the policy)",
            )
        have = set.intersection(*({lv.concurrency for lv in r.levels} for r in base_throughput))
        missing = [c for c in policy.throughput.concurrency if c not in have]
        if missing:
            raise ConfigError(
                f"{baseline_path}: field 'throughput': the baseline has no windows at "
                f"concurrency {', '.join(map(str, missing))} (it has "
                f"{', '.join(map(str, sorted(have))) or 'none'})",
                hint=fix,
            )
