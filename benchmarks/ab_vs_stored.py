"""Live A/B against the stored-baseline judge on this machine, side by side in one session.

    .venv/bin/python benchmarks/ab_vs_stored.py --runs 10 \
        --out benchmarks/results/ab-vs-stored.json

Real tritonserver and perf_analyzer, the demo model against itself (A/A), interleaved so
both modes see the same period of machine load: for each of ``--runs`` rounds, one replay on
a freshly started server (stored-baseline mode) and one interleaved A/B replay (v1 as both
arms, blocks of 100). Then, per mode:

* A/A false alarms of the gate judge (default policy): stored baseline = each run as the
  candidate against every 3-run subset of the other runs (K = 3, as ``baseline record``);
  live A/B = each A/B replay judged on its own;
* the spread (sd) of the latency-shift estimate over those A/A comparisons;
* the smallest regression each detects with 95% power, measured by injecting a slowdown
  factor into the real A/A data (candidate run / arm B multiplied by 1 + δ, the real
  noise kept) over a grid of δ and counting BLOCKED verdicts.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.app.live_ab import measure_ab
from gate.app.prepare import prepare
from gate.app.replays import measure_runs
from gate.app.run import new_run
from gate.config.config import load_config
from gate.config.policy import load_policy
from gate.judge.decide import decide_policy
from gate.judge.latency import latency_checks
from gate.judge.live_ab import ab_checks
from gate.result import Verdict

DELTAS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]


def _shift(checks: list) -> float:  # type: ignore[type-arg]
    return float(next(c.effect for c in checks if c.metric == "latency.shift"))


def judge_stored(policy, runs: list[list[float]], delta: float, k: int, cap: int):  # type: ignore[no-untyped-def]
    out = []
    rng = np.random.default_rng(7)
    for i, cand in enumerate(runs):
        others = [r for j, r in enumerate(runs) if j != i]
        subsets = list(itertools.combinations(range(len(others)), k))
        if len(subsets) > cap:
            subsets = [subsets[x] for x in rng.choice(len(subsets), cap, replace=False)]
        c = (np.asarray(cand) * (1 + delta)).tolist()
        for sub in subsets:
            checks, _ = latency_checks(policy, [others[x] for x in sub], [c])
            checks, verdict, _ = decide_policy(checks, policy)
            out.append((verdict.value, _shift(checks)))
    return out


def judge_ab(policy, pairs: list[tuple[list[float], list[float]]], delta: float):  # type: ignore[no-untyped-def]
    out = []
    for a, b in pairs:
        bb = (np.asarray(b) * (1 + delta)).tolist()
        checks, verdict, _ = decide_policy(ab_checks(policy, a, bb, block_size=100), policy)
        out.append((verdict.value, _shift(checks)))
    return out


def summarise(rows: list[tuple[str, float]]) -> dict[str, float]:
    v = [r[0] for r in rows]
    e = np.array([r[1] for r in rows])
    return {
        "n": len(rows),
        "blocked": v.count(Verdict.BLOCKED.value) / len(rows),
        "inconclusive": v.count(Verdict.INCONCLUSIVE.value) / len(rows),
        "shift_mean": float(e.mean()),
        "shift_sd": float(e.std(ddof=1)) if e.size > 1 else math.nan,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "examples" / "demo" / "gate.yaml")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--cap", type=int, default=20, help="3-subsets per candidate, at most")
    ap.add_argument("--samples", type=Path, help="re-judge saved samples, no measuring")
    ap.add_argument("--deltas", type=float, nargs="+", default=DELTAS)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    policy = load_policy(None)
    t0 = time.time()
    if args.samples:
        data = json.loads(args.samples.read_text())
    else:
        cfg = load_config(args.config)
        cfg = cfg.model_copy(update={"policy": None})
        progress = lambda m: print("  ·", m, file=sys.stderr)  # noqa: E731
        run = new_run("benchmark", args.config, progress, Path("/tmp/gate-bench-logs"))
        prep = prepare(run, cfg, args.config, None)
        stored, pairs, env = [], [], {}
        for i in range(args.runs):
            measured = measure_runs(run, prep, 1, label=f"aa{i}")
            stored += [r.latencies_us for r in measured.runs]
            env = env or measured.environment
            info = measure_ab(run, prep, prep.model.model_dir).info
            pairs.append((info.latencies_a_us, info.latencies_b_us))
            print(f"round {i + 1}/{args.runs} done ({time.time() - t0:.0f} s)", file=sys.stderr)
        data = {"stored": stored, "pairs": pairs, "environment": env}
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.with_suffix(".samples.json").write_text(json.dumps(data))
    res: dict[str, object] = {"runs": len(data["stored"]), "k": args.k, "deltas": {}}
    for d in args.deltas:
        s = summarise(judge_stored(policy, data["stored"], d, args.k, args.cap))
        a = summarise(judge_ab(policy, [tuple(p) for p in data["pairs"]], d))
        res["deltas"][f"{d:g}"] = {"stored": s, "live_ab": a}  # type: ignore[index]
        print(
            f"δ = {d:>5.0%}: stored K={args.k} blocks {s['blocked']:6.1%} (inconcl. "
            f"{s['inconclusive']:5.1%}, shift sd {s['shift_sd']:.1%}) | live A/B blocks "
            f"{a['blocked']:6.1%} (inconcl. {a['inconclusive']:5.1%}, shift sd {a['shift_sd']:.1%})"
        )
        sys.stdout.flush()
    for mode in ("stored", "live_ab"):
        ok = [float(d) for d, v in res["deltas"].items() if v[mode]["blocked"] >= 0.95]  # type: ignore[union-attr]
        res[f"smallest_95pct_{mode}"] = min(ok) if ok else None
    res["seconds"] = round(time.time() - t0, 1)
    print(json.dumps({k: v for k, v in res.items() if k != "deltas"}))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
