"""CPU time of the whole latency judge, live A/B and stored baseline side by side.

    .venv/bin/python benchmarks/judge_speed.py --sizes 1000000
    # before/after in one run: time another checkout (e.g. `git worktree add /tmp/old <ref>`)
    # alternately with this one, so both see the same machine load
    .venv/bin/python benchmarks/judge_speed.py --sizes 1000000 --compare /tmp/old

"Whole judge" = every latency check of the default policy (shift + p95 with 2000 bootstrap
resamples) followed by ``decide``, from raw per-request latencies (lists of floats, as they
come out of run.json) to the verdict:

* live A/B: ``gate.judge.live_ab.ab_checks`` on one pair of arms, blocks of 100;
* stored baseline: ``gate.judge.latency.latency_checks`` with K = 3 baseline runs and M
  candidate runs (``baseline.runs`` and ``candidate.runs`` defaults: 3 and 1): K×M paired
  tests and bootstraps, K(K−1)/2 + M(M−1)/2 run-pair estimates.

Latencies are lognormal (payload cost shared by the runs, per-request noise), continuous or
(``--whole-us``) rounded to whole microseconds as perf_analyzer reports them, which makes
the log ratios heavily tied.

Each (mode, size, checkout) runs in a fresh subprocess, best of ``--repeat``, after a warm-up
judge on 200 requests (imports are not timed). CPU seconds (process time, all threads) are the
figure to compare: on a shared machine wall time includes waiting for a core. Peak memory is
tracemalloc's peak during one judge. Targets (issues 10 and 11): 10^6 pairs <= 3 CPU s in
both modes. Never a timed test: CI runs this as a smoke run only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time, tracemalloc
import numpy as np
sys.path.insert(0, sys.argv[1])
from gate.config.policy import Policy
from gate.judge.decide import decide
from gate.judge.latency import latency_checks
from gate.judge.live_ab import ab_checks
n, mode, repeat, k, m, whole = (int(sys.argv[2]), sys.argv[3], int(sys.argv[4]),
                                int(sys.argv[5]), int(sys.argv[6]), sys.argv[7] == "1")
rng = np.random.default_rng(1)
payload = rng.normal(0, 0.3, n)
def arm(shift=0.0):
    x = 500 * np.exp(payload + rng.normal(0, 0.15, n) + shift)
    return (np.round(x) if whole else x).tolist()
pol = Policy()
if mode == "ab":
    a, b = arm(), arm(0.01)
    def judge(size=n):
        return decide(ab_checks(pol, a[:size], b[:size], block_size=100), pol.alpha)
else:
    base, cand = [arm() for _ in range(k)], [arm(0.01) for _ in range(m)]
    def judge(size=n):
        bs, cs = [r[:size] for r in base], [r[:size] for r in cand]
        return decide(latency_checks(pol, bs, cs)[0], pol.alpha)
judge(200)
best = best_cpu = float("inf")
for _ in range(repeat):
    t, c = time.perf_counter(), time.process_time()
    checks, v = judge()
    best = min(best, time.perf_counter() - t)
    best_cpu = min(best_cpu, time.process_time() - c)
tracemalloc.start(); judge(); _, peak = tracemalloc.get_traced_memory(); tracemalloc.stop()
print(json.dumps({"n": n, "mode": mode, "seconds": best, "cpu_seconds": best_cpu,
                  "tracemalloc_peak_mb": peak / 2**20, "verdict": v.value,
                  "statuses": [c.status.value for c in checks]}))
"""


def _run(root: Path, n: int, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    argv = [str(root), str(n), mode, str(args.repeat), str(args.baseline_runs)]
    p = subprocess.run(
        [sys.executable, "-c", CHILD, *argv, str(args.candidate_runs), str(int(args.whole_us))],
        capture_output=True,
        text=True,
        check=True,
    )
    row: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    row["checkout"] = str(root)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--modes", nargs="+", default=["ab", "stored"], choices=["ab", "stored"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-runs", type=int, default=3, help="K (baseline.runs)")
    ap.add_argument("--candidate-runs", type=int, default=1, help="M (candidate.runs)")
    ap.add_argument("--compare", type=Path, help="another checkout, timed alternately")
    ap.add_argument(
        "--whole-us",
        action="store_true",
        help="latencies in whole microseconds, as perf_analyzer reports them (ties)",
    )
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    roots = [ROOT] + ([args.compare.resolve()] if args.compare else [])
    rows = []
    print(
        f"K = {args.baseline_runs} baseline runs, M = {args.candidate_runs} candidate run(s), "
        f"latencies {'in whole µs' if args.whole_us else 'continuous'}"
    )
    head = "".join(f"  {m + ' CPU s':>12}" for m in args.modes)
    print(f"{'checkout':<28}{'n':>10}{head}  {'peak MB':>8}")
    for n in args.sizes:
        for root in roots:
            got = [_run(root, n, mode, args) for mode in args.modes]
            rows += got
            cells = "".join(f"  {r['cpu_seconds']:12.3f}" for r in got)
            peak = max(r["tracemalloc_peak_mb"] for r in got)
            print(f"{str(root)[-28:]:<28}{n:>10,}{cells}  {peak:8.0f}", flush=True)
    res = {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
