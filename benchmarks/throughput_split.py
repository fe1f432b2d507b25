"""A/A spread of throughput window pairs with and without the core split (by hand).

    .venv/bin/python benchmarks/throughput_split.py --concurrency 4 --sessions 2 \\
        --out benchmarks/results/throughput-split.json

The demo model in both arms of one server (``fixtures/models/v1``; the arms are two copies,
as live A/B loads them), gate's own ``ServerSession``; per session ``--epochs`` epochs of
``--pairs`` closed-loop window pairs at one concurrency (arms alternate which goes first).
A pair's unit is the difference of the arms' mean ln(inferences/s), as the judge reads it.
Modes, each a fresh server, rotated so the machine's drifts fall on all alike:

* ``unsplit``: nothing pinned (``measure.cpu_affinity: off``);
* ``split``: tritonserver and its stubs on one set of cores, perf_analyzer on the other,
  while the windows run (``auto`` on 2-3 cores, ``gate.servers.affinity.pinned_tree``);
* ``client``: only perf_analyzer pinned (is it the client's placement that matters?).

Printed per mode: the mean over epochs of the standard error of an epoch's mean unit (what
a judge's interval grows with) and the spread of the epoch means (a level that persists over
a session would make it larger than that standard error).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.app.ab_repository import ARM_SUFFIX, make_ab_repository
from gate.app.prepare import prepare
from gate.app.run import new_run
from gate.app.session import ServerSession
from gate.config.config import load_config
from gate.servers.affinity import CpuPlan, plan_cpus

CONFIG = """\
version: 1
model: {{name: demo, repository: {root}/fixtures/models/v1}}
launcher: {{kind: local}}
traffic: {{path: {root}/fixtures/traffic/demo.jsonl.gz, warmup_requests: 50}}
measure: {{timeout_s: 120, cpu_affinity: {affinity}}}
baseline: {{store: {work}/store}}
signatures:
  required: true
  rules: [{{method: cosign-key, key: {root}/fixtures/keys/TEST-ONLY-cosign.pub}}]
reports: {{dir: {work}/reports}}
"""
MODES = ("unsplit", "split", "client")


def session(mode: str, work: Path, c: int, epochs: int, pairs: int) -> list[list[float]]:
    """One fresh server in ``mode``: per epoch, the units of its window pairs."""
    config = work / f"{mode}.yaml"
    affinity = "auto" if mode == "split" else "off"
    config.write_text(CONFIG.format(root=ROOT, work=work, affinity=affinity))
    cfg = load_config(config)
    run = new_run("benchmark", config, lambda _: None, work / "logs")
    prep = prepare(run, cfg, config, None)
    level = prep.policy.throughput.model_copy(update={"concurrency": (c,)})
    prep = dataclasses.replace(prep, policy=prep.policy.model_copy(update={"throughput": level}))
    names = {arm: "demo" + ARM_SUFFIX[arm] for arm in "AB"}
    out: list[list[float]] = []
    with ServerSession(run, prep) as s:
        if mode == "client":
            s.cpus, s.throughput_cpus = CpuPlan(), CpuPlan(client=plan_cpus("on").client)
        elif mode == "unsplit":
            s.cpus, s.throughput_cpus = CpuPlan(), CpuPlan()
        demo = ROOT / "fixtures" / "models" / "v1" / "demo"
        repo = make_ab_repository(s.work, "demo", demo, demo)
        with s.server(f"({mode})", log_name=f"server-{mode}.log", repository=repo):
            mbs = 0
            for arm in "AB":
                mbs = s.load(names[arm]).max_batch_size
            inputs = s.inputs("throughput", prep.traffic, warmup=0, max_batch_size=mbs)
            for _ in range(epochs):
                units = []
                for k in range(pairs):
                    first = "A" if k % 2 == 0 else "B"
                    got = {}
                    for arm in (first, "B" if first == "A" else "A"):
                        level_run = s.throughput(names[arm], inputs, index=k).levels[0]
                        got[arm] = float(np.mean(np.log(level_run.windows)))
                    units.append(got["B"] - got["A"])
                out.append(units)
    return out


def summarise(epochs: list[list[float]]) -> dict[str, float]:
    means = [statistics.fmean(u) for u in epochs]
    se = [statistics.stdev(u) / math.sqrt(len(u)) for u in epochs]
    return {
        "epoch_mean_se": statistics.fmean(se),
        "epoch_means_sd": statistics.stdev(means) if len(means) > 1 else 0.0,
        "unit_sd": statistics.fmean(statistics.stdev(u) for u in epochs),
        "mean_unit": statistics.fmean(means),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--sessions", type=int, default=2, help="fresh servers per mode")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gate-split-") as tmp:
        for k in range(args.sessions):
            for mode in modes[k % len(modes) :] + modes[: k % len(modes)]:
                epochs = session(mode, Path(tmp), args.concurrency, args.epochs, args.pairs)
                row = {"mode": mode, "session": k, "epochs": epochs, **summarise(epochs)}
                runs.append(row)
                print(
                    f"{mode:8s} session {k}: epoch-mean SE {row['epoch_mean_se']:.3f}, "
                    f"sd of epoch means {row['epoch_means_sd']:.3f}, unit sd {row['unit_sd']:.3f}",
                    flush=True,
                )
    summary = {
        m: {
            key: statistics.fmean(r[key] for r in runs if r["mode"] == m)
            for key in ("epoch_mean_se", "epoch_means_sd", "unit_sd")
        }
        for m in modes
    }
    for m, v in summary.items():
        print(f"{m:8s} mean: " + ", ".join(f"{k} {x:.3f}" for k, x in v.items()))
    if args.out:
        args.out.write_text(
            json.dumps({"command": sys.argv, "summary": summary, "runs": runs}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
