"""Minimum detectable effects: how large a change a test would catch with a given power."""

from __future__ import annotations


def mde_t(se: float, df: int, alpha: float, power: float) -> float:
    """Smallest shift beyond the margin that a one-sided t-test detects with ``power``."""
    from scipy.stats import t as t_dist

    return float((t_dist.ppf(1 - alpha, df) + t_dist.ppf(power, df)) * se)


def mde_z(se: float, alpha: float, power: float) -> float:
    """Smallest shift beyond the margin that a one-sided z-like test detects with ``power``."""
    from scipy.stats import norm

    return float((norm.ppf(1 - alpha) + norm.ppf(power)) * se)
