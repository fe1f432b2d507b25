"""Between runs: a drift-aware test on run-level effects.

Each stored baseline run and each candidate run gives one run-level estimate; their spread
estimates the run-to-run drift (measured here: several percent between freshly started
servers, more than the noise inside a run), and a t-test on run levels asks whether the
candidate is beyond the tolerance *and* beyond that drift. Cost is O(runs²), nothing to
speed up; a sequential look recomputes it from the per-pair estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from gate.stats.common import Alternative


@dataclass(frozen=True)
class RunLevelTest:
    """Candidate-vs-baseline shift on run level, with the drift between runs as its noise."""

    estimate: float  # mean candidate-vs-baseline shift (log scale)
    ci_low: float
    ci_high: float
    p_value: float
    sd_run: float  # run-to-run standard deviation of the level (log scale)
    se: float
    df: int


def pairwise_run_test(
    cand_vs_base: ArrayLike,
    base_vs_base: ArrayLike,
    margin: float,
    alpha: float,
    alternative: Alternative,
    cand_vs_cand: ArrayLike | None = None,
) -> RunLevelTest:
    """Pooled two-sample t-test on run levels, from pairwise run comparisons.

    Each run r has an unknown level L_r (its drift). ``cand_vs_base[c, k]`` estimates
    L_c − L_k, ``base_vs_base[j, k]`` estimates L_j − L_k (only j < k is read), and likewise
    ``cand_vs_cand``. Comparing runs pairwise keeps every comparison symmetric under H0
    (two runs of the same model are exchangeable), with no reference run that is special.
    When the pairwise values are exact differences of levels, the result equals
    ``scipy.stats.ttest_ind(cand_levels, base_levels + margin, equal_var=True)``.
    """
    from scipy.stats import t as t_dist

    cb = np.atleast_2d(np.asarray(cand_vs_base, dtype=np.float64))
    bb = np.atleast_2d(np.asarray(base_vs_base, dtype=np.float64))
    m_runs, k_runs = cb.shape
    if bb.shape != (k_runs, k_runs):
        raise ValueError("base_vs_base must be K x K")
    if k_runs < 2:
        raise ValueError("at least two baseline runs are needed to estimate run-to-run drift")
    ss = float(np.sum(np.triu(bb, 1) ** 2)) / k_runs
    df = k_runs - 1
    if cand_vs_cand is not None and m_runs > 1:
        cc = np.atleast_2d(np.asarray(cand_vs_cand, dtype=np.float64))
        ss += float(np.sum(np.triu(cc, 1) ** 2)) / m_runs
        df += m_runs - 1
    sd = math.sqrt(ss / df)
    se = sd * math.sqrt(1.0 / k_runs + 1.0 / m_runs)
    est = float(np.mean(cb))
    tcrit = float(t_dist.ppf(1 - alpha, df))
    if se == 0.0:
        exceeds = est > margin if alternative == "greater" else est < margin
        p = 0.0 if exceeds else 1.0
    else:
        tstat = (est - margin) / se
        p = (
            float(t_dist.sf(tstat, df))
            if alternative == "greater"
            else float(t_dist.cdf(tstat, df))
        )
    return RunLevelTest(
        estimate=est,
        ci_low=est - tcrit * se,
        ci_high=est + tcrit * se,
        p_value=p,
        sd_run=sd,
        se=se,
        df=df,
    )
