"""``gate traffic sample`` on a long synthetic recording: does the cut keep the arrival
process, and what does the window search cost?

Prints, for a bursty renewal recording (gamma inter-arrivals, shape 0.4, ~1000 req/s):
the KS distance and scipy's KS p-value of the chosen window's inter-arrivals against the
whole recording's, the same for thinning to the same count (the naive alternative), and the
time of the window search with the O(n log m) KS against the plain two-sample KS, measured
side by side (a ratio, not an absolute time: machines here are noisy).

    .venv/bin/python benchmarks/traffic_sample.py [--requests 100000] [-n 500 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

import gate.inputs.trace as ti
from gate.inputs.traffic import Request, TensorSpec, Traffic


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("-n", type=int, nargs="+", default=[500, 2000])
    ap.add_argument("--seed", type=int, default=20261128)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    t = np.concatenate([[0], np.cumsum(np.round(rng.gamma(0.4, 2500.0, a.requests - 1)))])
    x = np.zeros((1, 4), np.float32)
    full = Traffic(
        "demo",
        (TensorSpec("INPUT0", "FP32", (4,)),),
        tuple(Request(int(v), {"INPUT0": x}) for v in t),
    )
    gf = np.diff(t)
    for n in a.n:
        t0 = time.perf_counter()
        cut, info = ti.sample_window(full, n)
        fast = time.perf_counter() - t0
        fast_ks, ti.ks_to_reference = ti.ks_to_reference, lambda w, r: ti.ks_distance(w, r)
        try:
            t0 = time.perf_counter()
            _, info_plain = ti.sample_window(full, n)
            plain = time.perf_counter() - t0
        finally:
            ti.ks_to_reference = fast_ks
        assert info_plain.start == info.start
        g = np.diff([r.t_us for r in cut.requests])
        keep = np.sort(rng.choice(len(t), n, replace=False))
        thin = np.diff(t[keep])
        print(
            f"n={n}: window start {info.start}, KS D={info.ks:.3f} "
            f"p={stats.ks_2samp(g, gf).pvalue:.3f}, rate {info.rate_window:.0f} vs "
            f"{info.rate_full:.0f} req/s | thinning KS p={stats.ks_2samp(thin, gf).pvalue:.1e} | "
            f"search {fast:.2f}s vs plain KS {plain:.2f}s ({plain / fast:.0f}x)"
        )


if __name__ == "__main__":
    main()
