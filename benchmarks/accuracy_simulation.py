"""Seeded simulation of the paired accuracy check against the naive rule, side by side.

Each simulated run draws an eval set of N samples; the baseline is right on each with
probability ``acc``; the candidate flips a baseline-right sample to wrong with probability
``(f + drop) / acc`` and a baseline-wrong one to right with probability ``f / (1 - acc)``, so
its accuracy is lower by ``drop`` in expectation and about ``2f + drop`` of the samples change
(a retrained model never agrees with its predecessor everywhere). Per run we record whether
each rule blocks:

* gate, ``regression`` mode: Tango score test of drop > tolerance at alpha (blocks harm shown);
* gate, ``non_inferiority`` mode (the default): blocks unless drop < tolerance is shown;
* naive: blocks when the observed accuracy is lower than the baseline's by more than the
  tolerance (``acc_b - acc_c > tol``), the rule most CI scripts use.

    .venv/bin/python benchmarks/accuracy_simulation.py --runs 2000 --out reports/acc-sim.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gate.stats import accuracy as sa


def simulate(
    *,
    n: int,
    drop: float,
    runs: int,
    seed: int,
    acc: float = 0.93,
    flip: float = 0.01,
    tolerance: float = 0.01,
    alpha: float = 0.05,
) -> dict[str, float]:
    """Block rates of the three rules over ``runs`` seeded runs (per-sample flips)."""
    rng = np.random.default_rng(seed)
    block = {"gate_regression": 0, "gate_non_inferiority": 0, "naive": 0}
    p_loss = (flip + drop) / acc
    p_gain = flip / (1 - acc)
    for _ in range(runs):
        b = rng.random(n) < acc
        u = rng.random(n)
        c = np.where(b, u >= p_loss, u < p_gain)
        reg = sa.paired_proportion_drop(b, c, tolerance, alpha, "greater")
        ni = sa.paired_proportion_drop(b, c, tolerance, alpha, "less")
        block["gate_regression"] += reg.p_value < alpha
        block["gate_non_inferiority"] += not ni.p_value < alpha
        block["naive"] += (b.mean() - c.mean()) > tolerance
    return {k: v / runs for k, v in block.items()}


def table(runs: int, seed: int, sizes: list[int], tolerance: float) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        for mult in (0.0, 1.0, 2.0):
            rates = simulate(
                n=n,
                drop=mult * tolerance,
                runs=runs,
                seed=seed + n + int(mult * 10),
                tolerance=tolerance,
            )
            rows.append({"n": n, "true_drop": mult * tolerance, **rates})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--sizes", default="500,2000,5000")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    rows = table(args.runs, args.seed, [int(s) for s in args.sizes.split(",")], args.tolerance)
    print(
        f"block rate over {args.runs} runs; acc 0.93, 1% flips each way, tolerance "
        f"{args.tolerance:g}, alpha 0.05"
    )
    print("| N | true drop | gate regression | gate non-inferiority | naive |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n']} | {r['true_drop']:.3f} | {r['gate_regression']:.3f} | "
            f"{r['gate_non_inferiority']:.3f} | {r['naive']:.3f} |"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"runs": args.runs, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
