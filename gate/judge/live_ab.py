"""Live A/B: the baseline model (A) and the candidate (B) in one server, judged by pairs.

Stored baselines were measured on another server start, and whole runs drift by ±15% on a
shared machine (``benchmarks/ab_vs_stored.py`` measures it), far more than a 5% tolerance. Loading
both models into the *same* server and replaying the same traffic in interleaved blocks
(A B, then B A, then A B, …) makes slow machine drift hit both arms alike; requests pair by
index (request i of A with request i of B, a block apart in time). The paired test then runs
on log ratios ``ln(B_i / A_i)``, averaged over short batches so that the server's short-range
autocorrelation does not overstate the evidence (see ``ABPolicy``).

This module is the pure judge (``ab_checks``); ``gate.app.live_ab`` measures the replay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np

from gate import stats
from gate.config.policy import Mode, Policy, ShiftCheck, TailCheck
from gate.judge.common import flags, undecided
from gate.judge.latency import latency_specs
from gate.judge.protocol import BUDGET_HINT, Noise, guarded
from gate.result import CheckResult


def _positive(x: Sequence[float], what: str) -> stats.FloatArray:
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{what} latencies must be positive and finite")
    return a


def _logs(x: Sequence[float], what: str) -> stats.FloatArray:
    return np.log(_positive(x, what))


def _alt(mode: Mode) -> stats.Alternative:
    return "greater" if mode is Mode.REGRESSION else "less"


def ab_shift_check(
    check: ShiftCheck,
    a: Sequence[float],
    b: Sequence[float],
    *,
    alpha: float,
    power: float,
    batch: int,
    block_size: int,
    test: str = "batch+block",
) -> CheckResult:
    """Typical per-request latency of B against A, paired by request index."""
    la, lb = _logs(a, "baseline (A)"), _logs(b, "candidate (B)")
    if la.size != lb.size:
        raise ValueError(f"arms differ in length ({la.size} vs {lb.size})")
    r = lb - la
    margin = math.log1p(check.tolerance)
    alt = _alt(check.mode)
    blocks = block_medians(r, block_size)
    p_block = _block_t_p(blocks, margin, alt)
    if test == "request":
        units = r
    elif test == "block":
        units = blocks
    else:
        units = stats.batch_means(r, batch)
    df_block = max(1, blocks.size - 1)
    if test == "block":
        est, lo, hi, p, se = _block_t(blocks, margin, alpha, alt)
        mde_log = margin + stats.mde_t(se, df_block, alpha, power)
    else:
        t = stats.paired_shift_test(units, margin, alpha, alt)
        est, lo, hi, p, se = t.estimate, t.ci_low, t.ci_high, t.p_value, t.se
        mde_log = margin + stats.mde_z(se, alpha, power)
        if test == "batch+block":
            # intersection-union: the block layer holds the level when load shifts between
            # blocks; the batch layer gives the estimate its precision
            _, blo, bhi, bp, bse = _block_t(blocks, margin, alpha, alt)
            p = max(p, bp)
            lo, hi = min(lo, blo), max(hi, bhi)
            mde_log = max(mde_log, margin + stats.mde_t(bse, df_block, alpha, power))
    details: dict[str, object] = {
        "test": {
            "batch+block": f"Wilcoxon signed-rank on means of {batch} consecutive log ratios "
            "ln(B/A) (Hodges-Lehmann estimate) ∩ t-test on per-block median log ratios",
            "batch": f"Wilcoxon signed-rank on means of {batch} consecutive log ratios "
            "ln(B/A), Hodges-Lehmann estimate and signed-rank CI",
            "request": "Wilcoxon signed-rank on per-request log ratios ln(B/A)",
            "block": "t-test on per-block median log ratios ln(B/A)",
        }[test],
        "units": int(units.size),
        "batch": batch,
        "block_size": block_size,
        "p_block_t": p_block,
        "block_shifts": [math.expm1(float(v)) for v in blocks[:1000]],
        "median_a_us": float(np.exp(np.median(la))),
        "median_b_us": float(np.exp(np.median(lb))),
    }
    if r.size <= 200_000:
        details["p_per_request"] = stats.wilcoxon_p(r - margin, alt)
    return undecided(
        check,
        ("latency shift", "latency.shift"),
        tolerance=check.tolerance,
        effect=math.expm1(est),
        ci_low=math.expm1(lo),
        ci_high=math.expm1(hi),
        confidence=1 - 2 * alpha,
        p_value=p,
        n=int(r.size),
        baseline_runs=1,
        candidate_runs=1,
        mde=math.expm1(mde_log) if math.isfinite(mde_log) else math.inf,
        details={"live_ab": details},
    )


def block_medians(r: stats.FloatArray, block_size: int) -> stats.FloatArray:
    """Median of each block of ``block_size`` consecutive values (the last may be shorter).

    Full blocks are sorted row-wise in one call (several times faster than a median per
    row) and their middle read as ``np.median`` does, so the values are its own."""
    full = (r.size // block_size) * block_size
    meds = np.empty(0)
    if full:
        rows = np.sort(r[:full].reshape(-1, block_size), axis=1)
        h = block_size // 2
        meds = rows[:, h] if block_size % 2 else rows[:, h - 1 : h + 1].mean(axis=1)
    if full < r.size:
        meds = np.append(meds, np.median(r[full:]))
    return np.asarray(meds, dtype=np.float64)


def _block_percentiles(x: stats.FloatArray, block_size: int, q: float) -> stats.FloatArray:
    """Percentile q of each block of ``block_size`` consecutive values (the last may be
    shorter), every full block in one vectorised call. A sequential look can keep the
    blocks already closed and compute only the new ones: blocks never change once full."""
    full = (x.size // block_size) * block_size
    out = np.empty(0)
    if full:  # sorted rows: the percentile's selection then costs next to nothing
        out = np.percentile(np.sort(x[:full].reshape(-1, block_size), axis=1), q, axis=1)
    if full < x.size:
        out = np.append(out, np.percentile(x[full:], q))
    return np.asarray(out, dtype=np.float64)


def _block_t(
    blocks: stats.FloatArray, margin: float, alpha: float, alt: stats.Alternative
) -> tuple[float, float, float, float, float]:
    from scipy.stats import t as t_dist

    k = blocks.size
    est = float(np.mean(blocks))
    if k < 2:
        return est, -math.inf, math.inf, 1.0, math.inf
    se = float(np.std(blocks, ddof=1)) / math.sqrt(k)
    tcrit = float(t_dist.ppf(1 - alpha, k - 1))
    p = _block_t_p(blocks, margin, alt)
    return est, est - tcrit * se, est + tcrit * se, p, se


def _block_t_p(blocks: stats.FloatArray, margin: float, alt: stats.Alternative) -> float:
    from scipy.stats import t as t_dist

    k = blocks.size
    if k < 2:
        return 1.0
    se = float(np.std(blocks, ddof=1)) / math.sqrt(k)
    est = float(np.mean(blocks))
    if se == 0.0:
        return 0.0 if (est > margin if alt == "greater" else est < margin) else 1.0
    tstat = (est - margin) / se
    return float(t_dist.sf(tstat, k - 1) if alt == "greater" else t_dist.cdf(tstat, k - 1))


def ab_tail_check(
    check: TailCheck,
    a: Sequence[float],
    b: Sequence[float],
    *,
    alpha: float,
    power: float,
    batch: int,
    resamples: int,
    seed: int,
    block_size: int = 0,
    test: str = "batch+block",
) -> CheckResult:
    """A latency percentile of B against A: paired block bootstrap of the ratio, and (for
    the block-robust tests) a t-test on the per-block percentile ratios."""
    xa, xb = _positive(a, "baseline (A)"), _positive(b, "candidate (B)")
    if xa.size != xb.size:
        raise ValueError(f"arms differ in length ({xa.size} vs {xb.size})")
    q = check.percentile
    margin_ratio = 1 + check.tolerance
    t = stats.grouped_bootstrap_quantile_ratio(
        xb,
        xa,
        q,
        margin_ratio,
        alpha,
        group=batch,
        resamples=resamples,
        seed=seed,
        alternative=_alt(check.mode),
    )
    mde_log = math.log(margin_ratio) + stats.mde_z(t.se_log, alpha, power)
    p, lo, hi = t.p_value, t.ci_low, t.ci_high
    p_block = None
    if block_size and test in ("batch+block", "block"):
        # the same intersection-union as the shift: per-block log percentile ratios, t-test
        blocks = np.log(
            _block_percentiles(xb, block_size, q) / _block_percentiles(xa, block_size, q)
        )
        m = math.log(margin_ratio)
        _, blo, bhi, p_block, bse = _block_t(blocks, m, alpha, _alt(check.mode))
        p = max(p, p_block)
        lo, hi = min(lo, math.exp(blo)), max(hi, math.exp(bhi))
        mde_log = max(mde_log, m + stats.mde_t(bse, max(1, blocks.size - 1), alpha, power))
    return undecided(
        check,
        (f"latency p{q:g}", f"latency.p{q:g}"),
        tolerance=check.tolerance,
        effect=t.ratio - 1,
        ci_low=lo - 1,
        ci_high=hi - 1,
        confidence=1 - 2 * alpha,
        p_value=p,
        n=t.n,
        baseline_runs=1,
        candidate_runs=1,
        mde=math.expm1(mde_log),
        details={
            "live_ab": {
                "test": "paired block bootstrap of the percentile ratio B/A",
                "a_us": float(np.percentile(xa, q)),
                "b_us": float(np.percentile(xb, q)),
                "bootstrap_resamples": resamples,
                "group": batch,
                "p_bootstrap": t.p_value,
                "p_block_t": p_block,
            }
        },
    )


def ab_checks(
    policy: Policy, a: Sequence[float], b: Sequence[float], *, block_size: int
) -> list[CheckResult]:
    """Every latency check of the policy on one interleaved A/B replay (not yet decided:
    pass them with the run's other checks to ``gate.judge.decide``)."""
    out: list[CheckResult] = []
    for name, metric, spec in latency_specs(policy):
        res = guarded(
            partial(_ab_check, spec, a, b, policy, block_size),
            name=name,
            metric=metric,
            **flags(spec),
        )
        out.append(res)
    return out


def _ab_check(
    spec: ShiftCheck | TailCheck,
    a: Sequence[float],
    b: Sequence[float],
    policy: Policy,
    block_size: int,
) -> CheckResult:
    lp = policy.latency
    if len(a) < lp.min_requests:
        raise ValueError(f"{len(a)} requests is below latency.min_requests={lp.min_requests}")
    if isinstance(spec, ShiftCheck):
        return ab_shift_check(
            spec,
            a,
            b,
            alpha=policy.alpha,
            power=policy.power,
            batch=policy.ab.batch,
            block_size=block_size,
            test=policy.ab.test,
        )
    return ab_tail_check(
        spec,
        a,
        b,
        alpha=policy.alpha,
        power=policy.power,
        batch=policy.ab.batch,
        resamples=lp.bootstrap_resamples,
        seed=policy.seed,
        block_size=block_size,
        test=policy.ab.test,
    )


def ab_noise(c: CheckResult) -> Noise:
    """The power warning's words for a latency check of a live A/B replay: a sequential
    session decides with more rounds, a fixed replay with longer traffic."""
    return Noise(
        "slowdown",
        f"{c.n} request pairs",
        BUDGET_HINT
        if "sequential" in c.details
        else "use longer traffic (gate calibrate shows what this machine supports)",
    )
