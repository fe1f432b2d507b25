"""Accuracy / SLO statistics against scipy, statsmodels, brute force and their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from gate.stats import accuracy as sa


@pytest.mark.parametrize(("losses", "gains"), [(0, 0), (3, 1), (10, 2), (7, 7), (0, 5), (40, 31)])
def test_mcnemar_exact_matches_statsmodels(losses: int, gains: int) -> None:
    table = [[50, losses], [gains, 30]]
    want = mcnemar(table, exact=True).pvalue
    assert sa.mcnemar_exact_p(losses, gains) == pytest.approx(want, rel=1e-12)


def _restricted_mle_numeric(losses: int, gains: int, n: int, delta: float) -> float:
    """Maximise the multinomial likelihood over (p10, p01) with p10 - p01 = delta."""
    rest = n - losses - gains

    def negll(p01: float) -> float:
        p10 = p01 + delta
        p_rest = 1 - p10 - p01
        terms = 0.0
        for k, p in ((losses, p10), (gains, p01), (rest, p_rest)):
            if k:
                terms += k * math.log(max(p, 1e-300))
        return -terms

    lo = max(0.0, -delta) + 1e-12
    hi = (1 - delta) / 2 - 1e-12
    res = optimize.minimize_scalar(
        negll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}
    )
    return float(res.x)


@pytest.mark.parametrize(
    ("losses", "gains", "n", "delta"),
    [(12, 4, 200, 0.01), (30, 28, 500, 0.02), (5, 0, 100, 0.05), (3, 9, 300, -0.01)],
)
def test_tango_restricted_mle_is_the_constrained_maximum(
    losses: int, gains: int, n: int, delta: float
) -> None:
    closed = sa.tango_restricted_p01(losses, gains, n, delta)
    numeric = _restricted_mle_numeric(losses, gains, n, delta)
    assert closed == pytest.approx(numeric, abs=1e-6)


def test_tango_z_at_zero_margin_is_the_mcnemar_score_statistic() -> None:
    # under delta = 0 Tango's statistic is (b - c) / sqrt(b + c): McNemar's (uncorrected) z
    for b, c in [(10, 4), (3, 8), (25, 25)]:
        z = sa.tango_z(b, c, 500, 0.0)
        assert z == pytest.approx((b - c) / math.sqrt(b + c), rel=1e-9)
        chi2 = mcnemar([[100, b], [c, 100]], exact=False, correction=False).statistic
        assert z * z == pytest.approx(chi2, rel=1e-9)


def test_tango_ci_inverts_the_test() -> None:
    alpha = 0.05
    z = stats.norm.ppf(1 - alpha)
    lo, hi = sa.tango_ci(30, 12, 1000, alpha, correction=0.0)
    assert sa.tango_z(30, 12, 1000, lo) == pytest.approx(z, abs=1e-6)
    assert sa.tango_z(30, 12, 1000, hi) == pytest.approx(-z, abs=1e-6)
    assert lo < 18 / 1000 < hi
    # with the continuity correction (the default) the CI is wider and agrees with the
    # one-sided p-values: the margin at a bound is exactly significant at alpha
    clo, chi = sa.tango_ci(30, 12, 1000, alpha)
    assert clo < lo and chi > hi
    p_greater = sa.paired_proportion_drop_counts(30, 12, 1000, clo, alpha, "greater").p_value
    p_less = sa.paired_proportion_drop_counts(30, 12, 1000, chi, alpha, "less").p_value
    assert p_greater == pytest.approx(alpha, abs=1e-6)
    assert p_less == pytest.approx(alpha, abs=1e-6)


def test_tango_ci_coverage_by_simulation() -> None:
    rng = np.random.default_rng(1)
    n, p10, p01, alpha = 400, 0.04, 0.02, 0.05
    true = p10 - p01
    counts = rng.multinomial(n, [p10, p01, 1 - p10 - p01], size=1000)
    cover = 0
    for b, c, _ in counts:
        lo, hi = sa.tango_ci(int(b), int(c), n, alpha)
        cover += lo <= true <= hi
    # nominal 90% two-sided; binomial error over 1000 runs is about +-1%
    assert 0.87 <= cover / 1000 <= 0.93


def test_paired_drop_from_arrays_matches_counts() -> None:
    rng = np.random.default_rng(2)
    b = rng.random(3000) < 0.9
    c = b.copy()
    flip = rng.random(3000) < 0.05
    c[flip] = ~c[flip]
    e1 = sa.paired_proportion_drop(b, c, 0.01, 0.05, "less")
    losses, gains = int(np.sum(b & ~c)), int(np.sum(~b & c))
    e2 = sa.paired_proportion_drop_counts(losses, gains, 3000, 0.01, 0.05, "less")
    assert e1 == e2
    assert e1.estimate == pytest.approx(b.mean() - c.mean())


@pytest.mark.parametrize(("k", "n"), [(0, 20), (3, 20), (950, 1000), (1000, 1000)])
def test_clopper_pearson_matches_statsmodels(k: int, n: int) -> None:
    lo, hi = sa.clopper_pearson(k, n, 0.05)
    wlo, whi = proportion_confint(k, n, alpha=0.10, method="beta")
    assert lo == pytest.approx(wlo, abs=1e-12)
    assert hi == pytest.approx(whi, abs=1e-12)


@pytest.mark.parametrize(("k", "n", "limit"), [(943, 1000, 0.93), (20, 30, 0.5), (5, 100, 0.1)])
def test_proportion_vs_limit_matches_scipy_binomtest(k: int, n: int, limit: float) -> None:
    for alt in ("greater", "less"):
        got = sa.proportion_vs_limit(k, n, limit, 0.05, alt).p_value  # type: ignore[arg-type]
        want = stats.binomtest(k, n, limit, alternative=alt).pvalue
        assert got == pytest.approx(want, rel=1e-9)


def test_quantile_ci_matches_scipy_quantile_test() -> None:
    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 0.5, size=500)
    alpha = 0.05
    lo, hi = sa.quantile_ci(x, 0.95, alpha)
    up = stats.quantile_test(x, q=0, p=0.95, alternative="less").confidence_interval(1 - alpha)
    dn = stats.quantile_test(x, q=0, p=0.95, alternative="greater").confidence_interval(1 - alpha)
    assert hi == pytest.approx(up.high)
    assert lo == pytest.approx(dn.low)


def test_quantile_vs_limit_matches_scipy_quantile_test() -> None:
    rng = np.random.default_rng(4)
    x = rng.lognormal(0, 0.5, size=400)
    for limit in (1.8, 2.3, 3.0):
        got_less = sa.quantile_vs_limit(x, 0.95, limit, 0.05, "less").p_value
        want_less = stats.quantile_test(x, q=limit, p=0.95, alternative="less").pvalue
        assert got_less == pytest.approx(want_less, rel=1e-9)
        got_gr = sa.quantile_vs_limit(x, 0.95, limit, 0.05, "greater").p_value
        want_gr = stats.quantile_test(x, q=limit, p=0.95, alternative="greater").pvalue
        assert got_gr == pytest.approx(want_gr, rel=1e-9)


def test_quantile_ci_coverage_by_simulation() -> None:
    rng = np.random.default_rng(5)
    true = float(stats.expon.ppf(0.95))
    miss_hi = miss_lo = 0
    for _ in range(1000):
        x = rng.exponential(size=300)
        lo, hi = sa.quantile_ci(x, 0.95, 0.05)
        miss_hi += hi < true
        miss_lo += lo > true
    assert miss_hi / 1000 <= 0.05 + 0.02
    assert miss_lo / 1000 <= 0.05 + 0.02


def test_paired_mean_ratio_is_the_t_test_of_the_margin_difference() -> None:
    rng = np.random.default_rng(6)
    b = rng.gamma(2.0, 0.5, size=800)
    c = b * 1.02 + rng.normal(0, 0.1, size=800)
    est = sa.paired_mean_ratio(b, c, 1.05, 0.05, "less")
    want = stats.ttest_1samp(c - 1.05 * b, 0.0, alternative="less").pvalue
    assert est.p_value == pytest.approx(want, rel=1e-9)
    assert est.estimate == pytest.approx(c.mean() / b.mean())
    # Fieller bounds are exactly where the same t-test is at alpha (one-sided)
    for bound, alt in ((est.ci_high, "less"), (est.ci_low, "greater")):
        p = stats.ttest_1samp(c - bound * b, 0.0, alternative=alt).pvalue
        assert p == pytest.approx(0.05, abs=1e-6)


def test_paired_mean_ratio_rejects_nonpositive_baseline_mean() -> None:
    with pytest.raises(ValueError, match="not positive"):
        sa.paired_mean_ratio([0.0, 0.0, 0.0], [1.0, 2.0, 3.0], 1.05, 0.05, "less")
