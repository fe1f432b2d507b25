"""Seeded simulation of the memory and throughput checks beside the rules they replace.

    .venv/bin/python benchmarks/resources_simulation.py --reps 1000 --out reports/resources.json

Uses the same generators as the tests (``tests/test_memory_checks.py``: memory series with
run-to-run spread, a ramp, AR(1) noise and spikes, in 4 KiB pages; ``tests/
test_throughput_checks.py``: windows with run drift and AR(1) noise); K = 3 baseline runs,
1 candidate run, default policy unless a row says otherwise. No server: it measures the
statistics, not the machine. Rates only, no times.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import test_memory_checks as mem
import test_throughput_checks as thr

from gate.config.policy import MemoryPolicy, Policy, ThroughputPolicy


def rate(reps: int, seed: int, trial: Callable[[np.random.Generator], bool]) -> float:
    rng = np.random.default_rng(seed)
    return sum(trial(rng) for _ in range(reps)) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    n = args.reps
    tight = Policy(
        memory=MemoryPolicy(tolerance=0.02, slack_mib=0), throughput=ThroughputPolicy(enabled=False)
    )
    allowed = 0.10 * 103.0 + 32.0  # default +10% + 32 MiB on a ~103 MiB model

    def mem_trial(
        level_c: float, level_b: float = 40.0, policy: Policy = mem.POLICY
    ) -> Callable[[np.random.Generator], bool]:
        def t(rng: np.random.Generator) -> bool:
            base = [mem.sim_run(rng, level_b) for _ in range(3)]
            return mem.verdict_of(base, [mem.sim_run(rng, level_c)], policy) == "fail"

        return t

    def mem_naive(q: str) -> Callable[[np.random.Generator], bool]:
        def t(rng: np.random.Generator) -> bool:
            base = [mem.sim_run(rng, 40.0) for _ in range(3)]
            cand = [mem.sim_run(rng, 40.0)]
            if q == "peak":
                return mem.naive_peak_rule(base, cand, 0.10)
            b = np.median([v for r in base for v in r.series["host"].attributable])
            return bool(np.median(cand[0].series["host"].attributable) > 1.10 * b)

        return t

    def tp_trial(drop: float, sd: float) -> Callable[[np.random.Generator], bool]:
        def t(rng: np.random.Generator) -> bool:
            base = [thr.sim_run(rng, 3000.0, sd_run=sd) for _ in range(3)]
            return thr.status(base, [thr.sim_run(rng, 3000.0 * (1 - drop), sd_run=sd)]) == "fail"

        return t

    def tp_naive(rng: np.random.Generator) -> bool:
        base = [thr.sim_run(rng, 3000.0, sd_run=0.05) for _ in range(3)]
        cand = thr.sim_run(rng, 3000.0, sd_run=0.05)
        b = np.mean([np.mean(r.levels[0].windows) for r in base])
        return bool(np.mean(cand.levels[0].windows) < 0.9 * b)

    rows = [
        ("memory A/A, 40 MiB model: gate (+10% + 32 MiB)", rate(n, 1, mem_trial(40.0))),
        ("memory A/A: naive 'peak within +10%'", rate(n, 1, mem_naive("peak"))),
        ("memory A/A: naive 'median within +10%'", rate(n, 1, mem_naive("median"))),
        (
            "memory at the margin (tol 2%, no slack): gate",
            rate(n, 2, mem_trial(200.0 + 0.02 * 203.0, 200.0, tight)),
        ),
        (
            "memory step 1.25 x allowed: gate power",
            rate(n, 3, mem_trial(100 + 1.25 * allowed, 100)),
        ),
        ("memory step 2 x allowed: gate power", rate(n, 3, mem_trial(100 + 2 * allowed, 100))),
        ("throughput A/A, 5% drift: gate (tol 10%)", rate(n, 4, tp_trial(0.0, 0.05))),
        ("throughput A/A: naive 'mean within -10%'", rate(n, 4, tp_naive)),
        ("throughput at the margin (-10%), 3% drift: gate", rate(n, 5, tp_trial(0.10, 0.03))),
        ("throughput -20% (2 x tol), 2% drift: gate power", rate(n, 6, tp_trial(0.20, 0.02))),
        ("throughput -30% (3 x tol), 2% drift: gate power", rate(n, 6, tp_trial(0.30, 0.02))),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario (K=3 baseline runs, 1 candidate run)':<{width}}  rate  (reps {n})")
    for name, r in rows:
        print(f"{name:<{width}}  {r:6.1%}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"reps": n, "rows": dict(rows)}, indent=2))


if __name__ == "__main__":
    main()
