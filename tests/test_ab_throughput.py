"""Throughput in interleaved time slots (``gate.app.ab_throughput``): the schedule each arm's
perf_analyzer gets, and the inferences/s read back from its per-request results. Pure: the
real-server path is ``tests/test_ab.py::test_live_ab_same_model_passes``, which checks the
slot pairs a live session measured."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gate.app.ab_rounds import LEAD_US
from gate.app.ab_throughput import (
    FILL,
    GUARD_US,
    SlotPlan,
    first_requests,
    next_requests,
    schedules,
    slot_rates,
)
from gate.errors import MeasurementError
from gate.evidence import LatencyRun


def _plan(**kw: object) -> SlotPlan:
    args: dict[str, object] = {
        "concurrency": 4,
        "slot_us": 250_000,
        "requests": {"A": 30, "B": 40},
        "pairs": 4,
    }
    args.update(kw)
    return SlotPlan(**args)  # type: ignore[arg-type]


def test_slots_alternate_and_never_overlap() -> None:
    plan = _plan(first_pair=1)
    sched = schedules(plan)
    for arm, n in (("A", 30), ("B", 40)):
        sends = [t for t, _ in sched[arm]]
        assert sched[arm][0] == (0, -1)  # one warm-up request opens the connection
        assert len(sends) == 1 + plan.pairs * n
        assert all(b > a for a, b in itertools.pairwise(sends))  # positive gaps
    # slot k of the round starts at LEAD + k * (slot + guard), arms in order(first_pair + j)
    starts = {arm: {j: min(t for t, s in sched[arm] if s == j) for j in range(4)} for arm in "AB"}
    step = plan.slot_us + GUARD_US
    assert starts["B"][0] == LEAD_US and starts["A"][0] == LEAD_US + step  # pair 1: B then A
    assert starts["A"][1] == LEAD_US + 2 * step and starts["B"][1] == LEAD_US + 3 * step
    assert starts["B"][2] == LEAD_US + 4 * step and starts["A"][2] == LEAD_US + 5 * step
    # each slot's sends are due within the slot's first microseconds, never in another's
    for arm in "AB":
        for j in range(4):
            ts = [t for t, s in sched[arm] if s == j]
            assert ts[-1] - ts[0] == len(ts) - 1 < plan.slot_us
    # with an even number of pairs each arm goes first in half of them
    firsts = [min("AB", key=lambda a, j=j: starts[a][j]) for j in range(4)]
    assert sorted(firsts) == ["A", "A", "B", "B"]


def _run(sched: list[tuple[int, int]], plan: SlotPlan, rates: list[float]) -> LatencyRun:
    """Results whose completions in slot j come at ``rates[j]`` per second (a latency of
    500 µs, the send delays making up the closed loop's queueing)."""
    lat, delay = [], []
    for j in [-1, *range(plan.pairs)]:
        ts = [t for t, s in sched if s == j]
        for i, t in enumerate(ts):
            done = ts[0] + 500 + (i * 1e6 / rates[j] if j >= 0 else 0)
            lat.append(500.0)
            delay.append(done - 500 - t)
    # the results come in send order: the warm-up first, then slot by slot
    return LatencyRun(index=0, started_at="", latencies_us=lat, send_delay_us=delay)


def test_slot_rates_read_each_slot_between_filling_and_draining() -> None:
    plan = _plan()
    sched = schedules(plan)["B"]
    want = [5000.0, 6000.0, 4000.0, 7000.0]
    rates, seconds = slot_rates(sched, _run(sched, plan, want), plan)
    np.testing.assert_allclose(rates, want, rtol=1e-9)
    # each slot measured over its completions past 2c and before the last c: 40 - 12 - 1 gaps
    used = 40 - plan.warmup - plan.cooldown - 1
    assert seconds == pytest.approx(sum(used / r for r in want))


def test_slot_rates_ignore_the_fill_and_drain() -> None:
    """A slow start (the loop filling) and a slow end (draining) do not move the rate."""
    plan = _plan()
    sched = schedules(plan)["A"]
    run = _run(sched, plan, [5000.0] * 4)
    delay = list(run.send_delay_us)
    for j in range(plan.pairs):
        idx = [k for k, (_, s) in enumerate(sched) if s == j]
        t0 = sched[idx[0]][0]
        for k in idx[: plan.warmup]:  # the first completions come in a burst, at once
            delay[k] = t0 - sched[k][0]
        for n, k in enumerate(idx[-plan.cooldown :]):  # the last ones straggle
            delay[k] += 5_000.0 * (n + 1)
    rates, _ = slot_rates(sched, run.model_copy(update={"send_delay_us": delay}), plan)
    np.testing.assert_allclose(rates, [5000.0] * 4, rtol=1e-9)


def test_slot_rates_refuse_results_that_do_not_match_the_sends() -> None:
    plan = _plan()
    sched = schedules(plan)["A"]
    run = _run(sched, plan, [5000.0] * 4)
    short = run.model_copy(update={"latencies_us": run.latencies_us[:-1]})
    with pytest.raises(MeasurementError, match="results for"):
        slot_rates(sched, short, plan)


def test_slot_sizes_follow_the_arms_slowest_slot() -> None:
    # FILL of a 0.25 s slot at the slowest rate, never fewer than the fill and drain need
    assert next_requests([6000.0, 4000.0, 7000.0], 250_000, 4) == int(FILL * 4000 * 0.25)
    assert next_requests([10.0], 250_000, 4) == 3 * 4 + 2 + 10
    assert first_requests(4) >= 3 * 4 + 2
    with pytest.raises(ValueError, match="at least"):
        _plan(requests={"A": 13, "B": 40})
