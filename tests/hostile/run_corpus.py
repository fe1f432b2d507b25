"""Run the whole hostile corpus and print its table (what the CI test asserts, as a report).

    python tests/hostile/run_corpus.py [--layout plain|aliased] [--jobs N] [-k SUBSTRING] [-v]

Exit 0 when every case is clean. ``-v`` prints each failing case with its stderr.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent))

from hostile.harness import Outcome, build_template, load_cases, run_case, table  # noqa: E402


def run_all(
    layout: str = "plain", jobs: int = 3, only: str = "", work: Path | None = None
) -> list[Outcome]:
    cases = [c for c in load_cases() if only in c.id]
    with tempfile.TemporaryDirectory(prefix="gate-hostile-", dir=work) as tmp:
        root = Path(tmp)
        template = root / "template"
        build_template(template)

        def one(i: int) -> Outcome:
            return run_case(cases[i], template, root / f"case-{i:03d}", layout)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(one, range(len(cases))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layout", choices=["plain", "aliased"], default="plain")
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("-k", dest="only", default="")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--lines", action="store_true", help="print every case's error line")
    a = ap.parse_args()
    outcomes = run_all(a.layout, a.jobs, a.only)
    if a.lines:
        for o in outcomes:
            print(f"{o.case.id} [{o.returncode}] {o.stderr.strip()[:400]}")
    if a.v:
        for o in outcomes:
            if o.category != "clean":
                print(o.explain(), "\n")
    print(table(outcomes))
    raise SystemExit(0 if all(o.category == "clean" for o in outcomes) else 1)


if __name__ == "__main__":
    main()
