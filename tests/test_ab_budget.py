"""The live session's budget, part by part (``gate.app.ab_budget``): a round part is not
started when its last measured length would carry the session past ``ab.max_duration_s``.

The parts here are stand-ins that only move a fake clock (no server: what is under test is
the decision to start a part or stop for the budget, which needs no measurement); the live
session calls the same ``run_parts`` with its latency, memory and throughput parts.
"""

from __future__ import annotations

from collections.abc import Callable

from gate.app.ab_budget import PartBudget, run_parts


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _part(clock: Clock, name: str, seconds: float, ran: list[str]) -> Callable[[], str]:
    def step() -> str:
        clock.now += seconds
        ran.append(name)
        return f"{name} done"

    return step


def test_a_part_is_started_only_when_its_last_length_fits_in_the_budget() -> None:
    clock = Clock()
    budget = PartBudget(120.0, start=0.0, clock=clock)
    assert budget.fits("latency")  # never measured: nothing foretells it, it starts
    budget.measure("latency", _part(clock, "latency", 10.0, []))
    assert budget.expected("latency") == 10.0
    clock.now = 110.0
    assert budget.fits("latency")  # ends at 120 s: within
    clock.now = 110.5
    assert not budget.fits("latency")
    assert budget.fits("throughput c=4")  # another part, still unmeasured


def test_a_round_leaves_out_the_part_that_would_pass_the_budget() -> None:
    """The look after round 2 (at 65 s; that round took 50 s) foresees a round 3 ending at
    115 s, within the 120 s budget. But round 3's latency part is retried (20 s, not 10):
    its throughput part, 40 s last time, would then end at 125 s, so it is not started and
    the round says why; the memory part after it (1 s) still fits and runs."""
    clock = Clock()
    budget = PartBudget(120.0, start=0.0, clock=clock)
    ran: list[str] = []
    looks: list[float] = []

    def failed() -> bool:
        looks.append(clock.now)
        return False

    def round_(latency_s: float, throughput_s: float) -> tuple[list[str], bool]:
        steps = [
            ("latency", _part(clock, "latency", latency_s, ran)),
            ("throughput c=4", _part(clock, "throughput c=4", throughput_s, ran)),
            ("memory", _part(clock, "memory", 1.0, ran)),
        ]
        got = run_parts(steps, budget, failed)
        return got.details, got.out_of_budget

    done = ["latency done", "throughput c=4 done", "memory done"]
    assert round_(10.0, 4.0) == (done, False)  # 0 -> 15 s
    assert round_(10.0, 39.0) == (done, False)  # 15 -> 65 s: throughput grew
    details, out = round_(20.0, 40.0)
    assert out and details[0] == "latency done" and details[2] == "memory done"
    assert details[1] == (
        "not started: throughput c=4 (~39.0 s) would pass the 120 s budget at 85.0 s"
    )
    assert ran[-2:] == ["latency", "memory"]
    assert clock.now == 86.0 <= budget.max_duration_s
    # a look after every part measured but the last: none after the part left out
    assert looks == [10.0, 14.0, 25.0, 64.0, 85.0]


def test_a_failed_look_between_parts_ends_the_round_without_the_budget() -> None:
    clock = Clock()
    budget = PartBudget(120.0, start=0.0, clock=clock)
    ran: list[str] = []
    steps = [
        ("latency", _part(clock, "latency", 10.0, ran)),
        ("throughput c=1", _part(clock, "throughput c=1", 10.0, ran)),
    ]
    got = run_parts(steps, budget, lambda: True)
    assert got.details == ["latency done", "stopped: a gating check failed"]
    assert not got.out_of_budget and ran == ["latency"]


def test_the_first_part_that_does_not_fit_leaves_the_round_empty() -> None:
    clock = Clock()
    budget = PartBudget(60.0, start=0.0, clock=clock, seconds={"latency": 30.0})
    clock.now = 31.0
    ran: list[str] = []
    got = run_parts([("latency", _part(clock, "latency", 30.0, ran))], budget, lambda: False)
    assert got.out_of_budget and ran == [] and got.details[0].startswith("not started: latency")
