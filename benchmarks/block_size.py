"""How long should a live A/B block be? The A/A latency shift's variance per second of replay.

    .venv/bin/python benchmarks/block_size.py --runs 4 --sizes 20,40,100 \\
        --out benchmarks/results/block-size.json
    .venv/bin/python benchmarks/block_size.py --runs 5 --sizes 20,10,20:w1,20:together \\
        --out benchmarks/results/block-variants.json

A size may carry options: ``:wN`` sets ``baseline.ab_block_warmup`` to N (default 5 warm-up
requests before each block, discarded), ``:together`` replays both arms at the same moment
(``baseline.ab_together``) instead of in alternating slots.

v1 against a copy of itself (``fixtures/models/v1``, signatures off), ``gate traffic synth``'s
default traffic (1000 requests, Poisson arrivals at 100 req/s, seed 0), live A/B with slotted
blocks of each size, latency shift only (tolerance 0.05%, so that a session samples its whole
budget), ``ab.max_duration_s`` 40. Runs are the real CLI (``python -m gate check``); the sizes
take turns within each run, so a drift of the machine's load falls on each alike.

Per session: the 20%-trimmed mean of the block units the judge reads (per block pair, the
median of the per-request log ratios ln(B/A)), its Tukey–McLaughlin standard error, and
``SE² × seconds`` (the variance one second of replay would leave, x1e-4): lower decides a
given change sooner. ``--from DIR`` reads the ``r-SIZE-RUN.json`` files of an earlier run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.judge.live import tail_group
from gate.judge.sequential import trimmed_mean_of_units

CONFIG = """\
version: 1
model: {{name: demo, repository: {repo}}}
launcher: {{kind: local}}
traffic: {{path: {traffic}, warmup_requests: 50}}
baseline:
  store: {work}/store
  model_dir: {base}
  ab_block_size: {size}
  ab_block_warmup: {warmup}
  ab_together: {together}
signatures: {{required: false}}
policy: {work}/policy.yaml
reports: {{dir: {work}/r-{label}}}
"""
POLICY = """\
version: 1
inconclusive: block
latency: {shift: {tolerance: 0.0005}, tails: []}
throughput: {enabled: false}
memory: {enabled: false}
ab: {max_duration_s: 40}
"""


def session(record: dict[str, Any]) -> dict[str, Any]:
    """One session's block units, their trimmed estimate, SE and SE² × seconds."""
    ab = record["ab"]
    size = int(ab["block_size"])
    lr = np.log(np.asarray(ab["latencies_b_us"])) - np.log(np.asarray(ab["latencies_a_us"]))
    pairs = lr.size // size
    units = np.median(lr[: pairs * size].reshape(-1, size), axis=1)
    got = trimmed_mean_of_units(units)
    est, se = got.value, got.se
    seconds = float(record["sampling"]["looks"][-1]["seconds"])
    # the p95 check's units as the judge cuts them: groups of block pairs with about ten
    # requests beyond the p95 per arm, the log ratio of the groups' p95
    width = tail_group(95.0, size) * size
    la = np.log(np.asarray(ab["latencies_a_us"]))
    lb = np.log(np.asarray(ab["latencies_b_us"]))
    groups = la.size // width
    tail = np.percentile(lb[: groups * width].reshape(-1, width), 95, axis=1) - np.percentile(
        la[: groups * width].reshape(-1, width), 95, axis=1
    )
    p95 = trimmed_mean_of_units(tail) if groups >= 3 else None
    return {
        "block_size": size,
        "units": int(units.size),
        "requests_per_arm": int(lr.size),
        "seconds": seconds,
        "estimate": est,
        "se": se,
        "var_seconds_e4": se * se * seconds * 1e4,
        "p95_units": int(groups),
        "p95_estimate": p95.value if p95 else None,
        "p95_var_seconds_e4": p95.se * p95.se * seconds * 1e4 if p95 else None,
    }


def variant(label: str) -> dict[str, Any]:
    """``20``, ``20:w1``, ``20:together``: block size, warm-up per block, arms together."""
    size, *opts = label.split(":")
    got: dict[str, Any] = {"label": label, "size": int(size), "warmup": 5, "together": False}
    for o in opts:
        if o == "together":
            got["together"] = True
        elif o.startswith("w") and o[1:].isdigit():
            got["warmup"] = int(o[1:])
        else:
            raise SystemExit(f"--sizes: unknown option {o!r} in {label!r} (wN or together)")
    return got


def run(
    labels: list[str],
    runs: int,
    out_dir: Path,
    *,
    loaded: bool = False,
    candidate: Path | None = None,
) -> None:
    """``runs`` rounds of one session per variant, in turn; run.json files into out_dir.
    ``loaded``: with ``benchmarks/decisive.py``'s one-core busy loop beside each session;
    ``candidate``: a model folder to replay as arm B instead of v1's copy (an effect's
    estimate per variant: does a variant shrink it?)."""
    from decisive import BusyLoop  # benchmarks/ is this script's folder

    variants = [variant(v) for v in labels]
    work = Path(tempfile.mkdtemp(prefix="gate-block-size-"))
    busy = BusyLoop(300.0 * runs * len(variants))
    try:
        for arm in ("repo", "base"):
            shutil.copytree(
                candidate if arm == "repo" and candidate else ROOT / "fixtures/models/v1/demo",
                work / arm / "demo",
                ignore=shutil.ignore_patterns("*.sig", "__pycache__"),
            )
        (work / "policy.yaml").write_text(POLICY)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        traffic = work / "traffic.jsonl.gz"
        for v in variants:
            (work / f"gate-{v['label']}.yaml").write_text(
                CONFIG.format(
                    repo=work / "repo",
                    traffic=traffic,
                    work=work,
                    base=work / "base" / "demo",
                    size=v["size"],
                    warmup=v["warmup"],
                    together=str(v["together"]).lower(),
                    label=v["label"],
                )
            )
        subprocess.run(
            [sys.executable, "-m", "gate", "traffic", "synth", "--config",
             str(work / f"gate-{variants[0]['label']}.yaml")],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        out_dir.mkdir(parents=True, exist_ok=True)
        for k in range(1, runs + 1):
            for v in variants:
                label = v["label"]
                if loaded:
                    busy.ensure()
                subprocess.run(
                    [sys.executable, "-m", "gate", "check", str(work / f"gate-{label}.yaml"), "-q"],
                    env=env, capture_output=True, check=False, timeout=300,
                )  # fmt: skip
                shutil.copy(work / f"r-{label}" / "run.json", out_dir / f"r-{label}-{k}.json")
                print(f"run {k}, blocks of {label}: done", flush=True)
    finally:
        busy.stop()
        shutil.rmtree(work, ignore_errors=True)


def summarize(folder: Path) -> dict[str, Any]:
    sessions = [
        {
            "file": p.name,
            "variant": p.stem[2:].rsplit("-", 1)[0],
            **session(json.loads(p.read_text())),
        }
        for p in sorted(folder.glob("r-*-*.json"))
    ]
    by_size: dict[str, list[dict[str, Any]]] = {}
    for s in sessions:
        by_size.setdefault(s["variant"], []).append(s)
    summary = {
        str(size): {
            "sessions": len(rows),
            "units_median": statistics.median(r["units"] for r in rows),
            "se_median": statistics.median(r["se"] for r in rows),
            "var_seconds_e4": sorted(round(r["var_seconds_e4"], 1) for r in rows),
            "var_seconds_e4_median": statistics.median(r["var_seconds_e4"] for r in rows),
            "estimates": [round(math.expm1(r["estimate"]), 4) for r in rows],
            "p95_var_seconds_e4_median": statistics.median(
                r["p95_var_seconds_e4"] for r in rows if r["p95_var_seconds_e4"] is not None
            ),
        }
        for size, rows in by_size.items()
    }
    return {"sessions": sessions, "by_block_size": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--sizes", default="20,40,100", help="block sizes, each with options")
    ap.add_argument("--loaded", action="store_true", help="a one-core busy loop beside")
    ap.add_argument("--candidate", type=Path, help="arm B's model folder (default: v1)")
    ap.add_argument("--from", dest="src", type=Path, help="summarize run.json files of a run")
    ap.add_argument("--keep", type=Path, help="where the sessions' run.json files go")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    folder = args.src
    if folder is None:
        folder = args.keep or Path(tempfile.mkdtemp(prefix="gate-block-size-runs-"))
        run(
            args.sizes.split(","),
            args.runs,
            folder,
            loaded=args.loaded,
            candidate=args.candidate,
        )
    result = summarize(folder)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for size, row in result["by_block_size"].items():
        print(
            f"blocks of {size}: {row['sessions']} sessions, median {row['units_median']:g} units,"
            f" SE {row['se_median']:.4f}, SE²·s x1e4 {row['var_seconds_e4']};"
            f" p95 median {row['p95_var_seconds_e4_median']:.0f}"
        )


if __name__ == "__main__":
    main()
