"""Seeded simulation of the latency judges: false alarms and power, side by side.

    .venv/bin/python benchmarks/judge_simulation.py --sims 1000 \
        --out benchmarks/results/judge-simulation.json

Latency model (log scale, per request i of a replay): a payload cost shared by every replay
of request i (clustered payloads), a lognormal body (AR(1) noise, φ = 0.5: the server's
short-range autocorrelation), a heavy tail (2% of requests slowed by a factor e^Exp(1)), a
slow drift within a run (a random sinusoid, ±2%), and for every freshly started server a
run level drawn with sd 10% (measured here: run medians ±15%, DESIGN.md §5). Same seeds,
same data for every rule in a scenario, so the rates compare side by side.

Scenarios: A/A (no change), a slowdown exactly at the tolerance (the edge of H0: must not
block more than alpha), and twice the tolerance (power). Rules:

* naive "p95 within 10%" and "median within 5%" on one baseline run (what teams do today);
* per-request Wilcoxon alone against one stored run (DESIGN.md §5 as first written);
* the stored-baseline gate judge (K baseline runs, drift-aware), latency shift check;
* live A/B, interleaved blocks of 100, with four choices of test: per request, batch
  means of 10, block medians (t-test), and batch ∩ block (the default: blocks only when
  both agree).

A gate judge "blocks" when its verdict is BLOCKED; INCONCLUSIVE is counted apart.
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

from gate import stats
from gate.app.ab_repository import ab_schedule
from gate.config.policy import Mode, ShiftCheck
from gate.judge.decide import decide
from gate.judge.latency import latency_shift_check
from gate.judge.live_ab import ab_shift_check
from gate.result import Verdict


@dataclass(frozen=True)
class Noise:
    body_sd: float = 0.15  # per-request lognormal body (log scale)
    phi: float = 0.5  # AR(1) coefficient of the body
    tail_p: float = 0.02  # share of requests in the heavy tail
    drift: float = 0.02  # amplitude of the slow within-run drift (log scale)
    run_sd: float = 0.10  # level of a freshly started server (log scale)
    payload_sd: float = 0.3  # per-request payload cost, shared by all replays


def _noise(rng: np.random.Generator, length: int, nz: Noise) -> np.ndarray:
    e = rng.standard_normal(length) * nz.body_sd * math.sqrt(1 - nz.phi**2)
    body = lfilter([1.0], [1.0, -nz.phi], e)
    tail = np.where(rng.uniform(size=length) < nz.tail_p, rng.exponential(1.0, length), 0.0)
    t = np.linspace(0.0, 1.0, length)
    drift = nz.drift * np.sin(2 * np.pi * (rng.uniform(0.3, 1.5) * t + rng.uniform()))
    return np.asarray(body + tail + drift)


def stored_runs(
    rng: np.random.Generator, payload: np.ndarray, k: int, nz: Noise, shift: float
) -> list[np.ndarray]:
    """K replays, each on a fresh server (own run level), in µs."""
    n = payload.size
    return [
        500.0 * np.exp(payload + rng.normal(0, nz.run_sd) + _noise(rng, n, nz) + shift)
        for _ in range(k)
    ]


def ab_replay(
    rng: np.random.Generator, payload: np.ndarray, nz: Noise, shift: float, block: int
) -> tuple[np.ndarray, np.ndarray]:
    """One server, both arms interleaved in blocks (the order gate.ab.ab_schedule sends)."""
    n = payload.size
    level = rng.normal(0, nz.run_sd)
    seq = _noise(rng, 2 * n, nz)
    a, b = np.empty(n), np.empty(n)
    pos = 0
    for arm, s, e in ab_schedule(n, block):
        m = e - s
        if arm == "A":
            a[s:e] = payload[s:e] + seq[pos : pos + m]
        else:
            b[s:e] = payload[s:e] + seq[pos : pos + m] + shift
        pos += m
    return 500.0 * np.exp(a + level), 500.0 * np.exp(b + level)


def _verdict(check: object, alpha: float) -> Verdict:
    return decide([check], alpha)[1]  # type: ignore[list-item]


def simulate(
    sims: int, n: int, k: int, nz: Noise, seed: int, block: int, ab_only: bool = False
) -> dict[str, object]:
    tol, tol_p95, alpha, power = 0.05, 0.10, 0.05, 0.8
    shift_check = ShiftCheck(tolerance=tol, mode=Mode.REGRESSION)
    scenarios = {
        "A/A": 0.0,
        "at tolerance (+5%)": math.log1p(tol),
        "2x tolerance (+10%)": math.log1p(2 * tol),
    }
    rules = [
        "naive p95 within 10% (1 stored run)",
        "naive median within 5% (1 stored run)",
        "per-request Wilcoxon (1 stored run)",
        f"gate stored-baseline judge (K={k})",
        "live A/B, per-request Wilcoxon",
        "live A/B, batch means of 10",
        "live A/B, block medians t-test",
        "live A/B, batch ∩ block (default)",
    ]
    out: dict[str, object] = {}
    for label, shift in scenarios.items():
        blocked = {r: 0 for r in rules}
        inconclusive = {r: 0 for r in rules}
        shifts: dict[str, list[float]] = {"stored": [], "ab": []}
        rng = np.random.default_rng(seed)
        for _ in range(sims):
            payload = rng.normal(0, nz.payload_sd, n)
            if ab_only:
                a, b = ab_replay(rng, payload, nz, shift, block)
                for rule, test in zip(rules[5:], ("batch", "block", "batch+block"), strict=True):
                    c = ab_shift_check(
                        shift_check,
                        a,
                        b,
                        alpha=alpha,
                        power=power,
                        batch=10,
                        block_size=block,
                        test=test,
                    )
                    if test == "batch+block":
                        shifts["ab"].append(float(c.effect or 0.0))
                    v = _verdict(c, alpha)
                    blocked[rule] += v is Verdict.BLOCKED
                    inconclusive[rule] += v is Verdict.INCONCLUSIVE
                continue
            base = stored_runs(rng, payload, k, nz, 0.0)
            cand = stored_runs(rng, payload, 1, nz, shift)[0]
            blocked[rules[0]] += stats.naive_percentile_rule(cand, base[0], 95, tol_p95)
            blocked[rules[1]] += stats.naive_percentile_rule(cand, base[0], 50, tol)
            r = np.log(cand) - np.log(base[0])
            blocked[rules[2]] += stats.wilcoxon_p(r - math.log1p(tol), "greater") < alpha
            c = latency_shift_check(shift_check, base, [cand], alpha=alpha, power=power)
            shifts["stored"].append(float(c.effect or 0.0))
            v = _verdict(c, alpha)
            blocked[rules[3]] += v is Verdict.BLOCKED
            inconclusive[rules[3]] += v is Verdict.INCONCLUSIVE
            a, b = ab_replay(rng, payload, nz, shift, block)
            for rule, test in zip(
                rules[4:], ("request", "batch", "block", "batch+block"), strict=True
            ):
                c = ab_shift_check(
                    shift_check,
                    a,
                    b,
                    alpha=alpha,
                    power=power,
                    batch=10,
                    block_size=block,
                    test=test,
                )
                if test == "batch+block":
                    shifts["ab"].append(float(c.effect or 0.0))
                v = _verdict(c, alpha)
                blocked[rule] += v is Verdict.BLOCKED
                inconclusive[rule] += v is Verdict.INCONCLUSIVE
        used = rules[5:] if ab_only else rules
        out[label] = {
            "blocked": {r: blocked[r] / sims for r in used},
            "inconclusive": {r: inconclusive[r] / sims for r in used},
            "shift_estimate_sd": {
                m: float(np.std(v, ddof=1)) for m, v in shifts.items() if len(v) > 1
            },
        }
    return {
        "sims": sims,
        "n": n,
        "baseline_runs": k,
        "block": block,
        "seed": seed,
        "noise": asdict(nz),
        "tolerance": tol,
        "alpha": alpha,
        "binomial_2se_at_alpha": 2 * math.sqrt(alpha * (1 - alpha) / sims),
        "scenarios": out,
    }


def table(res: dict[str, object]) -> str:
    sc = res["scenarios"]
    assert isinstance(sc, dict)
    labels = list(sc)
    rules = list(sc[labels[0]]["blocked"])
    head = "| rule | " + " | ".join(f"blocks: {lab}" for lab in labels) + " |"
    lines = [head, "|---" * (len(labels) + 1) + "|"]
    for r in rules:
        cells = []
        for lab in labels:
            b = sc[lab]["blocked"][r]
            i = sc[lab]["inconclusive"][r]
            cells.append(f"{b:.1%}" + (f" (+{i:.1%} inconcl.)" if i else ""))
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1000)
    ap.add_argument("--n", type=int, nargs="+", default=[400, 1000])
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--block", type=int, default=100)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--ab-only", action="store_true", help="only the live A/B rules (long N)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    results = []
    for n in args.n:
        t0 = time.perf_counter()
        res = simulate(args.sims, n, args.k, Noise(), args.seed, args.block, args.ab_only)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        results.append(res)
        print(f"\n## n = {n} requests, {args.sims} simulated runs per cell ({res['seconds']} s)\n")
        print(table(res))
        for lab, v in res["scenarios"].items():  # type: ignore[union-attr]
            print(f"  {lab}: sd of shift estimate {v['shift_estimate_sd']}")
        sys.stdout.flush()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
