"""Time the whole latency judge on 10^4, 10^5 and 10^6 paired requests; memory with it.

    .venv/bin/python benchmarks/judge_speed.py --out benchmarks/results/judge-speed.json

"Whole judge" = every latency check of the default policy (shift + p95 with 2000 bootstrap
resamples) followed by ``decide``, from raw per-request latencies (lists of floats, as they
come out of run.json) to the verdict:

* live A/B: ``gate.ab.ab_checks`` on one pair of arms (the default latency judge);
* stored baseline: ``gate.judge.latency_checks`` with K = 3 baseline runs and 1 candidate
  run (3 paired tests, 3 baseline-pair estimates, 3 bootstraps).

Each size runs in a fresh subprocess (so one size's caches do not help the next), best of
``--repeat``; peak memory is tracemalloc's peak of Python/numpy allocations during the
judge, plus the process's peak RSS. Wall and CPU (process) seconds are both reported: on a
shared machine the wall time includes waiting for a core; numpy here runs single-threaded
except BLAS matrix products. Targets (2-core machine): 10^6 pairs < 3 s, 10^5 < 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time, tracemalloc
import numpy as np
sys.path.insert(0, sys.argv[1])
from gate.judge.live_ab import ab_checks
from gate.config.policy import Policy
from gate.judge.decide import decide
from gate.judge.latency import latency_checks
n, mode, repeat = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = np.random.default_rng(1)
payload = rng.normal(0, 0.3, n)
def arm(shift=0.0):
    return (500 * np.exp(payload + rng.normal(0, 0.15, n) + shift)).tolist()
pol = Policy()
if mode == "ab":
    a, b = arm(), arm(0.01)
    def judge():
        return decide(ab_checks(pol, a, b, block_size=100), pol.alpha)
else:
    base, cand = [arm() for _ in range(3)], [arm(0.01)]
    def judge():
        return decide(latency_checks(pol, base, cand)[0], pol.alpha)
# warm imports (scipy) on a tiny input so they are not timed
if mode == "ab":
    decide(ab_checks(pol, a[:200], b[:200], block_size=100), pol.alpha)
best = best_cpu = float("inf")
for _ in range(repeat):
    t, c = time.perf_counter(), time.process_time()
    checks, v = judge()
    best = min(best, time.perf_counter() - t)
    best_cpu = min(best_cpu, time.process_time() - c)
tracemalloc.start(); judge(); _, peak = tracemalloc.get_traced_memory(); tracemalloc.stop()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"n": n, "mode": mode, "seconds": best, "cpu_seconds": best_cpu,
                  "tracemalloc_peak_mb": peak / 2**20, "max_rss_mb": rss / 2**20,
                  "verdict": v.value}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--modes", nargs="+", default=["ab", "stored"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = []
    for mode in args.modes:
        for n in args.sizes:
            p = subprocess.run(
                [sys.executable, "-c", CHILD, str(ROOT), str(n), mode, str(args.repeat)],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(p.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{mode:>6} n={n:>9,}  wall {row['seconds']:7.3f} s  "
                f"cpu {row['cpu_seconds']:7.3f} s   tracemalloc peak "
                f"{row['tracemalloc_peak_mb']:8.1f} MB   max RSS {row['max_rss_mb']:7.1f} MB"
            )
            sys.stdout.flush()
    res = {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
