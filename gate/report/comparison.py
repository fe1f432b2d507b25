"""The paired samples the HTML report plots, read back from a ``RunResult`` alone.

The comparison itself (``gate.judge.comparison``) is computed where the baseline is loaded;
this module only lines its thinned baseline latencies up with the candidate's runs.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from gate.result import RunResult

FloatArray = npt.NDArray[np.float64]


class PairedSamples:
    """Baseline and candidate latencies at the same request indices, as arrays for plots."""

    def __init__(self, baseline: FloatArray, candidate: FloatArray) -> None:
        self.baseline = baseline  # K × n
        self.candidate = candidate  # M × n

    @property
    def log_ratios(self) -> FloatArray:
        """Per request, ln(median candidate run / median baseline run): the paired shift.

        The median over runs is taken on each side first, so every request counts once;
        with one run per side it is plainly ``ln(c_i / b_i)``.
        """
        return np.asarray(
            np.log(np.median(self.candidate, axis=0)) - np.log(np.median(self.baseline, axis=0)),
            dtype=np.float64,
        )


def paired_samples(result: RunResult) -> PairedSamples | None:
    """The candidate's runs and the stored baseline at the same (thinned) request indices.

    ``None`` when the run holds no baseline samples or they do not line up with the runs.
    """
    comp = result.comparison
    if comp is None or not comp.baseline_latencies_us or not result.runs:
        return None
    if any(len(r.latencies_us) != comp.requests for r in result.runs):
        return None
    b = np.asarray(comp.baseline_latencies_us, dtype=np.float64)
    c = np.asarray([r.latencies_us for r in result.runs], dtype=np.float64)
    if comp.indices:
        c = c[:, comp.indices]
    if b.shape[1] != c.shape[1] or b.size == 0:
        return None
    keep = np.all(np.isfinite(b) & (b > 0), axis=0) & np.all(np.isfinite(c) & (c > 0), axis=0)
    if not keep.any():
        return None
    return PairedSamples(b[:, keep], c[:, keep])


def tolerance_for(result: RunResult, metric: str) -> float | None:
    """The tolerance of the check measuring ``metric`` (e.g. ``latency.p95``), if any."""
    for check in result.checks:
        tol = check.tolerance
        if check.metric == metric and tol is not None and math.isfinite(tol):
            return tol
    return None
