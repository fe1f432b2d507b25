"""Load modes: which schedule the recorded payloads are replayed on (``load:`` in gate.yaml).

* ``recorded`` — the recorded arrival times (the default; nothing changes).
* ``rate`` — ``rate_rps`` requests per second for ``duration_s``: request ``i`` is sent at
  ``i / rate_rps`` (``arrival: constant``) or after seeded exponential gaps
  (``arrival: poisson``, reproducible, unlike perf_analyzer's own Poisson mode).
* ``concurrency`` — closed loop with ``concurrency`` requests in flight.

Every mode replays the recorded payloads in recorded order, cycled when more requests are
needed, as a new ``Traffic``; the replay machinery (``--request-intervals`` for a schedule,
``--concurrency-range`` without one) and the pairing of baseline and candidate requests by
index are unchanged. With a schedule the pairing is exact (request ``i`` carries payload
``i mod n`` in both); in closed loop, requests pair by send order, which perf_analyzer's
threads keep only approximately, so the same payload mix pairs rather than the same payload.
"""

from __future__ import annotations

import numpy as np

from gate.config.config import LoadConfig
from gate.inputs.traffic import Request, Traffic


def apply_load(traffic: Traffic, load: LoadConfig) -> Traffic:
    """The traffic a replay in this load mode sends (the same object for ``recorded``)."""
    if load.mode == "recorded":
        return traffic
    reqs = traffic.requests
    if load.mode == "rate":
        assert load.rate_rps is not None and load.duration_s is not None
        n = round(load.rate_rps * load.duration_s)
        gap_us = 1e6 / load.rate_rps
        if load.arrival == "poisson":
            rng = np.random.default_rng(load.seed or 0)
            gaps = rng.exponential(gap_us, size=n)
            gaps[0] = 0.0
            t = np.cumsum(gaps)
        else:
            t = np.arange(n, dtype=np.float64) * gap_us
        times = [int(v) for v in np.rint(t).astype(np.int64)]
        out = tuple(Request(times[i], reqs[i % len(reqs)].inputs) for i in range(n))
        source = f"{traffic.source or 'traffic'} @ {load.describe()}"
    else:
        n = load.requests or len(reqs)
        out = tuple(Request(None, reqs[i % len(reqs)].inputs) for i in range(n))
        source = f"{traffic.source or 'traffic'} @ {load.describe()}"
    return Traffic(
        model=traffic.model,
        inputs=traffic.inputs,
        requests=out,
        source=source,
        created_at=traffic.created_at,
    )


def replay_concurrency(load: LoadConfig) -> int:
    """Requests in flight for a replay without a schedule (1 unless the mode says so)."""
    return load.concurrency or 1 if load.mode == "concurrency" else 1
