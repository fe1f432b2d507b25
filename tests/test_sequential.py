"""The sequential judge (gate.judge.sequential): spending, three-way looks, and its error rates
under optional stopping, checked against scipy and by seeded simulation."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from gate.judge.sequential import (
    Estimate,
    Look,
    LookPoint,
    Outcome,
    Spending,
    block_pair_units,
    judge_sequence,
    mean_of_units,
    run_sequence,
    trimmed_mean_of_units,
)
from gate.result import CheckStatus
from gate.stats.boundaries import upper_boundaries

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from sequential_simulation import Noise, one_session, pair_units


def test_spending_spends_alpha_exactly_over_any_partition_of_the_budget() -> None:
    sp = Spending(0.025, rho=2.0)
    assert sp.cumulative(0.0) == 0.0 and sp.cumulative(1.0) == pytest.approx(0.025)
    for fractions in (
        [1.0],
        [0.5, 1.0],
        [0.1, 0.2, 0.35, 0.9, 1.0],
        list(np.linspace(0.05, 1, 20)),
    ):
        prev, total = 0.0, 0.0
        for t in fractions:
            total += sp.at_look(prev, t)
            prev = t
        assert total == pytest.approx(0.025)
    assert sp.at_look(0.0, 0.1) < Spending(0.025, rho=1.0).at_look(0.0, 0.1)
    with pytest.raises(ValueError):
        sp.at_look(0.5, 0.4)


def test_interval_and_p_values_match_scipy_t() -> None:
    rng = np.random.default_rng(3)
    u = rng.normal(0.02, 0.05, 17)
    est = mean_of_units(u)
    res = sps.ttest_1samp(u, 0.04, alternative="greater")
    assert est.p_above(0.04) == pytest.approx(res.pvalue, rel=1e-9)
    res = sps.ttest_1samp(u, 0.04, alternative="less")
    assert est.p_below(0.04) == pytest.approx(res.pvalue, rel=1e-9)
    lo, hi = est.interval(0.05)
    ci = sps.ttest_1samp(u, 0.0).confidence_interval(0.90)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-9)


def _est(value: float, se: float = 0.01, df: float = 30) -> Estimate:
    return Estimate(value, se, df)


def _one(est: Estimate, *, t: float = 1.0, final: bool, **kw: object) -> Look:
    """One look at information fraction ``t``."""
    return judge_sequence([est], [LookPoint(t, final=final)], **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [5, 7, 22, 60, 1001])
def test_trimmed_mean_and_its_standard_error_match_scipy(n: int) -> None:
    rng = np.random.default_rng(n)
    u = rng.standard_t(2, n) * 0.1 + 0.03
    est = trimmed_mean_of_units(u)
    assert est.value == pytest.approx(sps.trim_mean(u, 0.2), rel=1e-12)
    assert est.se == pytest.approx(float(sps.mstats.trimmed_stde(u, limits=(0.2, 0.2))))
    assert est.df == n - 2 * int(0.2 * n) - 1 and est.information == n
    # unit order does not matter; fewer than five units: nothing to cut, the plain mean
    assert trimmed_mean_of_units(u[::-1]).value == pytest.approx(est.value)
    small = trimmed_mean_of_units(u[:4])
    assert (small.value, small.se, small.df) == pytest.approx(
        tuple(getattr(mean_of_units(u[:4]), k) for k in ("value", "se", "df"))
    )


def test_trimmed_mean_is_not_moved_by_a_few_disturbed_units() -> None:
    """Three window pairs in twenty disturbed by a co-tenant (as seen here): the plain mean's
    standard error triples, the trimmed mean's grows by half and stays under half of it."""
    rng = np.random.default_rng(4)
    u = rng.normal(0.0, 0.05, 20)
    bad = u.copy()
    bad[[3, 9, 15]] = [0.45, -0.4, 0.5]
    assert mean_of_units(bad).se > 2.5 * mean_of_units(u).se
    assert trimmed_mean_of_units(bad).se < 2 * trimmed_mean_of_units(u).se
    assert trimmed_mean_of_units(bad).se < 0.5 * mean_of_units(bad).se
    assert abs(trimmed_mean_of_units(bad).value) < 0.03


def test_a_look_decides_three_ways_and_the_last_look_says_inconclusive() -> None:
    sp = Spending(0.025)
    margin = math.log1p(0.05)
    kw = {"margin": margin, "worse": 1, "spending": sp}
    assert _one(_est(0.20), final=False, **kw).outcome is Outcome.FAIL
    assert _one(_est(0.0), final=False, **kw).outcome is Outcome.PASS
    undecided = _one(_est(0.045), t=0.5, final=False, **kw)
    assert undecided.outcome is Outcome.UNDECIDED and not undecided.decided
    last = _one(_est(0.045), final=True, **kw)
    assert last.outcome is Outcome.INCONCLUSIVE
    assert last.mde > margin  # the change it could have shown lies beyond the tolerance
    ni = _one(_est(0.045), final=True, non_inferiority=True, **kw)
    assert ni.outcome is Outcome.FAIL  # not shown safe fails in non-inferiority mode


def test_smaller_is_worse_mirrors_larger_is_worse() -> None:
    sp = Spending(0.025)
    up = _one(_est(0.2), margin=0.1, worse=1, spending=sp, final=True)
    down = _one(_est(-0.2), margin=-0.1, worse=-1, spending=sp, final=True)
    assert up.outcome is down.outcome is Outcome.FAIL
    assert up.p_harm == pytest.approx(down.p_harm)
    assert down.mde == pytest.approx(-up.mde)


def test_the_last_look_spends_what_is_left_when_the_budget_ends_early() -> None:
    sp = Spending(0.025)
    alone = _one(_est(0.0), t=0.6, final=True, margin=0.05, worse=1, spending=sp)
    assert alone.nominal == pytest.approx(0.025)  # one look, and it is the last: all of alpha
    two = judge_sequence(
        [_est(0.0, se=1.0, df=math.inf), Estimate(0.0, 0.5, math.inf, 4.0)],
        [LookPoint(0.3), LookPoint(0.6, final=True)],
        margin=0.05,
        worse=1,
        spending=sp,
    )
    left = 0.025 - sp.cumulative(0.3)
    # the exact boundary counts the looks' shared data: more than a Bonferroni share
    assert two.look == 2 and left < two.nominal < 0.025


def test_a_look_without_new_units_spends_nothing() -> None:
    """A live session looks between a round's parts too, so a check often sees a look with
    no new units of its own (round 1 looked at twice). Such a look is skipped: the alpha of
    its share of the budget is carried to the check's next look with new units, never lost,
    and the outcome is the one the check would reach without that look."""
    sp = Spending(0.025)
    first, second = Estimate(0.02, 0.02, math.inf, 4.0), Estimate(0.01, 0.01, math.inf, 16.0)
    kw = {"margin": 0.05, "worse": 1, "spending": sp}
    without = judge_sequence([first, second], [LookPoint(0.3), LookPoint(1.0, final=True)], **kw)
    repeated = judge_sequence(
        [first, first, None, second],
        [LookPoint(0.3), LookPoint(0.35), LookPoint(0.5), LookPoint(1.0, final=True)],
        **kw,
    )
    assert repeated.outcome is without.outcome
    assert repeated.nominal == pytest.approx(without.nominal)
    assert (repeated.ci_low, repeated.ci_high) == pytest.approx((without.ci_low, without.ci_high))
    assert repeated.look == 4 and without.look == 2  # the look's index among all looks


def test_exact_boundaries_match_pocock_and_obrien_fleming_constants() -> None:
    """Two equally spaced looks, one-sided 0.025: Pocock-type spending of 0.0125 + rest gives
    the Lan-DeMets boundaries; the crossing probabilities are checked by seeded Monte Carlo."""
    sp = Spending(0.025, rho=1.0)
    spent = [sp.at_look(0.0, 0.5), sp.at_look(0.5, 1.0)]
    c = upper_boundaries([1.0, 2.0], spent)
    assert c[0] == pytest.approx(sps.norm.isf(0.0125), rel=1e-9)
    rng = np.random.default_rng(7)
    z1 = rng.standard_normal(400_000)
    z2 = (z1 + rng.standard_normal(400_000)) / math.sqrt(2.0)
    crossed = np.mean((z1 >= c[0]) | (z2 >= c[1]))
    assert crossed == pytest.approx(0.025, abs=3 * math.sqrt(0.025 * 0.975 / 400_000))
    assert np.mean((z1 < c[0]) & (z2 >= c[1])) == pytest.approx(spent[1], abs=0.0008)


def test_block_pair_units_are_per_block_log_ratio_medians() -> None:
    a = np.array([100.0, 100, 100, 100, 200, 200, 200, 200, 50])
    b = a * np.array([1.1, 1.1, 1.3, 1.1, 0.9, 0.9, 0.9, 1.0, 5.0])
    u = block_pair_units(a, b, 4)
    assert u.size == 2  # the trailing block of 1 (< half a block) is dropped
    assert u[0] == pytest.approx(math.log(1.1)) and u[1] == pytest.approx(math.log(0.9))
    q = block_pair_units(a, b, 4, statistic="quantile", q=50)
    assert q.size == 2 and np.all(np.isfinite(q))


def _optional_stopping_rates(
    alpha_per_look: float | None, sims: int, looks: int
) -> tuple[float, float]:
    """Units iid normal with mean exactly at the margin (the edge of both nulls): how often a
    sequence of looks ends FAIL or PASS. ``alpha_per_look=None``: the spending design."""
    rng = np.random.default_rng(11)
    margin = 0.05
    sp = Spending(0.025)
    fail = ok = 0
    for _ in range(sims):
        units = rng.normal(margin, 0.1, 8 * looks)
        ests: list[Estimate | None] = []
        for k in range(1, looks + 1):
            est = mean_of_units(units[: 8 * k])
            ests.append(est)
            if alpha_per_look is None:
                points = [LookPoint(j / looks, final=j == looks) for j in range(1, k + 1)]
                look = judge_sequence(ests, points, margin=margin, worse=1, spending=sp)
                o = look.outcome
            else:  # the naive way: every look at the full level
                lo, hi = est.interval(alpha_per_look)
                o = (
                    Outcome.FAIL
                    if lo > margin
                    else Outcome.PASS
                    if hi < margin
                    else Outcome.UNDECIDED
                )
            if o in (Outcome.FAIL, Outcome.PASS):
                fail += o is Outcome.FAIL
                ok += o is Outcome.PASS
                break
    return fail / sims, ok / sims


def test_optional_stopping_keeps_both_error_rates_at_alpha_where_naive_looks_do_not() -> None:
    sims = 3000
    se = 3 * math.sqrt(0.025 * 0.975 / sims)
    fail, ok = _optional_stopping_rates(None, sims, looks=6)
    assert fail <= 0.025 + se and ok <= 0.025 + se
    naive_fail, naive_ok = _optional_stopping_rates(0.025, sims, looks=6)
    assert naive_fail > 0.025 + se and naive_ok > 0.025 + se  # why the spending is needed


def test_simulated_sessions_aa_never_blocks_passes_and_intervals_cover() -> None:
    """Live A/B sessions with drift, load regimes, heavy tails and AR(1) noise (the benchmark's
    model): an unchanged model is not blocked more often than alpha and is passed; a change at
    the tolerance is neither blocked nor passed more often than alpha; intervals cover."""
    sims, alpha = 400, 0.0125
    tol = math.log1p(0.05)
    kw = {"n": 400, "block": 50, "rounds": 8, "margin": tol, "spending": Spending(alpha)}
    rng = np.random.default_rng(5)
    aa = [one_session(rng, Noise(), 0.0, **kw) for _ in range(sims)]  # type: ignore[arg-type]
    assert sum(o is Outcome.FAIL for o, *_ in aa) == 0
    assert sum(o is Outcome.PASS for o, *_ in aa) / sims >= 0.95
    assert sum(cov for _, _, cov, _ in aa) / sims >= 0.97
    edge = [one_session(rng, Noise(), tol, **kw) for _ in range(sims)]  # type: ignore[arg-type]
    se = 3 * math.sqrt(alpha * (1 - alpha) / sims)
    assert sum(o is Outcome.FAIL for o, *_ in edge) / sims <= alpha + se
    assert sum(o is Outcome.PASS for o, *_ in edge) / sims <= alpha + se
    big = [one_session(rng, Noise(), math.log(10.0), **kw) for _ in range(50)]  # type: ignore[arg-type]
    assert all(o is Outcome.FAIL and k == 1 for o, k, _, _ in big)  # 10x stops at the first look


def test_run_sequence_stops_at_the_first_decided_look() -> None:
    sp = Spending(0.025)
    looks = [Estimate(0.03, 0.05, 30, 10), Estimate(0.01, 0.004, 60, 20), Estimate(0, 1e-3, 90, 30)]
    res = run_sequence(looks, [1 / 3, 2 / 3, 1.0], margin=0.05, worse=1, spending=sp)
    assert res.outcome is Outcome.PASS and res.information == pytest.approx(2 / 3)
    # a look whose information did not grow (no new units) is not a look: it spends nothing
    same = [Estimate(0.03, 0.05, 30, 10), Estimate(0.0, 1e-3, 30, 10)]
    assert run_sequence(same, [0.5, 1.0], margin=0.05, worse=1, spending=sp).look == 1


def test_an_interval_too_wide_to_map_is_infinite_not_an_error() -> None:
    """Two units at a tiny alpha give a log-ratio bound in the hundreds: ``expm1`` of it
    overflows, and the check must still be judged (it was a 'math range error')."""
    from gate.config.policy import Mode, ThroughputPolicy
    from gate.judge.design import Design, Scale, sequential_check

    design = Design(alpha=1e-6, rho=1.0, power=0.8, looks=(), alpha_safe=1e-6)
    tp = ThroughputPolicy(mode=Mode.REGRESSION, tolerance=0.1, critical=False, blocking=True)
    check = sequential_check(
        tp,
        ("throughput c=4", "throughput.c4"),
        Scale.log_ratio(-0.1),
        estimates=[Estimate(0.0, 5.0, 1.0, 2.0)],
        design=design,
        n=2,
        details={},
    )
    assert check.status is CheckStatus.INCONCLUSIVE
    assert check.ci_high == math.inf and check.ci_low == pytest.approx(-1.0)  # -100%


def test_simulated_throughput_pairs_keep_alpha_and_decide_more_with_the_trimmed_mean() -> None:
    """Window pairs with one in five disturbed (``pair_units``), tolerance 10%, two pairs a
    round for 15 rounds: at the tolerance neither estimator blocks or passes more often than
    alpha; an unchanged model is passed more often with the trimmed mean than the plain one
    (sims in ``benchmarks/sequential_simulation.py --pairs 2``)."""
    sims, alpha = 300, 0.0125
    tol = math.log1p(0.10)
    se = 3 * math.sqrt(alpha * (1 - alpha) / sims)
    kw = {"n": 1, "block": 1, "rounds": 15, "margin": tol, "spending": Spending(alpha)}
    passed = {}
    for how in ("trimmed", "mean"):
        rng = np.random.default_rng(9)
        aa = [one_session(rng, Noise(), 0.0, estimator=how, pairs=2, **kw) for _ in range(sims)]  # type: ignore[arg-type]
        assert sum(o is Outcome.FAIL for o, *_ in aa) / sims <= alpha + se
        passed[how] = sum(o is Outcome.PASS for o, *_ in aa) / sims
        edge = [one_session(rng, Noise(), tol, estimator=how, pairs=2, **kw) for _ in range(sims)]  # type: ignore[arg-type]
        assert sum(o is Outcome.FAIL for o, *_ in edge) / sims <= alpha + se
        assert sum(o is Outcome.PASS for o, *_ in edge) / sims <= alpha + se
    assert passed["trimmed"] > passed["mean"] + 0.1
    assert pair_units(np.random.default_rng(0), 0.0, 1000).std() > 0.1  # contaminated, as meant
