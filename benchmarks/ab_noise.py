"""A/A spread of live A/B per noise option: which measurement choices make a pair quieter?

    .venv/bin/python benchmarks/ab_noise.py --runs 8 --modes quiet,loaded \\
        --options interleaved,pinned,together --out benchmarks/results/ab-noise.json

v1 against itself (``fixtures/models/v1`` in both arms of one server), the recorded traffic
of ``benchmarks/decisive.py`` (``--requests`` at 200 req/s, seed 7), blocks of
``--block`` requests, each run on a freshly started server through gate's own session
(``gate.app.session.ServerSession``). Options, each a way to measure the same thing:

* ``interleaved``: today's live A/B (``gate.app.live_ab.measure_ab``): the arms take turns
  block by block (A B, B A, ...), ``measure.cpu_affinity: off``;
* ``pinned``: the same with ``measure.cpu_affinity: on`` (tritonserver and its stubs on one
  set of cores, perf_analyzer on another: on 2 cores, server on core 1, client on core 0);
* ``together``: both arms replayed at the same moment, one perf_analyzer per arm on the same
  schedule (``ServerSession.replay_together``), so the two requests of a pair meet the same
  machine load; ``together-pinned`` adds the affinity.

For each run: the shift estimate (median of the per-request log ratio B/A, as a percentage),
the spread of the block units the sequential judge reads (``gate.judge.sequential.
block_pair_units``: per block, the median log ratio), and the per-request spread of the log
ratio. Per option: the sd of the shift over runs (the A/A spread a judge must see through),
the mean unit sd (what the sequential judge's interval grows with), and the mean |shift|.
Runs rotate the order of the options, so drifts of the machine's load fall on each alike;
``loaded`` adds a bounded one-core busy loop (``benchmarks/decisive.py``'s).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from decisive import KEY, MODELS, load, make_traffic  # type: ignore[import-not-found]

from gate.app.ab_repository import ARM_SUFFIX, ab_schedule, make_ab_repository
from gate.app.live_ab import block_warmup, measure_ab
from gate.app.prepare import prepare
from gate.app.run import new_run
from gate.app.session import ServerSession
from gate.config.config import load_config
from gate.judge.sequential import block_pair_units

OPTIONS = {  # name: (arms replayed together, cpu_affinity)
    "interleaved": (False, "off"),
    "pinned": (False, "on"),
    "together": (True, "off"),
    "together-pinned": (True, "on"),
}

CONFIG = """\
version: 1
model: {{name: demo, repository: {v1}}}
launcher: {{kind: local}}
traffic: {{path: {traffic}, warmup_requests: 50}}
measure: {{timeout_s: 120, cpu_affinity: {affinity}}}
baseline: {{store: {store}, model_dir: {v1}, ab_block_size: {block}}}
signatures: {{required: true, rules: [{{method: cosign-key, key: {key}}}]}}
reports: {{dir: {reports}}}
"""


def together(config: Path, block: int) -> tuple[list[float], list[float]]:
    """One A/A replay with both arms at the same moment, block by block."""
    cfg = load_config(config)
    run = new_run("benchmark", config, lambda _: None, cfg.reports.dir / "logs")
    prep = prepare(run, cfg, config, None)
    traffic = prep.traffic
    n = len(traffic.requests)
    lat = {"A": [0.0] * n, "B": [0.0] * n}
    with ServerSession(run, prep) as session:
        v1 = MODELS / "v1" / "demo"
        repo = make_ab_repository(session.work, "demo", v1, prep.model.served_dir)
        with session.server("(A/B)", log_name="server.log", repository=repo):
            for arm in ("A", "B"):
                mbs = session.load("demo" + ARM_SUFFIX[arm]).max_batch_size
            starts = [s for arm, s, _ in ab_schedule(n, block) if arm == "A"]
            for k, start in enumerate(starts):
                stop = min(n, start + block)
                warm = (
                    cfg.traffic.warmup_requests
                    if k == 0
                    else block_warmup(cfg.baseline.ab_block_warmup, traffic)
                )
                sub = dataclasses.replace(traffic, requests=traffic.requests[start:stop])
                inputs = session.inputs(f"b{start}", sub, warmup=warm, max_batch_size=mbs)
                arms = ("A", "B") if k % 2 == 0 else ("B", "A")
                first, second = session.replay_together(
                    ("demo" + ARM_SUFFIX[arms[0]], "demo" + ARM_SUFFIX[arms[1]]), inputs, index=k
                )
                lat[arms[0]][start:stop] = first.latencies_us
                lat[arms[1]][start:stop] = second.latencies_us
    return lat["A"], lat["B"]


def interleaved(config: Path) -> tuple[list[float], list[float]]:
    """One A/A session as ``gate check`` measures live A/B (sequential rounds until the
    checks decide or the budget is spent)."""
    cfg = load_config(config)
    run = new_run("benchmark", config, lambda _: None, cfg.reports.dir / "logs")
    prep = prepare(run, cfg, config, None)
    live = measure_ab(run, prep, prep.baseline_model or MODELS / "v1" / "demo")
    return live.info.latencies_a_us, live.info.latencies_b_us


def one_run(option: str, work: Path, traffic: Path, block: int, k: int) -> dict[str, Any]:
    """One fresh server measured with ``option``: the run's A/A statistics."""
    arms_together, affinity = OPTIONS[option]
    folder = work / f"{option}-{k}"
    folder.mkdir(parents=True)
    config = folder / "gate.yaml"
    config.write_text(
        CONFIG.format(
            v1=MODELS / "v1",
            traffic=traffic,
            affinity=affinity,
            store=work / "store",
            block=block,
            key=KEY,
            reports=folder / "reports",
        )
    )
    t0 = time.monotonic()
    a, b = together(config, block) if arms_together else interleaved(config)
    seconds = time.monotonic() - t0
    d = np.log(np.asarray(b)) - np.log(np.asarray(a))
    units = block_pair_units(a, b, block)
    return {
        "option": option,
        "shift": float(np.expm1(np.median(d))),
        "unit_sd": float(np.std(units, ddof=1)),
        "units": units.tolist(),
        "request_sd": float(np.std(d, ddof=1)),
        "median_a_us": float(np.median(a)),
        "seconds": seconds,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, float]:
    shifts = [r["shift"] for r in runs]
    return {
        "runs": len(runs),
        "shift_sd": statistics.stdev(shifts) if len(shifts) > 1 else float("nan"),
        "mean_abs_shift": statistics.fmean(abs(s) for s in shifts),
        "max_abs_shift": max(abs(s) for s in shifts),
        "unit_sd_mean": statistics.fmean(r["unit_sd"] for r in runs),
        "request_sd_mean": statistics.fmean(r["request_sd"] for r in runs),
        "median_a_us": statistics.median(r["median_a_us"] for r in runs),
        "seconds_median": statistics.median(r["seconds"] for r in runs),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=8, help="fresh servers per option and mode")
    ap.add_argument("--options", default="interleaved,pinned,together", help=", ".join(OPTIONS))
    ap.add_argument("--modes", default="quiet,loaded")
    ap.add_argument("--requests", type=int, default=1200)
    ap.add_argument("--block", type=int, default=100)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    options = [o for o in args.options.split(",") if o]
    modes = [m for m in args.modes.split(",") if m]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ab-noise-") as tmp:
        work = Path(tmp)
        traffic = make_traffic(work / "traffic.jsonl.gz", args.requests)
        for mode in modes:
            runs: list[dict[str, Any]] = []
            with load(mode, 4 * 3600) as busy:
                for k in range(args.runs):
                    for option in options[k % len(options) :] + options[: k % len(options)]:
                        if busy is not None:
                            busy.ensure()
                        r = one_run(option, work / mode, traffic, args.block, k)
                        runs.append(r)
                        print(
                            f"{mode} {k} {option}: shift {r['shift']:+.4f} unit sd "
                            f"{r['unit_sd']:.4f} request sd {r['request_sd']:.3f} "
                            f"median A {r['median_a_us']:.0f} µs",
                            file=sys.stderr,
                            flush=True,
                        )
            results[mode] = {
                "runs": runs,
                "summary": {o: summarise([r for r in runs if r["option"] == o]) for o in options},
            }
    print(
        "| mode | option | runs | A/A shift sd | mean abs shift | max abs shift | block-unit sd | "
        "per-request sd | median A |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for mode, res in results.items():
        for o, s in res["summary"].items():
            print(
                f"| {mode} | {o} | {s['runs']} | {s['shift_sd'] * 100:.2f}% | "
                f"{s['mean_abs_shift'] * 100:.2f}% | {s['max_abs_shift'] * 100:.2f}% | "
                f"{s['unit_sd_mean']:.4f} | {s['request_sd_mean']:.3f} | "
                f"{s['median_a_us']:.0f} µs |"
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
