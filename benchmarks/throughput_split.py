"""A/A spread of throughput window pairs with and without the core split (by hand).

    .venv/bin/python benchmarks/throughput_split.py --concurrency 4 --sessions 2 \\
        --out benchmarks/results/throughput-split.json

The demo model in both arms of one server (``fixtures/models/v1``; the arms are two copies,
as live A/B loads them), gate's own ``ServerSession``; per session ``--epochs`` epochs of
``--pairs`` closed-loop window pairs at one concurrency (arms alternate which goes first),
their windows sized as live A/B sizes them (after each pair, so that a run fills
``gate.app.live_ab.THROUGHPUT_RUN_S``).
A pair's unit is the difference of the arms' mean ln(inferences/s), as the judge reads it.
Modes, each a fresh server, rotated so the machine's drifts fall on all alike:

* ``unsplit``: nothing pinned (``measure.cpu_affinity: off``);
* ``split``: tritonserver and its stubs on one set of cores, perf_analyzer on the other,
  while the windows run (``auto`` on 2-3 cores, ``gate.servers.affinity.pinned_tree``);
* ``client``: only perf_analyzer pinned (is it the client's placement that matters?);
* ``common``: as ``together``, but each arm's run sized to its own speed and the windows cut
  on one clock from the span both ran in (``gate.measure.throughput.measure_together``), as
  live A/B does with ``baseline.ab_throughput_together``;
* ``slots``: a "pair" is a round of interleaved time slots (``gate.app.ab_throughput``, as
  live A/B measures the levels not measured together), its unit the mean over the round's
  slot pairs; ``slots:R`` sets the slot length to R seconds (default
  ``baseline.ab_throughput_slot_s``'s 0.25), ``slots:R:P`` also the slot pairs a round;
* ``MODE:R`` (e.g. ``split:0.4``): each arm's run sized to R seconds;
* ``together``: nothing pinned, and the arms' windows run at the same moment (a
  perf_analyzer process per arm, started together) instead of one after the other: the
  server's speed over that second is then shared by both arms.

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
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.app import ab_throughput
from gate.app.ab_repository import ARM_SUFFIX, make_ab_repository
from gate.app.live_ab import THROUGHPUT_RUN_S
from gate.app.prepare import prepare
from gate.app.run import new_run
from gate.app.session import ServerSession
from gate.config.config import load_config
from gate.servers.affinity import CpuPlan, plan_cpus
from gate.threads import at_once

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
MODES = ("unsplit", "split", "client", "together", "common", "slots")


def session(
    mode: str, work: Path, c: int, epochs: int, pairs: int, candidate: Path | None = None
) -> tuple[list[list[float]], float, list[dict[str, list[float]]]]:
    """One fresh server in ``mode``: per epoch, the units of its window pairs; the
    seconds the pairs took; and each pair's windows. ``mode:R`` sizes each arm's run to R
    seconds instead of ``THROUGHPUT_RUN_S``."""
    mode, _, run_s = mode.partition(":")
    run_s, _, slot_pairs = run_s.partition(":")  # slots:R:P: P slot pairs a round
    default_s = 0.25 if mode == "slots" else THROUGHPUT_RUN_S
    fill_s = float(run_s) if run_s else default_s
    config = work / f"{mode}.yaml"
    affinity = "auto" if mode in ("split", "slots") else "off"
    config.write_text(CONFIG.format(root=ROOT, work=work, affinity=affinity))
    cfg = load_config(config)
    run = new_run("benchmark", config, lambda _: None, work / "logs")
    prep = prepare(run, cfg, config, None)
    level = prep.policy.throughput.model_copy(update={"concurrency": (c,)})
    prep = dataclasses.replace(prep, policy=prep.policy.model_copy(update={"throughput": level}))
    names = {arm: "demo" + ARM_SUFFIX[arm] for arm in "AB"}
    out: list[list[float]] = []
    windows: list[dict[str, list[float]]] = []  # per pair, each arm's windows (inferences/s)
    with ServerSession(run, prep) as s:
        if mode == "client":
            s.cpus, s.throughput_cpus = CpuPlan(), CpuPlan(client=plan_cpus("on").client)
        elif mode in ("unsplit", "together", "common"):
            s.cpus, s.throughput_cpus = CpuPlan(), CpuPlan()
        demo = ROOT / "fixtures" / "models" / "v1" / "demo"
        repo = make_ab_repository(s.work, "demo", demo, candidate or demo)
        with s.server(f"({mode})", log_name=f"server-{mode}.log", repository=repo):
            mbs = 0
            for arm in "AB":
                mbs = s.load(names[arm]).max_batch_size
            inputs = s.inputs("throughput", prep.traffic, warmup=0, max_batch_size=mbs)
            window = level.window_requests
            per_arm: dict[str, int] = {}
            t0 = time.monotonic()
            for _ in range(epochs):
                units = []
                for k in range(pairs):
                    first = "A" if k % 2 == 0 else "B"
                    got: dict[str, float] = {}

                    ips: dict[str, float] = {}
                    wins: dict[str, list[float]] = {}
                    lv = level.model_copy(update={"window_requests": window})

                    def one(
                        arm: str,
                        k: int = k,
                        got: dict[str, float] = got,
                        ips: dict[str, float] = ips,
                        wins: dict[str, list[float]] = wins,
                        lv: Any = lv,
                    ) -> None:
                        level_run = s.throughput(names[arm], inputs, index=k, policy=lv).levels[0]
                        wins[arm] = list(level_run.windows)
                        got[arm] = float(np.mean(np.log(level_run.windows)))
                        ips[arm] = float(np.mean(level_run.windows))

                    if mode == "slots":
                        slot_us = round(fill_s * 1e6)
                        plan = ab_throughput.SlotPlan(
                            concurrency=c,
                            slot_us=slot_us,
                            requests={
                                arm: per_arm.get(arm, ab_throughput.first_requests(c))
                                for arm in "AB"
                            },
                            first_pair=k,
                            pairs=int(slot_pairs or ab_throughput.PAIRS),
                        )
                        lvs = ab_throughput.measure_slots(
                            s, names, plan, index=k, max_batch_size=mbs
                        )
                        for arm, lvl in lvs.items():
                            wins[arm] = list(lvl.windows)
                            got[arm] = float(np.mean(np.log(lvl.windows)))
                            ips[arm] = float(np.mean(lvl.windows))
                            per_arm[arm] = ab_throughput.next_requests(lvl.windows, slot_us, c)
                    elif mode == "common":
                        order = (first, "B" if first == "A" else "A")
                        pol = {
                            arm: level.model_copy(
                                update={"window_requests": per_arm.get(arm, window)}
                            )
                            for arm in order
                        }
                        lvs = s.throughput_together(
                            {arm: names[arm] for arm in order}, inputs, policies=pol
                        )
                        for arm, lvl in lvs.items():
                            wins[arm] = list(lvl.windows)
                            got[arm] = float(np.mean(np.log(lvl.windows)))
                            ips[arm] = float(np.mean(lvl.windows))
                            per_arm[arm] = min(
                                1_000_000,
                                max(level.window_requests, int(fill_s * ips[arm] / level.windows)),
                            )
                    elif mode == "together":
                        at_once(one, "AB", "gate-together")
                    else:
                        for arm in (first, "B" if first == "A" else "A"):
                            one(arm)
                    units.append(got["B"] - got["A"])
                    windows.append({"a": wins["A"], "b": wins["B"]})
                    # as live A/B sizes its windows: the run fills THROUGHPUT_RUN_S
                    fill = int(fill_s * min(ips.values()) / max(1, level.windows))
                    window = min(1_000_000, max(level.window_requests, fill))
                out.append(units)
            seconds = time.monotonic() - t0
    return out, seconds, windows


def summarise(epochs: list[list[float]], seconds: float) -> dict[str, float]:
    means = [statistics.fmean(u) for u in epochs]
    se = [statistics.stdev(u) / math.sqrt(len(u)) for u in epochs]
    units = [x for u in epochs for x in u]
    return {
        "seconds_per_pair": seconds / len(units),
        # the variance one second of pairs leaves (x1e4): lower decides sooner
        "se2_s": statistics.variance(units) * seconds / len(units) * 1e4,
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
    ap.add_argument(
        "--candidate",
        type=Path,
        help="arm B's model folder (default: v1, an A/A); e.g. "
        "fixtures/models/slower-20pct/demo, to see whether a mode keeps the true ratio",
    )
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gate-split-") as tmp:
        for k in range(args.sessions):
            for mode in modes[k % len(modes) :] + modes[: k % len(modes)]:
                epochs, seconds, windows = session(
                    mode, Path(tmp), args.concurrency, args.epochs, args.pairs, args.candidate
                )
                row = {
                    "mode": mode,
                    "session": k,
                    "epochs": epochs,
                    "windows": windows,
                    **summarise(epochs, seconds),
                }
                runs.append(row)
                print(
                    f"{mode:8s} session {k}: epoch-mean SE {row['epoch_mean_se']:.3f}, "
                    f"sd of epoch means {row['epoch_means_sd']:.3f}, unit sd {row['unit_sd']:.3f}, "
                    f"mean unit {row['mean_unit']:+.3f}, {row['seconds_per_pair']:.2f} s a pair, "
                    f"SE²·s {row['se2_s']:.0f}",
                    flush=True,
                )
    summary = {
        m: {
            key: statistics.fmean(r[key] for r in runs if r["mode"] == m)
            for key in ("epoch_mean_se", "epoch_means_sd", "unit_sd", "seconds_per_pair", "se2_s")
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
