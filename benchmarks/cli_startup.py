"""Cold start of ``gate --help`` and ``gate --version`` beside a bare ``python -c pass``.

    .venv/bin/python benchmarks/cli_startup.py [--repeat 10] [--out FILE.json]

Each command runs ``--repeat`` times as a fresh process (``python -m gate …``, as CI and a
person start it), interleaved so a busy neighbour slows all three alike; the median wall time
of each is reported with its ratio to ``python -c pass``, the floor no CLI goes below. Target:
``--help`` and ``--version`` at most 0.10 s median. What keeps them there is that nothing heavy
(pydantic, numpy, yaml, rich, …) is imported before a command needs it;
``tests/test_cli_startup.py`` guards that on the import graph, not on time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "gate --help": [sys.executable, "-m", "gate", "--help"],
    "gate --version": [sys.executable, "-m", "gate", "--version"],
}


def _once(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
    return time.perf_counter() - t0


def measure(repeat: int) -> dict[str, list[float]]:
    """Wall seconds per command, ``repeat`` cold starts each, interleaved."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in COMMANDS.values():  # warm the page cache, not the interpreter
        _once(argv, env)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeat):
        for name, argv in COMMANDS.items():
            times[name].append(_once(argv, env))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    times = measure(args.repeat)
    floor = statistics.median(times["python -c pass"])
    rows = []
    print(f"{'command':<16} {'median s':>9} {'min s':>7} {'x python -c pass':>17}")
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append({"command": name, "median_s": med, "min_s": min(ts), "ratio": med / floor})
        print(f"{name:<16} {med:9.3f} {min(ts):7.3f} {med / floor:17.1f}")
    if args.out:
        args.out.write_text(json.dumps({"repeat": args.repeat, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
