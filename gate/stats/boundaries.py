"""Exact one-sided group-sequential boundaries from an alpha-spending sequence.

A statistic looked at K times as data accrue, ``Z_k = S_k / sqrt(I_k)`` where ``S_k`` is a sum
of independent increments with variance ``I_k`` (the information: e.g. the number of
independent units averaged so far), has the *canonical joint distribution*: ``Z_k`` is
standard normal under the null and ``corr(Z_j, Z_k) = sqrt(I_j / I_k)``. Given how much of the
error rate each look may spend, the boundary ``c_k`` of look ``k`` solves

    P(Z_1 < c_1, ..., Z_{k-1} < c_{k-1}, Z_k >= c_k) = spent_k

so that the chance of ever crossing is the total spent, **exactly** (Lan & DeMets 1983),
however many looks there are. A Bonferroni split (each look tested at its own share) is
valid for any dependence but ignores that consecutive looks share most of their data: with
ten looks its last one tests at a tenth or less of the error rate, where the exact boundary
keeps most of it.

The probabilities are computed by the recursive numerical integration of Armitage, McPherson
& Rowe (1969) (Jennison & Turnbull, *Group Sequential Methods*, 2000, ch. 19): the
sub-density of ``S_k`` on the continuation region is carried from look to look by a
convolution with the increment's normal density, on a grid, with Simpson weights. Only the
looks seen so far enter, so a boundary can be computed at each look as the data arrive
(Lan–DeMets) and recomputed later from the same record (a saved run's verdict reproduces).

``tests/test_boundaries.py`` checks the crossing probabilities by seeded Monte Carlo and the
boundaries against the classic constants.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from gate.stats.common import FloatArray

#: How far below the boundary (in standard deviations of S_k) the grid reaches; the mass
#: beyond 8 sd is below 1e-15.
_SPAN = 8.0
#: Grid points per look (odd, for Simpson's rule).
_POINTS = 301


def _simpson(a: float, b: float, n: int = _POINTS) -> tuple[FloatArray, FloatArray]:
    """Grid points and Simpson weights on [a, b] (``n`` odd)."""
    x = np.linspace(a, b, n)
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return x, w * (b - a) / (3.0 * (n - 1))


def _norm_pdf(z: FloatArray) -> FloatArray:
    return np.asarray(np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi), dtype=np.float64)


def upper_boundaries(information: Sequence[float], spent: Sequence[float]) -> list[float]:
    """The z boundary of each look (``+inf`` where nothing is spent).

    ``information[k]`` (> 0, non-decreasing) is the information at look k; ``spent[k]``
    (>= 0, total < 0.5) the error rate look k may use. Deterministic; a millisecond a look.
    """
    from scipy.special import ndtri

    info = [float(i) for i in information]
    if len(info) != len(spent) or not info:
        raise ValueError("one spending per look, at least one look")
    if any(i <= 0 for i in info) or any(b < a for a, b in itertools.pairwise(info)):
        raise ValueError(f"information must be positive and non-decreasing: {info}")
    if any(s < 0 for s in spent) or sum(spent) >= 0.5:
        raise ValueError("spending must be >= 0 and total below 0.5")
    out: list[float] = []
    state: tuple[FloatArray, FloatArray, FloatArray] | None = None
    prev_info = 0.0
    for k, (ik, a) in enumerate(zip(info, spent, strict=True)):
        sd_step = math.sqrt(ik - prev_info) if ik > prev_info else 0.0
        if state is None:
            b = math.inf if a <= 0 else float(-ndtri(a)) * math.sqrt(ik)
        else:
            b = _boundary(state, sd_step, a)
        out.append(b / math.sqrt(ik))
        if k < len(info) - 1:
            state = _carry(state, b, ik, sd_step)
            prev_info = ik
    return out


def _boundary(state: tuple[FloatArray, FloatArray, FloatArray], sd_step: float, a: float) -> float:
    """The bound on S at the next look that the continuing paths cross with probability
    ``a`` (after an increment of standard deviation ``sd_step``)."""
    from scipy.optimize import brentq
    from scipy.special import ndtr

    if a <= 0 or sd_step == 0.0:  # nothing to spend, or no new information to cross with
        return math.inf
    grid, dens, weights = state
    mass = dens * weights

    def excess(bound: float) -> float:
        return float(np.sum(mass * (1.0 - ndtr((bound - grid) / sd_step)))) - a

    lo, hi = float(grid[0]), float(grid[-1]) + 40.0 * sd_step
    if excess(lo) <= 0:  # cannot spend this much: cross anywhere
        return lo
    return float(brentq(excess, lo, hi, xtol=1e-10))


def _carry(
    state: tuple[FloatArray, FloatArray, FloatArray] | None,
    bound: float,
    info: float,
    sd_step: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The sub-density of S at this look on its continuation region (S < bound)."""
    sd = math.sqrt(info)
    top = max(min(bound, _SPAN * sd), -_SPAN * sd + 1e-9 * sd)
    x, w = _simpson(-_SPAN * sd, top)
    if state is None:
        return x, _norm_pdf(x / sd) / sd, w
    grid, dens, weights = state
    if sd_step == 0.0:  # same information: the region only shrinks
        keep = grid < bound
        return grid[keep], dens[keep], weights[keep]
    kernel = _norm_pdf((x[:, None] - grid[None, :]) / sd_step) / sd_step
    return x, kernel @ (dens * weights), w


def nominal_levels(information: Sequence[float], spent: Sequence[float]) -> list[float]:
    """The one-sided nominal level of each look's boundary, ``1 - Phi(c_k)``: the level a
    test with another reference distribution (a t with few degrees of freedom) uses at that
    look (Jennison & Turnbull's "significance level approach", section 11.2)."""
    from scipy.special import ndtr

    return [
        0.0 if math.isinf(c) else float(1.0 - ndtr(c)) for c in upper_boundaries(information, spent)
    ]
