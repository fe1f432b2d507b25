"""Does ``gate check`` decide, and decide right? The targets of live A/B, counted over runs.

    .venv/bin/python benchmarks/decisive.py --runs 20 --out benchmarks/results/decisive.json
    .venv/bin/python benchmarks/decisive.py --runs 5 --cases unchanged,slower-20pct \\
        --modes quiet --out reports/decisive.json
    .venv/bin/python benchmarks/decisive.py --smoke          # CI: 1 run of 2 cases, quiet
    .venv/bin/python benchmarks/decisive.py --runs 20 --max-minutes 90 --resume \\
        --out benchmarks/results/decisive.json               # a table over several sittings

Each run is the real CLI, ``python -m gate check``, on a fresh ``gate.yaml``: live A/B with
``baseline.model_dir`` = ``fixtures/models/v1``, the built-in default policy
(``inconclusive: block``, latency shift tolerance 5%, p95 10%, throughput 10%), no stored
baseline, signatures required (the TEST-ONLY key), and recorded traffic of ``--requests``
requests at 200 req/s made by ``fixtures/make_traffic.py`` (seed 7; 1,200 by default). The
candidates are the fixtures of ``benchmarks/fixture_ratios.py`` (v1 plus work sized
relative to v1's service time) and v1 itself:

* ``unchanged`` (``fixtures/models/unchanged``, a new file, no regression) → PASS, exit 0;
* ``slower-1pct`` → PASS (1% is within the 5% tolerance);
* ``slower-20pct`` → BLOCKED, with a latency check failed;
* ``slower-10x`` → BLOCKED, and how long the replay took;
* ``throughput-c4`` (same single-request latency, less throughput at concurrency 4) →
  BLOCKED;
* ``aa`` (v1 against itself, byte-identical) → counted when BLOCKED: a false alarm.

Modes: ``quiet`` (the machine as it is) and ``loaded`` (a one-core busy loop this script
starts, bounded in time so it ends even if this script is killed, and stops by its PID at
the end, whatever happens). Runs are interleaved: run k of every case before run k+1 of any,
and of every mode, so slow drifts of the machine's load fall on every cell alike.

Replay time is what a verdict costs in measuring: the stages between the server's model
load and its stop (the server start and stop, signatures and judging excluded), from the
run's ``run.json``. Written: a Markdown table of counts (x/N, every verdict listed) beside
the issue's targets, and a JSON file of every run (exit code, verdict, failed checks,
stage times). ``--resume`` reads ``--out`` first and makes only the runs it lacks (the
same case order as one long sitting), so a 20-run table on one version of the code can be
measured over several sittings of ``--max-minutes``. Exit status: 0 whatever the verdicts
(they are what is measured), 1 when a ``gate check`` crashed (ERROR: no verdict), so CI's
``--smoke`` fails only on a crash.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "fixtures" / "models"
KEY = ROOT / "fixtures" / "keys" / "TEST-ONLY-cosign.pub"
VERDICTS = ("PASS", "BLOCKED", "INCONCLUSIVE", "ERROR")


@dataclass(frozen=True)
class Case:
    """One row of the table: a candidate model and what counts as the right outcome."""

    key: str
    model: str  # folder under fixtures/models
    row: str  # the row's words
    want: str  # "pass", "blocked", "blocked-latency", "false-alarm"
    target: tuple[str, str]  # the target (quiet, loaded)


CASES: dict[str, Case] = {
    c.key: c
    for c in (
        Case(
            "unchanged",
            "unchanged",
            "unchanged model → PASS (exit 0)",
            "pass",
            ("≥ 19/20", "≥ 18/20"),
        ),
        Case(
            "slower-1pct", "slower-1pct", "+1% slower (τ 5%) → PASS", "pass", ("≥ 18/20", "≥ 17/20")
        ),
        Case(
            "slower-20pct",
            "slower-20pct",
            "+20% slower → BLOCKED on latency",
            "blocked-latency",
            ("≥ 19/20", "≥ 19/20"),
        ),
        Case("slower-10x", "slower-10x", "10× slower → BLOCKED", "blocked", ("", "")),
        Case(
            "throughput-c4",
            "throughput-c4",
            "−30% throughput at c=4 → BLOCKED",
            "blocked",
            ("≥ 19/20", "≥ 18/20"),
        ),
        Case("aa", "v1", "A/A → BLOCKED (false alarm)", "false-alarm", ("≤ 1/20", "≤ 1/20")),
    )
}
SMOKE_CASES = ("unchanged", "slower-10x")


@dataclass
class Outcome:
    """One ``gate check``: what it said and what it cost."""

    case: str
    mode: str
    run: int
    exit_code: int
    verdict: str
    failed: list[str] = field(default_factory=list)  # metrics of FAIL checks
    inconclusive: list[str] = field(default_factory=list)
    replay_s: float | None = None
    wall_s: float = 0.0
    error: str = ""
    stages: list[tuple[str, float]] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Reading one run (pure)
# --------------------------------------------------------------------------------------


def replay_seconds(stages: Sequence[tuple[str, float]]) -> float | None:
    """Seconds spent measuring: stages after the first model load and before the first
    server stop, model loads excluded (None when the run never got there)."""
    names = [n for n, _ in stages]
    start = next((i for i, n in enumerate(names) if n.startswith("model load")), None)
    if start is None:
        return None
    stop = next((i for i, n in enumerate(names) if n.startswith("server stop")), len(names))
    return sum(s for n, s in stages[start:stop] if not n.startswith("model load"))


def outcome_from_run(
    case: str,
    mode: str,
    run: int,
    code: int,
    record: dict[str, Any] | None,
    wall_s: float,
    stderr: str = "",
) -> Outcome:
    """The outcome of one run from its exit code and its ``run.json`` (None: not written)."""
    if record is None:
        tail = stderr.strip().splitlines()[-1:] or ["no run.json"]
        return Outcome(case, mode, run, code, "ERROR", wall_s=wall_s, error=tail[0])
    checks = record.get("checks") or []
    stages = [(str(s["name"]), float(s["seconds"])) for s in record.get("stages") or []]
    verdict = str(record.get("verdict") or "ERROR")
    err = record.get("error") or {}
    return Outcome(
        case,
        mode,
        run,
        code,
        verdict if verdict in VERDICTS else "ERROR",
        failed=[str(c.get("metric") or c["name"]) for c in checks if c.get("status") == "fail"],
        inconclusive=[
            str(c.get("metric") or c["name"]) for c in checks if c.get("status") == "inconclusive"
        ],
        replay_s=replay_seconds(stages),
        wall_s=wall_s,
        error=str(err.get("message", "")) if isinstance(err, dict) else "",
        stages=stages,
    )


def hit(case: Case, o: Outcome) -> bool:
    """Whether ``o`` is what the row counts."""
    if case.want == "pass":
        return o.exit_code == 0 and o.verdict == "PASS"
    if case.want == "blocked-latency":
        return o.verdict == "BLOCKED" and any(m.startswith("latency") for m in o.failed)
    # a false alarm is a BLOCKED verdict on an unchanged model; "blocked" rows want one
    return o.verdict == "BLOCKED"


# --------------------------------------------------------------------------------------
# The table (pure)
# --------------------------------------------------------------------------------------


def _median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _secs(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f} s"


def cell(case: Case, outcomes: Sequence[Outcome]) -> str:
    """``"3/5 (PASS 3, INCONCLUSIVE 2)"``: the count, then every verdict seen."""
    if not outcomes:
        return "–"
    counts = {v: sum(o.verdict == v for o in outcomes) for v in VERDICTS}
    seen = ", ".join(f"{v} {n}" for v, n in counts.items() if n)
    return f"{sum(hit(case, o) for o in outcomes)}/{len(outcomes)} ({seen})"


def summary(
    outcomes: Sequence[Outcome], cases: Sequence[str], modes: Sequence[str]
) -> dict[str, Any]:
    """Counts and times per (case, mode), as the JSON file and the table read them."""
    out: dict[str, Any] = {}
    for key in cases:
        case = CASES[key]
        for mode in modes:
            got = [o for o in outcomes if o.case == key and o.mode == mode]
            decided = [
                o.replay_s
                for o in got
                if o.verdict in ("PASS", "BLOCKED") and o.replay_s is not None
            ]
            out[f"{key}/{mode}"] = {
                "runs": len(got),
                "hits": sum(hit(case, o) for o in got),
                "verdicts": {v: sum(o.verdict == v for o in got) for v in VERDICTS},
                "failed_checks": sorted({m for o in got for m in o.failed}),
                # which checks the undecided runs left open, and in how many runs each
                "inconclusive_checks": dict(
                    sorted(Counter(m for o in got for m in o.inconclusive).items())
                ),
                "replay_s_median": _median([o.replay_s for o in got if o.replay_s is not None]),
                "replay_s_max": max(
                    (o.replay_s for o in got if o.replay_s is not None), default=None
                ),
                "replay_s_median_decided": _median(decided),
                "wall_s_median": _median([o.wall_s for o in got]),
            }
    return out


def _row(label: str, cells: Sequence[tuple[str, str]]) -> str:
    """A table row: the label, then (value, target) per mode."""
    return f"| {label} | " + " | ".join(f"{v} | {t}" for v, t in cells) + " |"


def _target(mode: str, targets: tuple[str, str]) -> str:
    return targets[0 if mode == "quiet" else 1] or "–"


def table(outcomes: Sequence[Outcome], cases: Sequence[str], modes: Sequence[str]) -> str:
    """The issue's table in Markdown: one row per case, a column per mode, targets beside."""
    s = summary(outcomes, cases, modes)
    lines = [_row("case", [(m, "target") for m in modes]), "|---|" + "---|---|" * len(modes)]
    for key in cases:
        case = CASES[key]
        got = {m: [o for o in outcomes if o.case == key and o.mode == m] for m in modes}
        lines.append(_row(case.row, [(cell(case, got[m]), _target(m, case.target)) for m in modes]))
        if key == "slower-10x":
            times = {m: s[f"{key}/{m}"] for m in modes}
            lines.append(
                _row(
                    "10× slower: replay time, median (max)",
                    [
                        (
                            f"{_secs(times[m]['replay_s_median'])} "
                            f"(max {_secs(times[m]['replay_s_max'])})",
                            _target(m, ("≤ 10 s", "≤ 15 s")),
                        )
                        for m in modes
                    ],
                )
            )
    if "unchanged" in cases:
        cells = []
        for m in modes:
            st = s[f"unchanged/{m}"]
            decided, every = _secs(st["replay_s_median_decided"]), _secs(st["replay_s_median"])
            cells.append((f"{decided} (all runs {every})", "report it"))
        lines.append(_row("median replay time to a decided verdict, unchanged model", cells))
    walls = [(_secs(_median([o.wall_s for o in outcomes if o.mode == m])), "–") for m in modes]
    lines.append(_row("median `gate check` wall time, all cases", walls))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------

CONFIG = """\
# written by benchmarks/decisive.py: live A/B against v1, the built-in default policy
version: 1
model:
  name: demo
  repository: {model}
launcher:
  kind: local
traffic:
  path: {traffic}
  warmup_requests: 50
measure:
  timeout_s: 120
baseline:
  store: {store}
  model_dir: {baseline}
signatures:
  required: true
  rules:
    - method: cosign-key
      key: {key}
reports:
  dir: {reports}
"""

BUSY = "import time\nend = time.monotonic() + {bound}\nwhile time.monotonic() < end:\n    pass\n"


class BusyLoop:
    """One core kept busy by a child process that ends by itself after ``bound_s`` (so a
    killed benchmark leaves nothing spinning for long); ``ensure`` restarts it when it has
    ended, ``stop`` ends it by its PID."""

    def __init__(self, bound_s: float) -> None:
        self.bound_s = bound_s
        self.proc: subprocess.Popen[bytes] | None = None

    def ensure(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = BUSY.format(bound=self.bound_s)
            self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


@contextlib.contextmanager
def load(mode: str, bound_s: float) -> Iterator[BusyLoop | None]:
    """The mode's machine state: nothing for ``quiet``, a busy loop for ``loaded``."""
    if mode != "loaded":
        yield None
        return
    busy = BusyLoop(bound_s)
    busy.ensure()
    try:
        yield busy
    finally:
        busy.stop()


def make_traffic(path: Path, count: int) -> Path:
    """``fixtures/make_traffic.py --count COUNT --rate 200 --seed 7`` into ``path``."""
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "fixtures" / "make_traffic.py"),
            "--out",
            str(path),
            "--count",
            str(count),
            "--rate",
            "200",
            "--seed",
            "7",
        ],
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
    )
    return path


def run_one(
    case: Case, mode: str, run: int, work: Path, traffic: Path, timeout_s: float
) -> Outcome:
    """One ``gate check`` of ``case`` in a folder of its own."""
    folder = work / mode / case.key / f"run-{run}"
    if folder.exists():  # a sitting stopped inside this run (--resume --keep): start afresh
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    config = folder / "gate.yaml"
    config.write_text(
        CONFIG.format(
            model=MODELS / case.model,
            traffic=traffic,
            store=work / "store",
            baseline=MODELS / "v1",
            key=KEY,
            reports=folder / "reports",
        )
    )
    t0 = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gate", "check", str(config), "-q"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        code, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired:
        code, stderr = -1, f"gate check did not finish within {timeout_s:g} s"
    wall = time.monotonic() - t0
    path = folder / "reports" / "run.json"
    record = json.loads(path.read_text()) if path.is_file() else None
    return outcome_from_run(case.key, mode, run, code, record, wall, stderr)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=20, help="runs per case and mode (default 20)")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    ap.add_argument("--modes", default="quiet,loaded", help="quiet, loaded or both")
    ap.add_argument("--requests", type=int, default=1200, help="recorded requests (default 1200)")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="1 run of unchanged and slower-10x, quiet, 400 requests",
    )
    ap.add_argument("--timeout", type=float, default=900, help="seconds one gate check may take")
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=0,
        help="start no further run k after this many minutes (0: no limit); the table counts "
        "the runs made",
    )
    ap.add_argument("--seed", type=int, default=11, help="shuffles the case order within a run")
    ap.add_argument(
        "--out", type=Path, help="JSON file of every run (the table goes beside it as .md)"
    )
    ap.add_argument("--keep", type=Path, help="keep every run's folder (gate.yaml, reports) here")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="read --out first and make only the runs it lacks (same --requests)",
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.runs, args.cases, args.modes, args.requests = 1, ",".join(SMOKE_CASES), "quiet", 400
    args.cases = [c for c in args.cases.split(",") if c]
    args.modes = [m for m in args.modes.split(",") if m]
    bad = [c for c in args.cases if c not in CASES] + [
        m for m in args.modes if m not in ("quiet", "loaded")
    ]
    if bad or args.runs < 1:
        ap.error(f"unknown case or mode: {', '.join(bad)}" if bad else "--runs must be >= 1")
    if args.resume and args.out is None:
        ap.error("--resume reads and extends --out: give --out FILE")
    return args


def resumed(path: Path, requests: int) -> tuple[list[str], list[Outcome]]:
    """The commands and runs of an earlier sitting's ``--out`` file (none if it does not
    exist yet). Runs made with other recorded traffic would not count alike: refused."""
    if not path.is_file():
        return [], []
    record = json.loads(path.read_text())
    if record.get("requests") != requests:
        raise SystemExit(
            f"{path}: made with --requests {record.get('requests')}, not {requests}: "
            "give the same --requests, or a new --out"
        )
    commands = record.get("commands") or [record["command"]]
    outcomes = [
        Outcome(**{**o, "stages": [tuple(s) for s in o.get("stages", [])]})
        for o in record["outcomes"]
    ]
    return list(commands), outcomes


def write(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    outcomes: list[Outcome],
    earlier: Sequence[str] = (),
) -> str:
    """The table, and with ``--out`` the JSON of every run so far and the table beside it:
    written after every run, so a run stopped early (``--max-minutes``, Ctrl-C) keeps what
    it measured."""
    text = table(outcomes, args.cases, args.modes)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])])
        record = {
            "command": command,
            "commands": [*earlier, command],
            "requests": args.requests,
            "runs": args.runs,
            "cases": args.cases,
            "modes": args.modes,
            "summary": summary(outcomes, args.cases, args.modes),
            "outcomes": [asdict(o) for o in outcomes],
        }
        args.out.write_text(json.dumps(record, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    earlier, outcomes = resumed(args.out, args.requests) if args.resume else ([], [])
    done = {(o.run, o.mode, o.case) for o in outcomes}
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes else None
    with contextlib.ExitStack() as stack:
        work = args.keep or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="decisive-"))
        )
        work.mkdir(parents=True, exist_ok=True)
        traffic = make_traffic(work / "traffic.jsonl.gz", args.requests)
        bound = args.timeout * len(args.cases) + 60
        # run k of every case in every mode before run k+1 of any: a drift of the machine
        # falls on every cell alike, and a run stopped early has a balanced table
        for run in range(1, args.runs + 1):
            if deadline is not None and time.monotonic() >= deadline:
                print(f"--max-minutes reached: {run - 1} runs", file=sys.stderr)
                break
            for mode in args.modes:
                # drawn for every run, made or not, so a resumed table has one sitting's order
                order = rng.sample(args.cases, len(args.cases))
                todo = [key for key in order if (run, mode, key) not in done]
                if not todo:
                    continue
                with load(mode, bound) as busy:
                    for key in todo:
                        if busy is not None:
                            busy.ensure()
                        o = run_one(CASES[key], mode, run, work, traffic, args.timeout)
                        outcomes.append(o)
                        write(args, argv, outcomes, earlier)
                        print(
                            f"{mode} run {run} {key}: exit {o.exit_code} {o.verdict} "
                            f"failed={o.failed} undecided={o.inconclusive} "
                            f"replay={_secs(o.replay_s)} wall={o.wall_s:.1f} s"
                            + (f" error: {o.error}" if o.error else ""),
                            file=sys.stderr,
                            flush=True,
                        )
    print(write(args, argv, outcomes, earlier), end="")
    # verdicts are the measurement, never a failure; a run that crashed (no verdict) is
    crashed = [o for o in outcomes if o.verdict == "ERROR"]
    for o in crashed:
        print(f"{o.mode} run {o.run} {o.case}: exit {o.exit_code}: {o.error}", file=sys.stderr)
    return 1 if crashed else 0


if __name__ == "__main__":
    # SIGTERM ends the run through the same path as Ctrl-C: the busy loop is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise SystemExit(main())
