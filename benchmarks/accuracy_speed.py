"""Time the accuracy, agreement and SLO judges on large eval sets (vectorised numpy).

.venv/bin/python benchmarks/accuracy_speed.py --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gate.config.policy import AccuracyCheck, AgreementPolicy, Policy
from gate.config.slo import Objective
from gate.evidence import AccuracyRecord, EncodedArray
from gate.judge.accuracy import accuracy_checks, agreement_checks
from gate.judge.decide import decide
from gate.judge.slo import Measurement, slo_check


def record(top1: np.ndarray, mae: np.ndarray, out: np.ndarray) -> AccuracyRecord:
    return AccuracyRecord(
        eval_set="bench",
        eval_set_digest="sha256:0",
        samples=top1.size,
        output="P",
        kind="label",
        scores={
            "top1": EncodedArray.encode(top1.astype(np.uint8)),
            "err": EncodedArray.encode(mae),
        },
        higher_is_better={"top1": True, "err": False},
        outputs=EncodedArray.encode(out),
        top_indices=EncodedArray.encode(np.argmax(out, 1)[:, None].astype(np.int32)),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    pol = Policy()
    checks = (
        AccuracyCheck(metric="top1", tolerance=0.01),
        AccuracyCheck(metric="err", tolerance=0.05),
    )
    agree = AgreementPolicy(enabled=True, min_top1=0.99, max_abs_diff=1e-3, p99_abs_diff=1e-3)
    from scipy import stats  # noqa: F401  (imported once, outside the timings)

    print(
        "| samples | decode + accuracy checks | agreement (10 outputs/sample) | p95 SLO | total |"
    )
    print("|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        b = rng.random(n) < 0.93
        c = b ^ (rng.random(n) < 0.02)
        out = rng.random((n, 10)).astype(np.float32)
        base = record(b, rng.gamma(2, 1, n), out)
        cand = record(c, rng.gamma(2, 1, n), out + np.float32(1e-4))
        lat = rng.lognormal(0, 0.3, n)
        t0 = time.perf_counter()
        res = accuracy_checks(pol, checks, base, cand, where="bench")
        t1 = time.perf_counter()
        res += agreement_checks(agree, base, cand, alpha=0.05, power=0.8, where="bench")
        t2 = time.perf_counter()
        obj = Objective("latency.p95_ms", "<=", 2.0, "latency.p95_ms <= 2")
        res.append(
            slo_check(
                obj,
                Measurement("quantile", "ms", samples=lat, q=0.95),
                mode="non_inferiority",
                alpha=0.05,
                power=0.8,
            )
        )
        decide(res, 0.05)
        t3 = time.perf_counter()
        print(f"| {n} | {t1 - t0:.3f} s | {t2 - t1:.3f} s | {t3 - t2:.3f} s | {t3 - t0:.3f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
