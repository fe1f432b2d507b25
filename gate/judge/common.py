"""Pieces the memory and throughput checks share."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from gate import stats
from gate.config.policy import Mode


def alternative(mode: Mode, *, higher_is_worse: bool) -> stats.Alternative:
    """The one-sided alternative of a check: regression tests for harm, non-inferiority for
    safety; harm is "greater" for memory and "less" for throughput."""
    harm: stats.Alternative = "greater" if higher_is_worse else "less"
    if mode is Mode.REGRESSION:
        return harm
    return "less" if harm == "greater" else "greater"


def run_level(
    cand_levels: ArrayLike,
    base_levels: ArrayLike,
    margin: float,
    alpha: float,
    alt: stats.Alternative,
) -> stats.RunLevelTest:
    """Drift-aware test on run levels (one number per run), as the latency judge does."""
    lc = np.asarray(cand_levels, dtype=np.float64)
    lb = np.asarray(base_levels, dtype=np.float64)
    cb = lc[:, None] - lb[None, :]
    bb = lb[:, None] - lb[None, :]
    cc = lc[:, None] - lc[None, :]
    return stats.pairwise_run_test(cb, bb, margin, alpha, alt, cc)
