"""The live session's time budget, kept part by part: a round part is not started when what
the same part took last time would carry the session past ``ab.max_duration_s``.

A look after a whole round can only foresee the next round from the last one, and a round is
several parts (latency block pairs, memory steps, a throughput window pair per concurrency)
whose lengths differ and change: throughput windows grow after the first round to fill
perf_analyzer's poll, a check decided drops its part, a retried replay doubles one. Checked
only between rounds, an A/A session was seen to take 230 s of a 120 s budget. So before each
part the session asks ``PartBudget.fits``: the time used so far plus the part's expected
length (its last measured length; a part never measured yet is started, since nothing
foretells it) must stay within the budget. A part that does not fit is not started (a
shorter one after it still may be), the look after the round is the last one, and sampling
stops for the budget (``stopped: budget``; the round's stage names the part left out). The
budget can still be passed by as much as a part takes beyond its last length (a retried
replay), or by the first round, whose parts nothing foretells.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class PartBudget:
    """What each kind of round part took when last measured, against the session's budget
    (``max_duration_s`` of measuring, counted from the clock's ``start``)."""

    max_duration_s: float
    start: float
    clock: Callable[[], float] = time.monotonic
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start

    def expected(self, part: str) -> float | None:
        """How long ``part`` is expected to take (None: never measured)."""
        return self.seconds.get(part)

    def fits(self, part: str) -> bool:
        """Whether ``part`` may start: unmeasured, or expected to end within the budget."""
        expected = self.expected(part)
        return expected is None or self.elapsed + expected <= self.max_duration_s

    def measure(self, part: str, step: Callable[[], str]) -> str:
        """Run one part, keeping how long it took."""
        t0 = self.clock()
        try:
            return step()
        finally:
            self.seconds[part] = self.clock() - t0


@dataclass
class RoundParts:
    """What the parts of one round gave: their details, and whether the budget ended it."""

    details: list[str] = field(default_factory=list)
    out_of_budget: bool = False


def run_parts(
    steps: Sequence[tuple[str, Callable[[], str]]],
    budget: PartBudget,
    failed: Callable[[], bool],
) -> RoundParts:
    """The round's ``(part, step)`` in order, each only if it fits in the budget, with a look
    (``failed``: True when a gating check failed, which ends the round) after every part
    but the last."""
    out = RoundParts()
    for i, (part, step) in enumerate(steps):
        if not budget.fits(part):
            expected = budget.expected(part) or 0.0
            out.details.append(
                f"not started: {part} (~{expected:.1f} s) would pass the "
                f"{budget.max_duration_s:g} s budget at {budget.elapsed:.1f} s"
            )
            out.out_of_budget = True
            continue  # a shorter part after it may still fit
        out.details.append(budget.measure(part, step))
        if i < len(steps) - 1 and failed():
            out.details.append("stopped: a gating check failed")
            break
    return out
