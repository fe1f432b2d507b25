"""Seeded simulation of the sequential live A/B judge: false alarms, coverage, decisiveness.

    .venv/bin/python benchmarks/sequential_simulation.py --sims 10000 \
        --out benchmarks/results/sequential-simulation.json

One simulated check is a live A/B session: each round replays the recorded traffic once per
arm in interleaved blocks (A B, B A, …: ``gate.app.ab_repository.ab_schedule``), the judge looks
after every round (``gate.judge.sequential``) and stops as soon as the check is decided, or
at the budget (``--rounds``). Latency model on the log scale, per request:

* a payload cost shared by both arms (what makes pairing by request index worthwhile);
* an AR(1) body (φ = 0.5) with Student-t(4) innovations: heavy tails and short-range
  autocorrelation, continuous over the session's timeline;
* 2% of requests in a heavy tail (exponential on the log scale);
* a slow sinusoidal drift over the session (±3%) and **load regimes**: a neighbour's job that
  starts and stops at random times (Poisson, mean 3 per round) and moves every request by a
  level drawn with sd 8% while it runs, so load changes between (and inside) blocks;
* the candidate's effect: a multiplicative shift of every request of arm B.

Scenarios: A/A, +1%, at the tolerance (+5%: the edge of H0, must not block more than α),
+10%, +20%, 10x. Reported per scenario: how often BLOCKED / PASS / INCONCLUSIVE, the mean
number of rounds to a decision, and how often the reported interval covers the true shift
(its stated confidence is at least 1 - 2α).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.config.policy import ABPolicy
from gate.judge.sequential import (
    Estimate,
    LookPoint,
    Outcome,
    Spending,
    block_pair_units,
    judge_sequence,
    mean_of_units,
    trimmed_mean_of_units,
)

ESTIMATORS = {"trimmed": trimmed_mean_of_units, "mean": mean_of_units}


@dataclass(frozen=True)
class Noise:
    payload_sd: float = 0.25
    body_scale: float = 0.05  # Student-t(4) innovations of the AR(1) body
    phi: float = 0.5
    tail_p: float = 0.02
    drift: float = 0.03
    load_sd: float = 0.08  # level of a neighbour's job while it runs
    load_events_per_round: float = 3.0


def session_round(
    rng: np.random.Generator, payload: np.ndarray, nz: Noise, shift: float, block: int
) -> tuple[np.ndarray, np.ndarray]:
    """One round: the traffic replayed once per arm in interleaved blocks, in µs."""
    n = payload.size
    total = 2 * n
    e = rng.standard_t(4, total) * nz.body_scale * math.sqrt(1 - nz.phi**2)
    body = lfilter([1.0], [1.0, -nz.phi], e)
    tail = np.where(rng.uniform(size=total) < nz.tail_p, rng.exponential(1.0, total), 0.0)
    tt = np.linspace(0.0, 1.0, total)
    drift = nz.drift * np.sin(2 * np.pi * (rng.uniform(0.3, 1.5) * tt + rng.uniform()))
    load = np.zeros(total)
    for _ in range(rng.poisson(nz.load_events_per_round)):
        s = rng.integers(0, total)
        e_ = min(total, s + rng.integers(total // 20, total // 2))
        load[s:e_] += rng.normal(0.0, nz.load_sd)
    seq = body + tail + drift + load
    a, b = np.empty(n), np.empty(n)
    pos = 0
    for j, start in enumerate(range(0, n, block)):
        stop = min(n, start + block)
        m = stop - start
        for arm in ("A", "B") if j % 2 == 0 else ("B", "A"):
            x = payload[start:stop] + seq[pos : pos + m]
            if arm == "A":
                a[start:stop] = x
            else:
                b[start:stop] = x + shift
            pos += m
    return 500.0 * np.exp(a), 500.0 * np.exp(b)


def one_session(
    rng: np.random.Generator,
    nz: Noise,
    shift: float,
    *,
    n: int,
    block: int,
    rounds: int,
    margin: float,
    spending: Spending,
    estimator: str = "trimmed",
    pairs: int = 0,
) -> tuple[Outcome, int, bool, float]:
    """(outcome, rounds used, interval covers the true shift, confidence). ``pairs`` > 0:
    each round gives that many throughput-like window-pair units instead of latency blocks."""
    payload = rng.normal(0.0, nz.payload_sd, n)
    units: list[np.ndarray] = []
    estimates: list[Estimate | None] = []
    for k in range(1, rounds + 1):
        if pairs:
            units.append(pair_units(rng, shift, pairs))
        else:
            a, b = session_round(rng, payload, nz, shift, block)
            units.append(block_pair_units(a, b, block))
        estimates.append(ESTIMATORS[estimator](np.concatenate(units)))
        points = [LookPoint(j / rounds, final=j == rounds) for j in range(1, k + 1)]
        look = judge_sequence(estimates, points, margin=margin, worse=1, spending=spending)
        if look.decided or k == rounds:
            covers = look.ci_low <= shift <= look.ci_high
            return look.outcome, k, covers, look.confidence
    raise AssertionError("unreachable")


def pair_units(rng: np.random.Generator, shift: float, m: int) -> np.ndarray:
    """``m`` window-pair units (log ratio of the arms' throughput): sd 0.06, and one pair in
    five disturbed (sd 0.3), as measured on this machine's live sessions (benchmarks/README.md)."""
    disturbed = rng.random(m) < 0.2
    return shift + np.where(disturbed, rng.normal(0.0, 0.3, m), rng.normal(0.0, 0.06, m))


SCENARIOS = {
    "A/A": 0.0,
    "+1%": math.log1p(0.01),
    "at tolerance (+5%)": math.log1p(0.05),
    "+10%": math.log1p(0.10),
    "+20%": math.log1p(0.20),
    "10x": math.log(10.0),
}


def simulate(
    sims: int,
    *,
    n: int,
    block: int,
    rounds: int,
    alpha: float,
    rho: float,
    seed: int,
    nz: Noise,
    tolerance: float = 0.05,
    estimator: str = "trimmed",
    pairs: int = 0,
) -> dict[str, object]:
    spending = Spending(alpha, rho)
    out: dict[str, object] = {}
    for label, shift in SCENARIOS.items():
        rng = np.random.default_rng(seed)
        counts = {o.value: 0 for o in Outcome}
        used: list[int] = []
        covered = 0
        conf: list[float] = []
        for _ in range(sims):
            o, k, cov, c = one_session(
                rng,
                nz,
                shift,
                n=n,
                block=block,
                rounds=rounds,
                margin=math.log1p(tolerance),
                spending=spending,
                estimator=estimator,
                pairs=pairs,
            )
            counts[o.value] += 1
            used.append(k)
            covered += cov
            conf.append(c)
        out[label] = {
            "blocked": counts["fail"] / sims,
            "passed": counts["pass"] / sims,
            "inconclusive": counts["inconclusive"] / sims,
            "mean_rounds": float(np.mean(used)),
            "coverage": covered / sims,
            "min_confidence": float(np.min(conf)),
        }
    return {
        "sims": sims,
        "n": n,
        "block": block,
        "rounds": rounds,
        "alpha": alpha,
        "rho": rho,
        "seed": seed,
        "tolerance": tolerance,
        "estimator": estimator,
        "units": f"{pairs} window pairs per round" if pairs else "latency block pairs",
        "noise": asdict(nz),
        "binomial_2se_at_alpha": 2 * math.sqrt(alpha * (1 - alpha) / sims),
        "scenarios": out,
    }


def table(res: dict[str, object]) -> str:
    sc = res["scenarios"]
    assert isinstance(sc, dict)
    lines = [
        "| scenario | BLOCKED | PASS | INCONCLUSIVE | mean rounds | interval covers |",
        "|---|---|---|---|---|---|",
    ]
    for lab, v in sc.items():
        lines.append(
            f"| {lab} | {v['blocked']:.2%} | {v['passed']:.2%} | {v['inconclusive']:.2%} | "
            f"{v['mean_rounds']:.2f} | {v['coverage']:.2%} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sims", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=400, help="requests per round (per arm)")
    ap.add_argument("--block", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=8, help="the budget, in rounds")
    ap.add_argument("--alpha", type=float, default=0.0125, help="one-sided, per check")
    ap.add_argument(
        "--rho",
        type=float,
        default=ABPolicy().rho,
        help="spending shape (default: the policy's ab.rho)",
    )
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument(
        "--estimator",
        choices=sorted(ESTIMATORS),
        default="trimmed",
        help="the units' mean: 20%%-trimmed (the judge's) or plain",
    )
    ap.add_argument(
        "--pairs",
        type=int,
        default=0,
        help="simulate throughput window pairs, this many per round, instead of latency blocks",
    )
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = simulate(
        args.sims,
        n=args.n,
        block=args.block,
        rounds=args.rounds,
        alpha=args.alpha,
        rho=args.rho,
        seed=args.seed,
        nz=Noise(),
        tolerance=args.tolerance,
        estimator=args.estimator,
        pairs=args.pairs,
    )
    res["seconds"] = round(time.perf_counter() - t0, 1)
    print(
        f"{args.sims} sessions per scenario, n={args.n} per round, blocks of {args.block}, "
        f"budget {args.rounds} rounds, alpha {args.alpha} per side, rho {args.rho}, "
        f"{args.estimator} mean of {'window pairs' if args.pairs else 'block pairs'} "
        f"({res['seconds']} s)\n"
    )
    print(table(res))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
