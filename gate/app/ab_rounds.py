"""One round of a live A/B session: the traffic replayed once per arm in interleaved blocks.

Blocks pair up: block pair ``g`` sends the same recorded requests (``start .. start+size``,
cycling the traffic) to each arm, A then B or B then A (the order alternates, so a drift over
the session favours neither arm). Two ways to send them:

* **slotted** (timed traffic): one perf_analyzer process per arm for the whole round, both
  started together; each arm's schedule holds requests only in its own time slots, with a
  guard gap between slots. measured here: perf_analyzer in request-count mode ends on a
  one-second poll, so a process per block of a quarter second would cost a second each;
  two processes started together stay within a few milliseconds of each other;
* **blocks** (untimed traffic, replayed at a fixed concurrency, which cannot pause): one
  perf_analyzer process per block, in turn.

Every slot starts with warm-up requests (discarded), so both arms start each block alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

import numpy as np

from gate.app.session import ReplayInputs, ServerSession
from gate.errors import MeasurementError
from gate.evidence import ABBlock, LatencyRun, PerfAnalyzerRetry
from gate.inputs.traffic import Request, Traffic
from gate.result import now_iso
from gate.threads import at_once

#: When the first slot of a round starts, after one request of each arm at the start (µs):
#: two processes started together begin their schedules within a few ms of each other.
LEAD_US = 50_000


@dataclass(frozen=True)
class RoundSpec:
    """Which block pairs a round sends: ``pairs`` pairs of ``size`` requests from traffic
    index ``start`` on (cyclic), numbered from ``first_pair`` (which sets the order)."""

    first_pair: int
    start: int
    pairs: int
    size: int
    warmup: int
    lead_warmup: int
    guard_us: int


@dataclass
class RoundLatency:
    """What one round measured: per block pair both arms' latencies, in pair order."""

    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    blocks: list[ABBlock] = field(default_factory=list)


def order(pair: int) -> tuple[str, str]:
    """The arms' order in block pair ``pair``: A B, B A, A B, …"""
    return ("A", "B") if pair % 2 == 0 else ("B", "A")


def _block_offsets(traffic: Traffic, start: int, size: int, gap: int) -> list[tuple[int, int]]:
    """(traffic index, µs after the block's first request) of each request of a block; a
    wrap to the traffic's start takes the median gap."""
    reqs = traffic.requests
    n = len(reqs)
    out, t = [(start % n, 0)], 0
    for i in range(1, size):
        prev, cur = (start + i - 1) % n, (start + i) % n
        t_prev, t_cur = reqs[prev].t_us or 0, reqs[cur].t_us or 0
        t += (t_cur - t_prev) if cur > prev else gap
        out.append((cur, t))
    return out


def median_gap(traffic: Traffic) -> int:
    t = np.array([r.t_us or 0 for r in traffic.requests], dtype=np.int64)
    return max(1, int(np.median(np.diff(t)))) if t.size > 1 else 1000


def slot_schedules(traffic: Traffic, spec: RoundSpec) -> dict[str, list[tuple[int, int, int]]]:
    """Each arm's schedule for the round: (send µs, traffic index, block pair or -1 for a
    warm-up request), the arms' slots complementary in time."""
    gap = median_gap(traffic)
    n = len(traffic.requests)
    sched: dict[str, list[tuple[int, int, int]]] = {arm: [(0, spec.start % n, -1)] for arm in "AB"}
    now, seen = LEAD_US, set()
    for j in range(spec.pairs):
        g = spec.first_pair + j
        s = (spec.start + j * spec.size) % n
        for arm in order(g):
            warm = spec.warmup if arm in seen else spec.lead_warmup
            seen.add(arm)
            for i in range(warm):
                sched[arm].append((now, (s + i) % n, -1))
                now += gap
            offs = _block_offsets(traffic, s, spec.size, gap)
            sched[arm] += [(now + off, idx, g) for idx, off in offs]
            now += offs[-1][1] + spec.guard_us
    return sched


def together_schedules(traffic: Traffic, spec: RoundSpec) -> dict[str, list[tuple[int, int, int]]]:
    """Both arms' schedules for a round sent together: the round's lead warm-up, then its
    block pairs back to back at the recorded gaps, the second arm of each pair (``order``)
    half a gap behind the first. So the two requests of a pair meet the same machine load,
    a few milliseconds apart, without racing each other for the server (which arm wins a
    race is a bias, not noise: an A/A sent at the very same moments showed -6%), and which
    arm leads alternates between block pairs."""
    gap = median_gap(traffic)
    n = len(traffic.requests)
    lead = [(i * gap, (spec.start + i) % n, -1) for i in range(spec.lead_warmup)]
    sched: dict[str, list[tuple[int, int, int]]] = {"A": list(lead), "B": list(lead)}
    now = len(lead) * gap
    for j in range(spec.pairs):
        g = spec.first_pair + j
        s = (spec.start + j * spec.size) % n
        offs = _block_offsets(traffic, s, spec.size, gap)
        first, second = order(g)
        sched[first] += [(now + off, idx, g) for idx, off in offs]
        sched[second] += [(now + off + gap // 2, idx, g) for idx, off in offs]
        now += offs[-1][1] + gap
    return sched


def together_round(
    session: ServerSession,
    models: dict[str, str],
    spec: RoundSpec,
    *,
    round_index: int,
    max_batch_size: int,
    during: Callable[[], AbstractContextManager[None]] | None = None,
) -> RoundLatency:
    """Replay one round with both arms at once (``baseline.ab_together``), each request
    half a gap apart (``together_schedules``)."""
    sched = together_schedules(session.prep.traffic, spec)
    label = f"round-{round_index}-together"
    return _replay_round(session, models, spec, sched, label, round_index, max_batch_size, during)


def slotted_round(
    session: ServerSession,
    models: dict[str, str],
    spec: RoundSpec,
    *,
    round_index: int,
    max_batch_size: int,
    during: Callable[[], AbstractContextManager[None]] | None = None,
) -> RoundLatency:
    """Replay one round with one process per arm, both at once, each arm in its own slots
    (``slot_schedules``)."""
    sched = slot_schedules(session.prep.traffic, spec)
    label = f"round-{round_index}"
    return _replay_round(session, models, spec, sched, label, round_index, max_batch_size, during)


def _replay_round(
    session: ServerSession,
    models: dict[str, str],
    spec: RoundSpec,
    sched: dict[str, list[tuple[int, int, int]]],
    label: str,
    round_index: int,
    max_batch_size: int,
    during: Callable[[], AbstractContextManager[None]] | None,
) -> RoundLatency:
    """Both arms' schedules replayed by one process each, started together; a failure of
    either process repeats the whole round (``measure.retries`` times), so the arms of a
    round always share their moment."""
    traffic = session.prep.traffic
    inputs = {
        arm: session.inputs(
            f"{label}-{arm}",
            _arm_traffic(traffic, sched[arm]),
            warmup=0,
            max_batch_size=max_batch_size,
        )
        for arm in "AB"
    }
    tries = session.cfg.measure.retries + 1
    failed: list[PerfAnalyzerRetry] = []
    for attempt in range(1, tries + 1):
        try:
            with during() if during is not None else _nothing():
                runs = _together(session, models, inputs, round_index, last=attempt == tries)
            break
        except MeasurementError as e:
            if attempt == tries:
                raise
            failed += [
                r.model_copy(update={"attempt": attempt})
                for r in e.attempts
                if isinstance(r, PerfAnalyzerRetry)
            ]
    return _collect(sched, runs, spec, attempt, len(traffic.requests), failed)


def _arm_traffic(traffic: Traffic, sched: list[tuple[int, int, int]]) -> Traffic:
    reqs = [Request(t_us=t, inputs=traffic.requests[idx].inputs) for t, idx, _ in sched]
    return dataclasses.replace(traffic, requests=tuple(reqs))


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _together(
    session: ServerSession,
    models: dict[str, str],
    inputs: dict[str, ReplayInputs],
    index: int,
    *,
    last: bool,
) -> dict[str, LatencyRun]:
    """Both arms' processes started together; the first error is raised once both ended.
    Each process gets one attempt, bounded by its work unless this is the ``last`` try of
    the round (the round repeats itself, so a hang costs a few times the round's work, not
    ``measure.timeout_s``)."""
    got: dict[str, LatencyRun] = {}

    def one(arm: str) -> None:
        got[arm] = session.replay(
            models[arm], inputs[arm], index=2 * index + (arm == "B"), retries=0, cap_last=last
        )

    at_once(one, "AB", "gate-ab")
    return got


def _collect(
    sched: dict[str, list[tuple[int, int, int]]],
    runs: dict[str, LatencyRun],
    spec: RoundSpec,
    attempts: int,
    n: int,
    retries: list[PerfAnalyzerRetry],
) -> RoundLatency:
    out = RoundLatency()
    lat = {arm: np.asarray(runs[arm].latencies_us, dtype=np.float64) for arm in "AB"}
    pair_of = {arm: np.array([p for _, _, p in sched[arm]]) for arm in "AB"}
    idx_of = np.array([i for _, i, p in sched["A"] if p >= 0])
    started = now_iso()
    # one process per arm for the round: its server-side statistics (the whole round's,
    # warm-up included) go with the arm's first block, so per-arm totals add up
    stats = {arm: runs[arm].server_stats for arm in "AB"}
    for j in range(spec.pairs):
        g = spec.first_pair + j
        a = lat["A"][pair_of["A"] == g]
        b = lat["B"][pair_of["B"] == g]
        out.a += a.tolist()
        out.b += b.tolist()
        s = (spec.start + j * spec.size) % n
        out.requests += idx_of[j * spec.size : (j + 1) * spec.size].tolist()
        for arm in order(g):
            out.blocks.append(
                ABBlock(
                    arm="A" if arm == "A" else "B",
                    start=s,
                    stop=s + spec.size,
                    started_at=started,
                    attempts=attempts,
                    retries=retries if not out.blocks else [],  # the round's, on its first
                    server_stats=stats.pop(arm, None),
                )
            )
    return out


def block_round(
    session: ServerSession,
    models: dict[str, str],
    spec: RoundSpec,
    *,
    round_index: int,
    max_batch_size: int,
) -> RoundLatency:
    """Replay one round block by block, one perf_analyzer process per block (untimed
    traffic, sent at a fixed concurrency)."""
    traffic = session.prep.traffic
    n = len(traffic.requests)
    out = RoundLatency()
    for j in range(spec.pairs):
        g = spec.first_pair + j
        s = (spec.start + j * spec.size) % n
        idx = [(s + i) % n for i in range(spec.size)]
        lat: dict[str, list[float]] = {}
        for k, arm in enumerate(order(g)):
            warm = spec.lead_warmup if g == 0 else spec.warmup
            sub = dataclasses.replace(traffic, requests=tuple(traffic.requests[i] for i in idx))
            key = f"block-{s}-{spec.size}-{warm}"
            inputs = session.inputs(key, sub, warmup=warm, max_batch_size=max_batch_size)
            started = now_iso()
            lr = session.replay(models[arm], inputs, index=2 * g + k)
            lat[arm] = lr.latencies_us
            pa = lr.perf_analyzer
            out.blocks.append(
                ABBlock(
                    arm="A" if arm == "A" else "B",
                    start=s,
                    stop=s + spec.size,
                    started_at=started,
                    attempts=pa.attempts if pa else 1,
                    retries=pa.retries if pa else [],
                    server_stats=lr.server_stats,
                )
            )
        out.a += lat["A"]
        out.b += lat["B"]
        out.requests += idx
    del round_index
    return out
