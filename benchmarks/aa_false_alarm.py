"""Cross-run A/A false-alarm rate of the gate's latency judge on this machine, beside the
rules it replaces. Run by hand (and as a smoke run in CI with --runs 4):

    .venv/bin/python benchmarks/aa_false_alarm.py --runs 12 --out reports/aa.json

It replays the demo traffic N times against the demo model, each on a freshly started
embedded tritonserver, then treats every run as a candidate against baselines made of the
others. No model changed, so every BLOCKED is a false alarm. Compared side by side on the
same runs:

* naive "p95 within 10%" (one baseline run; every ordered pair),
* naive "median within 5%" (one baseline run; every ordered pair),
* per-request paired Wilcoxon test alone, one stored run (the DESIGN.md §5 failure mode),
* gate's judge with the policy (K baseline runs, drift-aware): each candidate against
  ``--sets`` seeded random K-subsets of the other runs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate import stats
from gate.app.record import run_measure
from gate.config.config import load_config
from gate.config.policy import load_policy
from gate.judge.latency import judge_latency
from gate.result import Verdict


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", type=Path, default=ROOT / "examples" / "demo" / "gate.yaml")
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--k", type=int, default=3, help="baseline runs per judge call")
    ap.add_argument("--sets", type=int, default=20, help="baseline subsets per candidate")
    ap.add_argument("--samples", type=Path, help="reuse runs from a saved run.json")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "aa-false-alarm.json")
    args = ap.parse_args()

    cfg = load_config(args.config)
    policy = load_policy(cfg.policy)
    t0 = time.perf_counter()
    if args.samples:
        runs_json = json.loads(args.samples.read_text())["runs"]
        runs = [np.asarray(r["latencies_us"]) for r in runs_json]
    else:
        res, _ = run_measure(
            cfg,
            args.config,
            store=False,
            runs=args.runs,
            progress=lambda m: print("  ·", m, file=sys.stderr),
        )
        if res.error:
            print(f"replay failed: {res.error.message}", file=sys.stderr)
            return 3
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".runs.json").write_text(res.to_json())
        runs = [np.asarray(r.latencies_us) for r in res.runs]
    measure_s = time.perf_counter() - t0
    n = len(runs)
    alpha = policy.alpha
    tol = policy.latency.shift.tolerance
    margin = math.log1p(tol)

    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    naive95 = sum(stats.naive_percentile_rule(runs[i], runs[j], 95, 0.10) for i, j in pairs)
    naive50 = sum(stats.naive_percentile_rule(runs[i], runs[j], 50, tol) for i, j in pairs)
    wil = sum(
        stats.wilcoxon_p(np.log(runs[i]) - np.log(runs[j]) - margin, "greater") < alpha
        for i, j in pairs
    )

    rng = random.Random(policy.seed)
    calls = blocked = 0
    shift_effects = []
    t1 = time.perf_counter()
    for c in range(n):
        others = [r for r in range(n) if r != c]
        subsets = list(itertools.combinations(others, args.k))
        rng.shuffle(subsets)
        for subset in subsets[: args.sets]:
            checks, verdict, _ = judge_latency(policy, [runs[b] for b in subset], [runs[c]])
            calls += 1
            blocked += verdict is Verdict.BLOCKED
            shift_effects.append(checks[0].effect)
    judge_s = time.perf_counter() - t1

    medians = [float(np.median(r)) for r in runs]
    out = {
        "runs": n,
        "requests_per_run": int(runs[0].size),
        "alpha": alpha,
        "tolerance": tol,
        "run_medians_us": [round(m, 1) for m in medians],
        "run_median_spread": (max(medians) - min(medians)) / float(np.median(medians)),
        "naive_p95_within_10pct": {"false_alarms": naive95, "comparisons": len(pairs)},
        "naive_median_within_tol": {"false_alarms": naive50, "comparisons": len(pairs)},
        "wilcoxon_single_run": {"false_alarms": int(wil), "comparisons": len(pairs)},
        "gate_judge": {
            "false_alarms": blocked,
            "comparisons": calls,
            "baseline_runs": args.k,
            "shift_estimate_sd": float(np.std(shift_effects, ddof=1)),
        },
        "measure_seconds": round(measure_s, 1),
        "judge_seconds_per_call": round(judge_s / max(calls, 1), 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(
        f"{n} fresh-server runs of {runs[0].size} requests; run medians (µs): "
        f"{', '.join(f'{m:.0f}' for m in medians)}"
    )
    for name in (
        "naive_p95_within_10pct",
        "naive_median_within_tol",
        "wilcoxon_single_run",
        "gate_judge",
    ):
        d = out[name]
        assert isinstance(d, dict)
        rate = d["false_alarms"] / d["comparisons"]
        print(
            f"  {name:28} {d['false_alarms']:4d}/{d['comparisons']:<5d} = {rate:6.1%}"
            f"   (alpha {alpha:g})"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
