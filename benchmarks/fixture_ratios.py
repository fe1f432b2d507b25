"""How much slower each benchmark fixture really is than v1, measured side by side.

    .venv/bin/python benchmarks/fixture_ratios.py --servers 4 \\
        --out benchmarks/results/fixture-ratios.json

The fixtures of ``benchmarks/decisive.py`` (``fixtures/models/unchanged``, ``slower-1pct``,
``slower-20pct``, ``slower-10x``, ``throughput-c4``) are v1 plus work sized relative to v1's
service time (their ``model.py`` says how). This checks what they cost: each of
``--servers`` freshly started tritonservers loads v1 and every fixture (each under its own
name, load order rotated between servers) and measures, interleaved so that every model
sees the same moments of machine load:

* **latency**: the recorded traffic (``fixtures/make_traffic.py``, 1,200 requests at 200
  req/s by default) in blocks of ``--block`` requests, every model in turn per block (order
  rotated), on its recorded schedule; the ratio is exp(median of the per-request log ratio
  model/v1), paired by request, as the live A/B judge estimates a shift;
* **service time**: the same, closed loop at concurrency 1 (``slower-10x`` saturates the
  recorded schedule, so its recorded-arrival ratio includes queueing);
* **throughput** at concurrency 1 and 4: closed-loop windows (``gate.measure.throughput``),
  the models alternating per level; the ratio of median windows.

Reported per fixture: the median ratio over servers and its range. Nothing is asserted: the
ratios move with the machine's load, which is why they are measured and written down.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.config.policy import ThroughputPolicy
from gate.inputs.traffic import Request, Traffic
from gate.measure.latency import ReplaySpec, replay
from gate.measure.perf_analyzer import Pace, PerfAnalyzerInputs, write_perf_analyzer_inputs
from gate.measure.throughput import ThroughputSpec, measure_throughput
from gate.servers.local import LocalServer
from gate.tools import Tool, find_perf_analyzer, find_tritonserver

FIXTURES = ROOT / "fixtures" / "models"
MODELS = ("v1", "unchanged", "slower-1pct", "slower-20pct", "slower-10x", "throughput-c4")


def make_traffic(path: Path, count: int) -> Traffic:
    """The benchmark traffic: ``fixtures/make_traffic.py`` at 200 req/s, seed 7."""
    sys.path.insert(0, str(ROOT / "fixtures"))
    from make_traffic import make  # type: ignore[import-not-found]

    from gate.inputs.traffic import write_traffic

    traffic: Traffic = make(count, 200.0, 7)
    write_traffic(path, traffic)
    return traffic


def repository(root: Path, models: list[str]) -> Path:
    """A model repository with each fixture's ``demo`` under the fixture's own name."""
    repo = root / "repo"
    for m in models:
        dst = repo / _served(m)
        shutil.copytree(
            FIXTURES / m / "demo", dst, ignore=shutil.ignore_patterns("*.sig", "__pycache__")
        )
        cfg = dst / "config.pbtxt"
        cfg.write_text(cfg.read_text().replace('name: "demo"', f'name: "{_served(m)}"'))
    return repo


def _served(model: str) -> str:
    return model.replace("-", "_")


def _blocks(traffic: Traffic, block: int, work: Path, closed: bool) -> list[PerfAnalyzerInputs]:
    out = []
    for start in range(0, len(traffic.requests), block):
        sub = dataclasses.replace(traffic, requests=traffic.requests[start : start + block])
        if closed:
            sub = dataclasses.replace(
                sub, requests=tuple(Request(None, r.inputs) for r in sub.requests)
            )
        d = work / f"in-{'c' if closed else 'r'}-{start}"
        d.mkdir(parents=True)
        out.append(write_perf_analyzer_inputs(sub, d, warmup=10, max_batch_size=8))
    return out


def one_server(
    ts: Tool, pa: Tool, models: list[str], traffic: Traffic, args: argparse.Namespace, k: int
) -> dict[str, Any]:
    """Every measurement of one fresh server: per model, latency lists and windows."""
    work = Path(tempfile.mkdtemp(prefix="fixture-ratios-"))
    try:
        order = models[k % len(models) :] + models[: k % len(models)]
        repo = repository(work, models)
        (work / "pa").mkdir()
        pace = Pace()
        got: dict[str, dict[str, Any]] = {m: {"rec": [], "c1": [], 1: [], 4: []} for m in models}
        with LocalServer(ts, repo, work / "server.log") as srv:
            for m in order:
                srv.load_model(_served(m))
            for kind, closed in (("rec", False), ("c1", True)):
                for b, inputs in enumerate(_blocks(traffic, args.block, work, closed)):
                    turn = order[b % len(order) :] + order[: b % len(order)]
                    for m in turn:
                        spec = ReplaySpec(_served(m), None, srv.http_url, "http", inputs, 300, 2, 4)
                        lr = replay(pa, spec, work / "pa", index=0, pace=pace)
                        got[m][kind].append(lr.latencies_us)
            data = _blocks(traffic, len(traffic.requests), work / "tp", True)[0].input_data
            for rnd in range(args.tp_rounds):
                for c in (1, 4):
                    policy = ThroughputPolicy(concurrency=[c], windows=5, window_requests=200)
                    for m in order if rnd % 2 == 0 else order[::-1]:
                        tspec = ThroughputSpec(
                            _served(m), None, srv.http_url, "http", data, 1, 300, 2, 4
                        )
                        run = measure_throughput(pa, tspec, policy, work / "pa", index=0, pace=pace)
                        level = run.levels[0]
                        got[m][c] += level.windows
        return got
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ratios(got: dict[str, dict[str, Any]], models: list[str]) -> dict[str, dict[str, float]]:
    """Per fixture, its ratios to v1 on one server."""
    out: dict[str, dict[str, float]] = {}
    for m in models:
        if m == "v1":
            continue
        row: dict[str, float] = {}
        for kind in ("rec", "c1"):
            a = np.concatenate([np.asarray(x) for x in got["v1"][kind]])
            b = np.concatenate([np.asarray(x) for x in got[m][kind]])
            row["latency" if kind == "rec" else "service_c1"] = float(
                np.exp(np.median(np.log(b / a)))
            )
        for c in (1, 4):
            row[f"throughput_c{c}"] = float(np.median(got[m][c]) / np.median(got["v1"][c]))
        out[m] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--servers", type=int, default=4, help="fresh servers (default 4)")
    ap.add_argument("--requests", type=int, default=1200, help="recorded requests")
    ap.add_argument("--block", type=int, default=200, help="requests per interleaved block")
    ap.add_argument("--tp-rounds", type=int, default=2, help="throughput rounds per server")
    ap.add_argument("--models", default=",".join(MODELS[1:]), help="fixtures besides v1")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    models = ["v1", *[m for m in args.models.split(",") if m]]
    ts, pa = find_tritonserver(), find_perf_analyzer()
    with tempfile.TemporaryDirectory() as tmp:
        traffic = make_traffic(Path(tmp) / "traffic.jsonl.gz", args.requests)
    per_server = []
    for k in range(args.servers):
        per_server.append(ratios(one_server(ts, pa, models, traffic, args, k), models))
        print(f"server {k + 1}: {json.dumps(per_server[-1])}", flush=True)
    summary: dict[str, dict[str, list[float]]] = {}
    print("| fixture | latency (recorded) | service time (c=1) | throughput c=1 | c=4 |")
    print("|---|---|---|---|---|")
    for m in models[1:]:
        cells = []
        summary[m] = {}
        for key in ("latency", "service_c1", "throughput_c1", "throughput_c4"):
            v = [s[m][key] for s in per_server]
            summary[m][key] = [float(np.median(v)), min(v), max(v)]
            cells.append(f"{np.median(v):.3f} ({min(v):.3f}–{max(v):.3f})")
        print(f"| {m} | " + " | ".join(cells) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"out": str(args.out)},
                    "servers": per_server,
                    "summary_median_min_max": summary,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
