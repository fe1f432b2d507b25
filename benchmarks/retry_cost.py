"""What perf_analyzer hangs cost in wall time, now that an attempt's timeout follows its work.

    .venv/bin/python benchmarks/retry_cost.py --runs 100 --hang-rate 0.05 \\
        --out benchmarks/results/retry-cost.json

One real embedded tritonserver serves the demo model; each run is one replay of a live A/B
sized block (``--block`` recorded requests of the demo traffic, ~0.5 s at 200 req/s, plus
``--warmup``) through ``gate.measure.latency.replay`` with the configured cap
(``--cap``, ``measure.timeout_s``) and ``--retries``. perf_analyzer is the real binary behind
a wrapper that hangs (``sleep``) on a run's first attempt with probability ``--hang-rate``
(seeded), the fault perf_analyzer shows now and then. Reported: the wall time of all runs,
the part lost to retries (the failed attempts, as the evidence records them), per hang, and
beside it what the same hangs would have cost with one fixed timeout at the cap (each hang
then costs the whole cap: computed, not waited for).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.inputs.traffic import read_traffic
from gate.measure.latency import ReplaySpec, replay
from gate.measure.perf_analyzer import Pace, write_perf_analyzer_inputs
from gate.servers.local import LocalServer
from gate.tools import Tool, find_perf_analyzer, find_tritonserver


def hanging_wrapper(real: Tool, folder: Path) -> tuple[Tool, Path]:
    """perf_analyzer that hangs once whenever the flag file exists (and removes it)."""
    flag = folder / "hang-next"
    script = folder / "perf_analyzer"
    ld = real.env.get("LD_LIBRARY_PATH", "")
    script.write_text(
        f"""#!/bin/sh
export LD_LIBRARY_PATH="{ld}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"
if [ "$1" != "--version" ] && rm "{flag}" 2>/dev/null; then exec sleep 3600; fi
exec {real.path} "$@"
"""
    )
    script.chmod(0o755)
    return dataclasses.replace(real, path=script, source="benchmark wrapper"), flag


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--hang-rate", type=float, default=0.05)
    ap.add_argument("--block", type=int, default=100, help="recorded requests per run")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--cap", type=float, default=300.0, help="measure.timeout_s")
    ap.add_argument("--retries", type=int, default=2, help="measure.retries")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    hangs = rng.random(args.runs) < args.hang_rate
    traffic = read_traffic(ROOT / "fixtures" / "traffic" / "demo.jsonl.gz")
    block = dataclasses.replace(traffic, requests=traffic.requests[: args.block])
    rows: list[dict[str, float | int]] = []
    with tempfile.TemporaryDirectory(prefix="gate-retry-cost-") as tmp:
        work = Path(tmp)
        pa, flag = hanging_wrapper(find_perf_analyzer(), work)
        repo = ROOT / "fixtures" / "models" / "v1"
        with LocalServer(find_tritonserver(), repo, work / "server.log") as server:
            server.load_model("demo")
            mbs = int(server.model_config("demo").get("max_batch_size", 0))
            inputs = write_perf_analyzer_inputs(block, work, warmup=args.warmup, max_batch_size=mbs)
            spec = ReplaySpec(
                model="demo",
                version=None,
                url=server.http_url,
                protocol="http",
                inputs=inputs,
                timeout_s=args.cap,
                retries=args.retries,
                max_threads=4,
            )
            pace = Pace()
            for i in range(args.runs):
                if hangs[i]:
                    flag.write_text("")
                t0 = time.monotonic()
                lr = replay(pa, spec, work / "pa", index=i, pace=pace)
                wall = time.monotonic() - t0
                assert lr.perf_analyzer is not None
                lost = sum(r.seconds for r in lr.perf_analyzer.retries)
                rows.append(
                    {
                        "run": i,
                        "hang": int(hangs[i]),
                        "attempts": lr.perf_analyzer.attempts,
                        "wall_s": round(wall, 3),
                        "lost_s": round(lost, 3),
                        "timeouts_s": sum(r.timeout_s for r in lr.perf_analyzer.retries),
                    }
                )
                print(f"  run {i + 1}/{args.runs}: {rows[-1]}", file=sys.stderr)
    report = summarize(rows, args.cap)
    print(json.dumps(report["summary"], indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, **report}))
    return 0


def summarize(rows: list[dict[str, float | int]], cap: float) -> dict[str, object]:
    total = sum(float(r["wall_s"]) for r in rows)
    lost = sum(float(r["lost_s"]) for r in rows)
    hangs = sum(int(r["hang"]) for r in rows)
    retried = sum(1 for r in rows if int(r["attempts"]) > 1)
    clean = [float(r["wall_s"]) for r in rows if int(r["attempts"]) == 1]
    fixed = total - lost + hangs * cap  # the same runs if every hang had cost the whole cap
    summary = {
        "runs": len(rows),
        "hangs_injected": hangs,
        "runs_retried": retried,
        "wall_s": round(total, 1),
        "lost_to_retries_s": round(lost, 1),
        "lost_share": round(lost / total, 3) if total else 0.0,
        "lost_per_hang_s": round(lost / hangs, 1) if hangs else 0.0,
        "median_clean_run_s": round(float(np.median(clean)), 2) if clean else None,
        "fixed_cap_wall_s": round(fixed, 1),
        "fixed_cap_lost_share": round(hangs * cap / fixed, 3) if fixed else 0.0,
        "wall_ratio_fixed_cap_to_now": round(fixed / total, 1) if total else None,
    }
    return {"summary": summary, "runs": rows}


if __name__ == "__main__":
    raise SystemExit(main())
