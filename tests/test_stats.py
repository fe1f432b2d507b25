"""Validation of gate.stats against reference implementations (brute force, scipy, statsmodels).

Every estimator and test is checked against an independent computation: Walsh averages by
enumeration, the signed-rank null distribution by enumerating sign vectors and by scipy's
exact Wilcoxon test, t-tests by ``scipy.stats.ttest_ind``, Holm by statsmodels and by hand.
Coverage is checked by seeded simulation with binomial-aware bounds.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from gate import stats

# --------------------------------------------------------------------------------------
# Reference implementations
# --------------------------------------------------------------------------------------


def brute_walsh(x: np.ndarray) -> np.ndarray:
    """All n(n+1)/2 Walsh averages (x_i + x_j)/2, i <= j, sorted."""
    xs = np.sort(np.asarray(x, dtype=np.float64))
    i, j = np.triu_indices(xs.size)
    return np.sort((xs[i] + xs[j]) / 2.0)


def brute_signed_rank_cdf(n: int) -> np.ndarray:
    """Null CDF of T+ by enumerating all 2**n sign vectors (n small)."""
    m = n * (n + 1) // 2
    counts = np.zeros(m + 1, dtype=np.int64)
    ranks = np.arange(1, n + 1)
    for signs in itertools.product((0, 1), repeat=n):
        counts[int(np.dot(signs, ranks))] += 1
    return np.cumsum(counts) / 2.0**n


def exact_signed_rank_cdf(n: int) -> np.ndarray:
    """Null CDF of T+ by convolving the per-rank 0/r distributions (probabilities)."""
    m = n * (n + 1) // 2
    dist = np.zeros(m + 1)
    dist[0] = 1.0
    for r in range(1, n + 1):
        shifted = np.zeros_like(dist)
        shifted[r:] = dist[:-r]
        dist = 0.5 * (dist + shifted)
    return np.cumsum(dist)


def critical_from_cdf(cdf: np.ndarray, alpha: float) -> int:
    ok = np.nonzero(cdf <= alpha)[0]
    return int(ok[-1]) if ok.size else -1


def sample_with_t_plus(n: int, t_plus: int) -> np.ndarray:
    """Untied sample of ranks 1..n whose positive ranks sum to exactly ``t_plus``."""
    left = t_plus
    signs = -np.ones(n)
    for r in range(n, 0, -1):
        if r <= left:
            signs[r - 1] = 1.0
            left -= r
    assert left == 0
    return signs * np.arange(1, n + 1)


def scipy_p_t_plus_le(n: int, t_plus: int) -> float:
    """P(T+ <= t_plus) under H0, read off scipy's exact one-sided Wilcoxon test."""
    x = sample_with_t_plus(n, t_plus)
    res = sps.wilcoxon(x, alternative="less", method="exact")
    assert res.statistic == t_plus
    return float(res.pvalue)


# --------------------------------------------------------------------------------------
# Walsh averages and Hodges–Lehmann
# --------------------------------------------------------------------------------------


def _datasets() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(101)
    out: list[tuple[str, np.ndarray]] = []
    for n in (1, 2, 7, 50, 300, 2500):
        out.append((f"normal-{n}", rng.normal(0.0, 1.0, n)))
        out.append((f"heavy-{n}", rng.standard_t(2, n) * 3.0 + 5.0))
        # rounded data: many ties among the values and among the Walsh averages
        out.append((f"rounded-{n}", np.round(rng.normal(0.0, 1.0, n), 1)))
    out.append(("all-equal-2500", np.full(2500, 0.25)))
    out.append(("two-values-2500", np.where(rng.random(2500) < 0.3, -1.0, 2.0)))
    return out


@pytest.mark.parametrize(("name", "x"), _datasets(), ids=[d[0] for d in _datasets()])
def test_walsh_kth_and_hl_equal_enumeration(name: str, x: np.ndarray) -> None:
    w = brute_walsh(x)
    m = w.size
    rng = np.random.default_rng(7)
    ks = {1, 2, m, max(1, m - 1), (m + 1) // 2, m // 2 + 1}
    ks |= {int(k) for k in rng.integers(1, m + 1, size=12)}
    for k in sorted(k for k in ks if 1 <= k <= m):
        assert stats.walsh_kth(x, k) == pytest.approx(w[k - 1], abs=1e-12), (name, k)
    assert stats.hodges_lehmann(x) == pytest.approx(float(np.median(w)), abs=1e-12)


def test_walsh_kth_bisection_path_is_used_and_exact() -> None:
    # n above the enumeration threshold takes the bisection path; compare every 997th order
    # statistic with full enumeration, on data in any order and with a large offset.
    n = 2500
    assert n > stats._BRUTE_FORCE_MAX_N
    rng = np.random.default_rng(3)
    x = 1000.0 + rng.laplace(0.0, 0.01, n)
    w = brute_walsh(x)
    for k in range(1, w.size + 1, 99_997):
        assert stats.walsh_kth(x, k) == pytest.approx(w[k - 1], abs=1e-12)
    assert stats.walsh_kth(x, w.size) == pytest.approx(w[-1], abs=1e-12)


def test_walsh_kth_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="outside"):
        stats.walsh_kth([1.0, 2.0], 0)
    with pytest.raises(ValueError, match="outside"):
        stats.walsh_kth([1.0, 2.0], 4)
    with pytest.raises(ValueError, match="empty"):
        stats.hodges_lehmann([])
    with pytest.raises(ValueError, match="NaN"):
        stats.hodges_lehmann([1.0, float("nan")])


def test_hodges_lehmann_is_shift_equivariant() -> None:
    x = np.random.default_rng(5).standard_t(3, 101)
    assert stats.hodges_lehmann(x + 2.5) == pytest.approx(stats.hodges_lehmann(x) + 2.5)
    assert stats.hodges_lehmann(-x) == pytest.approx(-stats.hodges_lehmann(x))


# --------------------------------------------------------------------------------------
# Signed-rank critical values and the distribution-free CI
# --------------------------------------------------------------------------------------

ALPHAS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2)


@pytest.mark.parametrize("n", range(1, 13))
def test_signed_rank_critical_equals_sign_vector_enumeration(n: int) -> None:
    cdf = brute_signed_rank_cdf(n)
    for alpha in ALPHAS:
        assert stats.signed_rank_critical(n, alpha) == critical_from_cdf(cdf, alpha), alpha


@pytest.mark.parametrize("n", [5, 9, 13, 20, 27, 35, 44, 50])
def test_signed_rank_critical_equals_scipy_exact_distribution(n: int) -> None:
    for alpha in ALPHAS:
        k = stats.signed_rank_critical(n, alpha)
        # k is the largest value with P(T+ <= k) <= alpha, read off scipy's exact test
        if k >= 0:
            assert scipy_p_t_plus_le(n, k) <= alpha
        assert scipy_p_t_plus_le(n, k + 1) > alpha


@pytest.mark.parametrize("n", [51, 60, 100, 250, 1000])
def test_signed_rank_critical_large_n_is_normal_quantile(n: int) -> None:
    mu = n * (n + 1) / 4.0
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
    cdf = exact_signed_rank_cdf(n)
    for alpha in ALPHAS:
        k = stats.signed_rank_critical(n, alpha)
        # the normal approximation with continuity correction ...
        assert abs(k - (mu - 0.5 + sps.norm.ppf(alpha) * sigma)) <= 1.0
        # ... lands within a few hundredths of a standard deviation of the exact quantile
        # (measured: at most 0.03 sigma, at n=51 and alpha=0.005, shrinking with n) ...
        assert abs(k - critical_from_cdf(cdf, alpha)) <= 0.03 * sigma + 1, alpha
        # ... and its attained level P(T+ <= k) is close to alpha, never clearly above it
        assert 0.85 * alpha <= cdf[k] <= 1.01 * alpha, alpha


def test_signed_rank_ci_too_small_sample_is_infinite() -> None:
    # n=3: P(T+ <= 0) = 1/8 > 0.05, no finite bound at this confidence
    assert stats.signed_rank_ci([1.0, 2.0, 3.0], 0.05) == (-math.inf, math.inf)
    lo, hi = stats.signed_rank_ci([1.0, 2.0, 3.0, 4.0, 5.0], 0.05)  # 1/32 <= 0.05
    assert (lo, hi) == (1.0, 5.0)


@pytest.mark.parametrize(
    ("name", "draw"),
    [
        ("t3", lambda rng, n: rng.standard_t(3, n)),
        ("laplace", lambda rng, n: rng.laplace(0.0, 1.0, n)),
    ],
)
def test_signed_rank_ci_coverage_by_simulation(name: str, draw: object) -> None:
    sims, n, alpha, centre = 1000, 40, 0.05, 0.3
    # for continuous symmetric data each bound misses with exactly P(T+ <= k) <= alpha
    attained = float(exact_signed_rank_cdf(n)[stats.signed_rank_critical(n, alpha)])
    assert attained <= alpha
    rng = np.random.default_rng(2024)
    miss_low = miss_high = 0
    for _ in range(sims):
        x = centre + draw(rng, n)  # type: ignore[operator]
        lo, hi = stats.signed_rank_ci(x, alpha)
        miss_low += lo > centre
        miss_high += hi < centre
    slack = 3 * math.sqrt(alpha * (1 - alpha) / sims)
    for misses in (miss_low, miss_high):
        rate = misses / sims
        assert rate <= alpha + slack, (name, rate)
        assert abs(rate - attained) <= slack, (name, rate, attained)


# --------------------------------------------------------------------------------------
# Wilcoxon p-values
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_wilcoxon_p_equals_scipy(alternative: stats.Alternative) -> None:
    rng = np.random.default_rng(11)
    cases = [
        rng.normal(0.2, 1.0, 15),
        rng.normal(-0.1, 1.0, 49),
        rng.standard_t(3, 400) + 0.05,
        np.round(rng.normal(0.1, 1.0, 80), 1),  # ties and zeros
        np.array([0.0, 0.0, 1.0, 2.0, -0.5, 3.0, 0.0, 1.5]),
    ]
    for d in cases:
        want = sps.wilcoxon(d, alternative=alternative, zero_method="wilcox").pvalue
        assert stats.wilcoxon_p(d, alternative) == pytest.approx(want, rel=1e-12, abs=0)


@pytest.mark.parametrize("n", [4, 7, 10])
def test_wilcoxon_p_small_n_equals_enumeration(n: int) -> None:
    cdf = brute_signed_rank_cdf(n)
    m = n * (n + 1) // 2
    for t_plus in range(0, m + 1, 3):
        x = sample_with_t_plus(n, t_plus)
        assert stats.wilcoxon_p(x, "less") == pytest.approx(cdf[t_plus], abs=1e-12)
        # P(T+ >= t) = 1 - P(T+ <= t - 1)
        p_ge = 1.0 - (cdf[t_plus - 1] if t_plus > 0 else 0.0)
        assert stats.wilcoxon_p(x, "greater") == pytest.approx(p_ge, abs=1e-12)


def test_wilcoxon_p_all_zero_is_one() -> None:
    assert stats.wilcoxon_p(np.zeros(30), "greater") == 1.0
    assert stats.wilcoxon_p([0.0], "less") == 1.0


# --------------------------------------------------------------------------------------
# paired_shift_test: the test and the CI agree
# --------------------------------------------------------------------------------------


def _shift_cases(seed: int) -> list[tuple[np.ndarray, float]]:
    """Samples whose true shift lies around the margin, so both decisions occur."""
    rng = np.random.default_rng(seed)
    margin = math.log1p(0.05)
    out = []
    for _ in range(300):
        n = int(rng.integers(12, 260))
        scale = float(rng.uniform(0.02, 0.2))
        se = 1.2 * scale / math.sqrt(n)
        delta = float(rng.uniform(-4.0, 4.0)) * se
        out.append((margin + delta + scale * rng.standard_t(4, n), margin))
    return out


@pytest.mark.parametrize(("alternative", "seed"), [("greater", 1), ("less", 2)])
def test_paired_shift_test_p_and_ci_agree(alternative: stats.Alternative, seed: int) -> None:
    alpha = 0.05
    agree = agree_small = small = rejections = 0
    cases = _shift_cases(seed)
    for r, margin in cases:
        t = stats.paired_shift_test(r, margin, alpha, alternative)
        assert t.n == r.size
        assert t.ci_low <= t.estimate <= t.ci_high
        assert t.estimate == pytest.approx(stats.hodges_lehmann(r))
        rejected = t.p_value < alpha
        rejections += rejected
        bound_says = t.ci_low > margin if alternative == "greater" else t.ci_high < margin
        agree += rejected == bound_says
        if r.size <= 50:
            # exact test and exact CI: the inversion is exact for untied data
            small += 1
            agree_small += rejected == bound_says
    assert agree / len(cases) >= 0.97
    assert agree_small == small > 20
    # the cases straddle the margin: both decisions are exercised
    assert 0.2 * len(cases) < rejections < 0.8 * len(cases)


def test_paired_shift_test_directions() -> None:
    rng = np.random.default_rng(9)
    margin = math.log1p(0.05)
    slow = 0.2 + 0.05 * rng.standard_normal(200)
    same = 0.05 * rng.standard_normal(200)
    assert stats.paired_shift_test(slow, margin, 0.05, "greater").p_value < 1e-6
    assert stats.paired_shift_test(same, margin, 0.05, "greater").p_value > 0.5
    assert stats.paired_shift_test(same, margin, 0.05, "less").p_value < 1e-6
    assert stats.paired_shift_test(slow, margin, 0.05, "less").p_value > 0.5


# --------------------------------------------------------------------------------------
# pairwise_run_test: the run-level t-test
# --------------------------------------------------------------------------------------


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[:, None] - b[None, :]


@pytest.mark.parametrize(("k", "m"), [(2, 2), (3, 2), (3, 3), (5, 4), (8, 2)])
@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_pairwise_run_test_equals_ttest_ind(k: int, m: int, alternative: str) -> None:
    rng = np.random.default_rng(100 * k + m)
    margin, alpha = math.log1p(0.05), 0.05
    for _ in range(5):
        base = rng.normal(6.4, 0.05, k)
        cand = rng.normal(6.4 + float(rng.uniform(-0.1, 0.2)), 0.05, m)
        res = stats.pairwise_run_test(
            _pairwise(cand, base),
            _pairwise(base, base),
            margin,
            alpha,
            alternative,  # type: ignore[arg-type]
            _pairwise(cand, cand),
        )
        want = sps.ttest_ind(cand, base + margin, equal_var=True, alternative=alternative)
        assert res.df == k + m - 2
        assert res.p_value == pytest.approx(want.pvalue, rel=1e-9, abs=1e-15)
        assert (res.estimate - margin) / res.se == pytest.approx(want.statistic, rel=1e-9)
        assert res.estimate == pytest.approx(cand.mean() - base.mean(), abs=1e-12)
        pooled = math.sqrt(
            (np.sum((base - base.mean()) ** 2) + np.sum((cand - cand.mean()) ** 2)) / (k + m - 2)
        )
        assert res.sd_run == pytest.approx(pooled, rel=1e-9)
        tcrit = sps.t.ppf(1 - alpha, k + m - 2)
        assert res.ci_low == pytest.approx(res.estimate - tcrit * res.se, rel=1e-12)
        assert res.ci_high == pytest.approx(res.estimate + tcrit * res.se, rel=1e-12)


@pytest.mark.parametrize("k", [2, 3, 6])
@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_pairwise_run_test_single_candidate_is_prediction_t_test(k: int, alternative: str) -> None:
    rng = np.random.default_rng(k)
    margin, alpha = math.log1p(0.05), 0.05
    for _ in range(5):
        base = rng.normal(6.4, 0.05, k)
        cand = rng.normal(6.45, 0.05, 1)
        res = stats.pairwise_run_test(
            _pairwise(cand, base),
            _pairwise(base, base),
            margin,
            alpha,
            alternative,  # type: ignore[arg-type]
            np.zeros((1, 1)),
        )
        # the new run against the spread of the baseline runs: prediction-interval t-test
        sd_b = float(np.std(base, ddof=1))
        se = sd_b * math.sqrt(1.0 / k + 1.0)
        t = (cand[0] - base.mean() - margin) / se
        want = sps.t.sf(t, k - 1) if alternative == "greater" else sps.t.cdf(t, k - 1)
        assert res.df == k - 1
        assert res.se == pytest.approx(se, rel=1e-9)
        assert res.sd_run == pytest.approx(sd_b, rel=1e-9)
        assert res.p_value == pytest.approx(want, rel=1e-9)


def test_pairwise_run_test_errors_and_degenerate() -> None:
    with pytest.raises(ValueError, match="two baseline runs"):
        stats.pairwise_run_test(np.zeros((1, 1)), np.zeros((1, 1)), 0.05, 0.05, "greater")
    with pytest.raises(ValueError, match="K x K"):
        stats.pairwise_run_test(np.zeros((1, 3)), np.zeros((2, 2)), 0.05, 0.05, "greater")
    # identical baseline runs: zero drift, the decision is the estimate against the margin
    base = np.array([6.0, 6.0, 6.0])
    for cand, want in ((6.2, 0.0), (6.01, 1.0)):
        c = np.array([cand])
        res = stats.pairwise_run_test(
            _pairwise(c, base), _pairwise(base, base), 0.05, 0.05, "greater"
        )
        assert res.p_value == want


# --------------------------------------------------------------------------------------
# Holm–Bonferroni
# --------------------------------------------------------------------------------------


def test_holm_hand_worked_example() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # capped at 1; ties keep equal adjusted values
    assert stats.holm([0.5, 0.6]) == [1.0, 1.0]
    assert stats.holm([0.02, 0.02, 0.9]) == pytest.approx([0.06, 0.06, 0.9])
    assert stats.holm([0.3]) == [0.3]
    assert stats.holm([]) == []


def test_holm_monotone_and_bounded() -> None:
    rng = np.random.default_rng(4)
    for size in (1, 2, 5, 17):
        p = rng.random(size) ** 3
        adj = np.array(stats.holm(list(p)))
        assert np.all(adj >= p - 1e-15)
        assert np.all(adj <= 1.0)
        order = np.argsort(p)
        assert np.all(np.diff(adj[order]) >= -1e-15)


def test_holm_equals_statsmodels() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(8)
    for size in (1, 2, 3, 6, 20):
        for _ in range(10):
            p = rng.random(size) ** 2
            want = multitest.multipletests(p, alpha=0.05, method="holm")[1]
            assert stats.holm(list(p)) == pytest.approx(list(want), abs=1e-15)


# --------------------------------------------------------------------------------------
# Paired bootstrap of a percentile ratio
# --------------------------------------------------------------------------------------


def test_bootstrap_quantile_ratio_reproducible_and_seeded() -> None:
    rng = np.random.default_rng(12)
    b = np.exp(rng.normal(6.4, 0.3, 300))
    c = b * np.exp(rng.normal(0.03, 0.1, 300))
    kw = {"resamples": 500, "alternative": "greater"}
    a1 = stats.bootstrap_quantile_ratio(c, b, 95, 1.1, 0.05, seed=1, **kw)  # type: ignore[arg-type]
    a2 = stats.bootstrap_quantile_ratio(c, b, 95, 1.1, 0.05, seed=1, **kw)  # type: ignore[arg-type]
    a3 = stats.bootstrap_quantile_ratio(c, b, 95, 1.1, 0.05, seed=2, **kw)  # type: ignore[arg-type]
    assert a1 == a2
    assert (a1.ci_low, a1.ci_high, a1.se_log) != (a3.ci_low, a3.ci_high, a3.se_log)
    assert a1.ratio == a3.ratio == pytest.approx(np.percentile(c, 95) / np.percentile(b, 95))
    assert a1.ci_low < a1.ratio < a1.ci_high
    assert a1.n == 300
    assert 1 / 501 <= a1.p_value <= 1.0


def test_bootstrap_quantile_ratio_exact_scaling() -> None:
    b = np.exp(np.random.default_rng(13).normal(6.4, 0.3, 200))
    c = 1.5 * b
    for q in (50, 90, 99):
        res = stats.bootstrap_quantile_ratio(c, b, q, 1.1, 0.05, resamples=400, seed=3)
        assert res.ratio == pytest.approx(1.5, abs=1e-12)
        assert res.ci_low == pytest.approx(1.5, abs=1e-12)
        assert res.ci_high == pytest.approx(1.5, abs=1e-12)
        # every resample is beyond the margin: the smallest p the bootstrap can give
        assert res.p_value == pytest.approx(1 / 401)
        less = stats.bootstrap_quantile_ratio(
            c, b, q, 1.1, 0.05, resamples=400, seed=3, alternative="less"
        )
        assert less.p_value == pytest.approx(1.0)


def test_bootstrap_quantile_ratio_rejects_unpaired() -> None:
    with pytest.raises(ValueError, match="equal length"):
        stats.bootstrap_quantile_ratio([1.0, 2.0], [1.0], 50, 1.1, 0.05, resamples=10, seed=0)


# --------------------------------------------------------------------------------------
# The rule the gate replaces
# --------------------------------------------------------------------------------------


def test_naive_percentile_rule() -> None:
    b = np.arange(1.0, 101.0)
    assert not stats.naive_percentile_rule(b * 1.09, b, 95, 0.10)
    assert stats.naive_percentile_rule(b * 1.11, b, 95, 0.10)
