"""Throughput of both arms in interleaved time slots: closed loops a quarter second apart.

A closed-loop level measured one arm after the other pairs two runs of about a second each
(perf_analyzer in request-count mode ends on a one-second poll), and the server's speed does
not stay put that long. measured here (A/A, the demo model at c=4, server and client on
their own cores): a run's mean ln(inferences/s) varies 3-6x more than its own windows would
give if they were independent, its level does not depend on the perf_analyzer process (four
processes at c=1 together wander like one at c=4) nor much on the run's length (runs of
1.8 s: the same spread per pair at twice the cost). Measuring the arms at the same moment
does not work at saturation: they then share the server and its scheduler, not its speed.

So a level that is not measured together (``baseline.ab_throughput_together``) is measured
in **slots**: one perf_analyzer process per arm for the round, both started together (as
the slotted latency rounds are), each arm's schedule holding its slot's requests all due
at the slot's start with at most ``c`` in flight (perf_analyzer's synchronous sending
threads): within its slot an arm runs a closed loop at concurrency ``c`` alone on the
server, then waits while the other arm has its slot. Slot pairs alternate their order (A B,
B A, ...), with a guard between slots. An arm's inferences/s in a slot is its completions
past the loop's filling (``2c``) and before its draining (``c``), over the time they span.
A slot holds ``FILL`` of what the arm's slowest slot of the last round would complete in
it, so that it ends in its own time (the guard takes what a slower moment leaves over).

measured here (``benchmarks/throughput_split.py``, A/A at c=4, two sessions each, a unit's
variance times the seconds it took, x1e4, lower decides sooner): one arm after the other
559 and 485; slots of 0.25 s in rounds of six pairs 202 and 312, then 254 and 90, in rounds
of three pairs 52 and 98 (``PAIRS``; see benchmarks/README.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gate.app.ab_rounds import LEAD_US, order
from gate.app.session import ServerSession
from gate.errors import MeasurementError
from gate.evidence import LatencyRun, ThroughputLevel

#: Share of a slot the arm's requests fill at its slowest rate of the last round.
FILL = 0.8
#: Requests of a slot when nothing is known of the arm's rate yet (a first round: short
#: slots are measured right, an overfull one would spill into the other arm's).
FIRST_REQUESTS_PER_CONCURRENCY = 40
#: Guard between two slots, at least (µs).
GUARD_US = 30_000
#: Slot pairs per round. measured (benchmarks/throughput_split.py, A/A at c=4, two sessions,
#: variance x seconds x1e4): 3 pairs of 0.25 s 52 and 98 at 2.1 s a round, 6 pairs 254 and 90
#: at 4.2 s: a round's slots share part of their noise (more slots a round shrink it less than
#: more rounds do), and a shorter round leaves more of the session to the other checks.
PAIRS = 3


@dataclass(frozen=True)
class SlotPlan:
    """A round of slots: ``pairs`` slot pairs of ``slot_us`` each, ``requests[arm]`` per
    slot, at concurrency ``concurrency``; pair ``j`` goes in ``order(first_pair + j)`` (so
    with an even ``pairs`` each arm goes first in half the pairs, and the round's first slot
    alternates with ``first_pair``'s parity)."""

    concurrency: int
    slot_us: int
    requests: Mapping[str, int]
    pairs: int = PAIRS
    first_pair: int = 0
    guard_us: int = GUARD_US

    def __post_init__(self) -> None:
        least = self.warmup + self.cooldown + 2
        if min(self.requests.values()) < least:
            raise ValueError(f"a slot needs at least {least} requests")

    @property
    def warmup(self) -> int:
        """Completions discarded at a slot's start (the loop filling up)."""
        return 2 * self.concurrency

    @property
    def cooldown(self) -> int:
        """Completions discarded at a slot's end (fewer than ``c`` left in flight)."""
        return self.concurrency


def schedules(plan: SlotPlan) -> dict[str, list[tuple[int, int]]]:
    """Each arm's sends: (µs after its first send, slot pair or -1 for that first, a warm-up
    request that opens its connection), the arms' slots complementary in time. A slot's
    requests are due 1 µs apart from its start (perf_analyzer's gaps must be positive): at
    once, as far as a closed loop of ``c`` can tell."""
    out: dict[str, list[tuple[int, int]]] = {arm: [(0, -1)] for arm in "AB"}
    now = LEAD_US
    for j in range(plan.pairs):
        for arm in order(plan.first_pair + j):
            out[arm] += [(now + i, j) for i in range(plan.requests[arm])]
            now += plan.slot_us + plan.guard_us
    return out


def slot_rates(
    sends: Sequence[tuple[int, int]], run: LatencyRun, plan: SlotPlan
) -> tuple[list[float], float]:
    """One arm's inferences/s in each of its slots, and the seconds they were measured over,
    from the replay of ``sends`` (completion = scheduled send + send delay + latency)."""
    lat = np.asarray(run.latencies_us, dtype=np.float64)
    delay = np.asarray(run.send_delay_us, dtype=np.float64)
    if lat.size != len(sends) or delay.size != len(sends):
        raise MeasurementError(
            f"a throughput slot replay returned {lat.size} results for {len(sends)} requests"
        )
    t = np.array([s for s, _ in sends], dtype=np.float64)
    slot = np.array([j for _, j in sends])
    done = t + delay + lat
    rates, seconds = [], 0.0
    for j in range(plan.pairs):
        d = np.sort(done[slot == j])[plan.warmup : -plan.cooldown]
        span = float(d[-1] - d[0]) / 1e6
        if span <= 0:
            raise MeasurementError("a throughput slot's completions span no time")
        rates.append((d.size - 1) / span)
        seconds += span
    return rates, seconds


def next_requests(rates: Sequence[float], slot_us: int, concurrency: int) -> int:
    """Requests for the arm's next slots: ``FILL`` of a slot at its slowest rate so far."""
    least = 3 * concurrency + 2 + 10
    return max(least, int(FILL * min(rates) * slot_us / 1e6))


def first_requests(concurrency: int) -> int:
    return FIRST_REQUESTS_PER_CONCURRENCY * concurrency


def measure_slots(
    session: ServerSession,
    models: Mapping[str, str],
    plan: SlotPlan,
    *,
    index: int,
    max_batch_size: int,
) -> dict[str, ThroughputLevel]:
    """One round of slots: each arm's inferences/s per slot as a ``ThroughputLevel`` (its
    windows are the slots). A failed process repeats the round (``measure.retries`` times),
    so both arms' slots always share their moments."""
    traffic = session.prep.traffic
    inputs = session.inputs("throughput", traffic, warmup=0, max_batch_size=max_batch_size)
    sched = schedules(plan)
    sends = {arm: [t for t, _ in sched[arm]] for arm in "AB"}
    tries = session.cfg.measure.retries + 1
    for attempt in range(1, tries + 1):
        try:
            runs = session.closed_slots(
                models,
                sends,
                inputs,
                concurrency=plan.concurrency,
                index=index,
                cap_last=attempt == tries,
            )
            break
        except MeasurementError:
            if attempt == tries:
                raise
    out = {}
    for arm in "AB":
        rates, seconds = slot_rates(sched[arm], runs[arm], plan)
        pa = runs[arm].perf_analyzer
        out[arm] = ThroughputLevel(
            concurrency=plan.concurrency,
            windows=rates,
            window_requests=plan.requests[arm],
            requests=len(sends[arm]),
            seconds=round(seconds, 6),
            perf_analyzer_args=pa.args if pa else [],
            attempts=attempt,
            server_stats=runs[arm].server_stats,
        )
    return out
