"""Seeded simulation of the latency judge (DESIGN.md §5, "Validation").

Latency model, on the log scale, for request i of one run:

    log(600 µs) + payload_i + drift_run + e_i + spike_i

* ``payload_i`` — fixed per request (its size, its path through the model), shared by every
  run of the same traffic, which is what makes per-request pairing worthwhile;
* ``drift_run ~ N(0, sd_run)`` — the level of a freshly started server; measured drift
  between runs is several percent, larger than the 5% tolerance in the A/A case below;
* ``e_i`` — AR(1) with phi = 0.5 of Student-t(4) × 0.05 innovations: heavy tails and
  autocorrelation (queueing, clocks, neighbours);
* ``spike_i`` — rare spikes, 1% of requests, exponential on the log scale.

K = 3 baseline runs, 1 candidate run, n = 400 requests, policy defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from gate import stats
from gate.config.policy import LatencyPolicy, Mode, Policy, ShiftCheck
from gate.judge.latency import judge_latency
from gate.result import CheckStatus, Verdict

BASE_US = 600.0
N_REQUESTS = 400
K_BASELINE = 3


@dataclass(frozen=True)
class Noise:
    sd_run: float = 0.05
    payload_sd: float = 0.25
    scale: float = 0.05  # Student-t(4) innovations
    phi: float = 0.5  # AR(1) coefficient of the per-request noise
    spike_p: float = 0.01
    spike_mean: float = 0.5  # mean extra log latency of a spike


def simulate(
    rng: np.random.Generator,
    runs: int,
    payload: np.ndarray,
    noise: Noise,
    factor: float = 1.0,
) -> list[np.ndarray]:
    """``runs`` replays of the same traffic; ``factor`` multiplies every latency."""
    out = []
    n = payload.size
    for _ in range(runs):
        drift = rng.normal(0.0, noise.sd_run) if noise.sd_run > 0 else 0.0
        innovations = rng.standard_t(4, n) * noise.scale
        e = lfilter([1.0], [1.0, -noise.phi], innovations)
        spikes = (rng.random(n) < noise.spike_p) * rng.exponential(noise.spike_mean, n)
        out.append(factor * np.exp(math.log(BASE_US) + payload + drift + e + spikes))
    return out


def comparison(
    rng: np.random.Generator,
    noise: Noise,
    *,
    n: int = N_REQUESTS,
    k: int = K_BASELINE,
    factor: float = 1.0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    payload = rng.normal(0.0, noise.payload_sd, n)
    return simulate(rng, k, payload, noise), simulate(rng, 1, payload, noise, factor)


def binomial_upper(p: float, trials: int, sigmas: float = 3.0) -> float:
    return p + sigmas * math.sqrt(p * (1 - p) / trials)


# --------------------------------------------------------------------------------------
# A/A: no change, drift between runs larger than the tolerance
# --------------------------------------------------------------------------------------


def test_aa_false_alarm_rate_at_most_alpha_and_beats_naive_rule() -> None:
    policy = Policy()
    sims = 200
    rng = np.random.default_rng(20261128)
    blocked = naive = errors = 0
    for _ in range(sims):
        base, cand = comparison(rng, Noise(sd_run=0.05))
        _, verdict, _ = judge_latency(policy, base, cand)
        blocked += verdict is Verdict.BLOCKED
        errors += verdict is Verdict.ERROR
        # the rule the gate replaces: p95 within 10% of ONE baseline run
        naive += stats.naive_percentile_rule(cand[0], base[0], 95, 0.10)
    judge_rate, naive_rate = blocked / sims, naive / sims
    print(f"A/A false alarms over {sims}: judge {judge_rate:.3f}, naive p95 rule {naive_rate:.3f}")
    assert errors == 0
    assert judge_rate <= binomial_upper(policy.alpha, sims)
    # the naive rule mistakes run-to-run drift for regressions: clearly above alpha and
    # clearly above the judge (measured 0.170 vs 0.010 with this seed)
    assert naive_rate > policy.alpha
    assert naive - blocked >= 10


def test_judge_holds_level_at_the_tolerance_boundary() -> None:
    # a candidate exactly 5% slower is H0's boundary: the shift check may block it at most
    # alpha of the time, although the within-run layer alone, which assumes independent
    # requests, rejects it far more often under AR(1) noise (measured ~15% at phi=0.5)
    policy = Policy(latency=LatencyPolicy(tails=()))
    sims = 150
    rng = np.random.default_rng(77)
    blocked = 0
    for _ in range(sims):
        base, cand = comparison(rng, Noise(sd_run=0.05), factor=1 + policy.latency.shift.tolerance)
        blocked += judge_latency(policy, base, cand)[1] is Verdict.BLOCKED
    print(f"judge at the 5% boundary: blocked {blocked}/{sims}")
    assert blocked / sims <= binomial_upper(policy.alpha, sims)


# --------------------------------------------------------------------------------------
# Power
# --------------------------------------------------------------------------------------


def test_within_run_layer_catches_twice_the_tolerance() -> None:
    tol = Policy().latency.shift.tolerance
    alpha = Policy().alpha
    margin = math.log1p(tol)
    sims = 120
    rng = np.random.default_rng(7)
    caught = 0
    for _ in range(sims):
        base, cand = comparison(rng, Noise(sd_run=0.0), k=1, factor=(1 + tol) ** 2)
        res = stats.paired_shift_test(np.log(cand[0]) - np.log(base[0]), margin, alpha, "greater")
        caught += res.p_value < alpha
    power = caught / sims
    print(f"within-run power at 2x tolerance: {power:.3f} over {sims}")
    assert power >= 0.95


def test_within_run_layer_holds_level_at_the_margin() -> None:
    # exactly at the tolerance (H0 boundary) the within-run test rejects at most ~alpha
    tol, alpha = 0.05, 0.05
    sims = 200
    rng = np.random.default_rng(8)
    rejected = 0
    for _ in range(sims):
        payload = rng.normal(0.0, 0.25, N_REQUESTS)
        # no autocorrelation here: the signed-rank test assumes independent requests
        noise = Noise(sd_run=0.0, phi=0.0)
        base = simulate(rng, 1, payload, noise)[0]
        cand = simulate(rng, 1, payload, noise, factor=1 + tol)[0]
        res = stats.paired_shift_test(
            np.log(cand) - np.log(base), math.log1p(tol), alpha, "greater"
        )
        rejected += res.p_value < alpha
    assert rejected / sims <= binomial_upper(alpha, sims)


def test_judge_blocks_a_model_twice_as_slow_despite_drift() -> None:
    policy = Policy()
    sims = 50
    rng = np.random.default_rng(99)
    verdicts = []
    for _ in range(sims):
        base, cand = comparison(rng, Noise(sd_run=0.05), factor=2.0)
        checks, verdict, _ = judge_latency(policy, base, cand)
        verdicts.append(verdict)
        shift = next(c for c in checks if c.metric == "latency.shift")
        assert shift.effect is not None and 0.7 < shift.effect < 1.4
    print(f"2x slower blocked: {verdicts.count(Verdict.BLOCKED)}/{sims}")
    assert verdicts.count(Verdict.BLOCKED) == sims


# --------------------------------------------------------------------------------------
# Purity and failing closed
# --------------------------------------------------------------------------------------


def test_judge_is_a_pure_function() -> None:
    rng = np.random.default_rng(5)
    base, cand = comparison(rng, Noise(sd_run=0.05), factor=1.08)
    base_copy = [b.copy() for b in base]
    first = judge_latency(Policy(), base, cand)
    second = judge_latency(Policy(), [list(b) for b in base], [list(c) for c in cand])
    assert [c.model_dump() for c in first[0]] == [c.model_dump() for c in second[0]]
    assert first[1:] == second[1:]
    assert all(np.array_equal(a, b) for a, b in zip(base, base_copy, strict=True))
    # the seed is the only source of randomness: another seed changes the bootstrap
    other = judge_latency(Policy(seed=1), base, cand)
    tail = [c.model_dump() for c in first[0] if c.metric == "latency.p95"]
    tail_other = [c.model_dump() for c in other[0] if c.metric == "latency.p95"]
    assert tail != tail_other


def _error_checks(base: list[np.ndarray], cand: list[np.ndarray], expect: str) -> None:
    checks, verdict, _ = judge_latency(Policy(), base, cand)
    assert verdict is Verdict.ERROR
    assert [c.metric for c in checks] == ["latency.shift", "latency.p95"]
    for c in checks:
        assert c.status is CheckStatus.ERROR
        assert expect in c.reason, c.reason


def test_errors_fail_closed() -> None:
    rng = np.random.default_rng(6)
    base, cand = comparison(rng, Noise(), n=200)
    _error_checks(base, [cand[0][:150]], "length")
    _error_checks(base[:1], cand, "baseline")
    short_b, short_c = comparison(rng, Noise(), n=30)
    _error_checks(short_b, short_c, "min_requests")


def test_invalid_latencies_are_an_error_verdict() -> None:
    rng = np.random.default_rng(6)
    base, cand = comparison(rng, Noise(), n=100)
    bad = cand[0].copy()
    bad[3] = 0.0
    checks, verdict, _ = judge_latency(Policy(), base, [bad])
    assert verdict is Verdict.ERROR
    assert any("positive and finite" in c.reason for c in checks)


def test_all_checks_disabled_is_not_a_pass() -> None:
    rng = np.random.default_rng(6)
    base, cand = comparison(rng, Noise(), n=100)
    policy = Policy(latency=LatencyPolicy(shift=ShiftCheck(enabled=False), tails=()))
    checks, verdict, _ = judge_latency(policy, base, cand)
    assert checks == []
    assert verdict is Verdict.ERROR


# --------------------------------------------------------------------------------------
# Non-inferiority
# --------------------------------------------------------------------------------------


def _non_inferiority() -> Policy:
    return Policy(latency=LatencyPolicy(shift=ShiftCheck(mode=Mode.NON_INFERIORITY)))


def test_non_inferiority_blocks_short_noisy_aa() -> None:
    # no change at all, but 60 requests with heavy noise and 5% drift cannot show that the
    # candidate is within 5%: non-inferiority blocks, while regression mode (harm not
    # shown) passes the same data. Not every time: with 3 baseline runs the drift estimate
    # is itself noisy (measured: NI blocks 28/30 here, 97% over 100 other seeds).
    ni = _non_inferiority()
    sims = 30
    rng = np.random.default_rng(34)
    ni_blocked = reg_passed = 0
    for _ in range(sims):
        base, cand = comparison(rng, Noise(sd_run=0.05, scale=0.15), n=60)
        checks, verdict, _ = judge_latency(ni, base, cand)
        shift = next(c for c in checks if c.metric == "latency.shift")
        assert shift.mode == "non_inferiority"
        if verdict is Verdict.BLOCKED:
            ni_blocked += 1
            assert shift.status is CheckStatus.FAIL
            assert shift.reason
        # regression mode does not block it either; with this little data it is honestly
        # INCONCLUSIVE (gate.judge.decide), which the policy may let pass
        reg_passed += judge_latency(Policy(), base, cand)[1] is not Verdict.BLOCKED
    print(f"non-inferiority, short noisy A/A: blocked {ni_blocked}/{sims}")
    assert ni_blocked >= 26
    assert reg_passed >= 28


def test_non_inferiority_passes_long_quiet_aa() -> None:
    ni = _non_inferiority()
    rng = np.random.default_rng(33)
    for _ in range(3):
        base, cand = comparison(rng, Noise(sd_run=0.0, scale=0.02), n=2000)
        checks, verdict, _ = judge_latency(ni, base, cand)
        shift = next(c for c in checks if c.metric == "latency.shift")
        assert shift.status is CheckStatus.PASS
        assert shift.p_adjusted is not None and shift.p_adjusted < ni.alpha
        assert shift.ci_high is not None and shift.ci_high < shift.tolerance  # type: ignore[operator]
        assert verdict is Verdict.PASS
