"""Distribution-free tests and estimators for paired latency samples. Pure functions, no I/O.

Two layers of evidence, because measured here (benchmarks/README.md) a whole run drifts by
several percent between freshly started servers, more than the noise inside a run:

* **within a run** — requests replayed in the same order pair by index. The log ratio
  ``r_i = ln(c_i / b_i)`` is tested against the tolerance with the Wilcoxon signed-rank test
  and estimated with Hodges–Lehmann and its distribution-free CI (``rank``, on the
  Walsh-average selection of ``walsh`` and ``walsh_search``). Tails: a percentile ratio with
  a paired bootstrap CI (``bootstrap``, reading resamples through ``weighted``).
* **between runs** — each stored baseline run and each candidate run gives one run-level
  estimate; their spread estimates the run-to-run drift, and a t-test on run levels asks
  whether the candidate is beyond the tolerance *and* beyond that drift (``runlevel``).

The judge blocks only when both layers agree (an intersection–union test: the combined p is
the larger of the two, which keeps the level at alpha). Minimum detectable effects are in
``power``, Holm's adjustment across checks in ``multiple``; ``accuracy`` and ``twosample``
hold the accuracy and unpaired (memory, throughput) statistics.

The names below are re-exported so that ``from gate import stats; stats.holm(...)`` reads
the same at every call site.
"""

from __future__ import annotations

from gate.stats.bootstrap import (
    QuantileRatioTest,
    bootstrap_quantile_ratio,
    grouped_bootstrap_quantile_ratio,
    grouped_bootstrap_quantile_ratios,
    naive_percentile_rule,
)
from gate.stats.common import Alternative, FloatArray
from gate.stats.multiple import holm
from gate.stats.power import mde_t, mde_z
from gate.stats.rank import (
    ShiftTest,
    SignedRankSum,
    batch_means,
    paired_shift_test,
    paired_shift_tests,
    signed_rank_ci,
    signed_rank_critical,
    wilcoxon_p,
)
from gate.stats.runlevel import RunLevelTest, pairwise_run_test
from gate.stats.walsh import BRUTE_FORCE_MAX_N as _BRUTE_FORCE_MAX_N
from gate.stats.walsh import WalshAverages, hodges_lehmann, walsh_kth, walsh_kths
from gate.stats.weighted import SortedRun, _weighted_quantile_rows

__all__ = [
    "_BRUTE_FORCE_MAX_N",
    "Alternative",
    "FloatArray",
    "QuantileRatioTest",
    "RunLevelTest",
    "ShiftTest",
    "SignedRankSum",
    "SortedRun",
    "WalshAverages",
    "_weighted_quantile_rows",
    "batch_means",
    "bootstrap_quantile_ratio",
    "grouped_bootstrap_quantile_ratio",
    "grouped_bootstrap_quantile_ratios",
    "hodges_lehmann",
    "holm",
    "mde_t",
    "mde_z",
    "naive_percentile_rule",
    "paired_shift_test",
    "paired_shift_tests",
    "pairwise_run_test",
    "signed_rank_ci",
    "signed_rank_critical",
    "walsh_kth",
    "walsh_kths",
    "wilcoxon_p",
]
