"""A block on the stored baseline is confirmed on fresh servers before it stands.

The stored baseline's runs are taken back to back, minutes or days before the check, so
their spread is the drift between server starts *then*; a co-tenant that takes a core for
the length of one candidate server session (a shared CI runner does this) moves that
session's latency or throughput by more than that spread, and the judge, seeing an effect
far outside the baseline's spread, would block an unchanged model (seen on a CI runner:
throughput c=4 −21% on a byte-identical model whose three baseline runs agreed within ±1%).

Stored-only mode adds candidate runs one at a time and stops at the first look where a
gating check FAILs (``gate.app.check``). When that check is a latency (stored, not live
A/B), memory or throughput check, ``measure.confirm_runs`` more candidate runs are replayed,
each on its own fresh server, and every check is judged again on all candidate runs at one
final look (``judge_again``): judging the same sequence with one more look would not do,
since its first decided look wins and the FAIL would stand whatever came after. The verdict
is that second judgement, and sampling ends there (``Sampling.stopped``: ``blocked`` when a
gating check still fails, else ``confirmed``).

Why this keeps the false-alarm rate: a check can only block after confirmation if the
sequence failed first, so under an unchanged model the chance of a final block is at most the
chance of the sequence blocking, which its spending holds at ``alpha`` (each check at its
Bonferroni share).
A wrong PASS needs the second judgement's own safety test to be wrong, at most its alpha.
When the confirming replay itself breaks, the first judgement stands (with a warning): a
failure of the machine never loosens a block. A real regression shows in every session and
still blocks; it costs ``confirm_runs`` replays, and only when something failed (even past
the sampling budget: a block is worth the replays that confirm it). Accuracy is
not re-measured (the eval set's answers do not depend on the machine's load), so an accuracy
failure alone is never re-judged. The live A/B session needs none of this: its arms share
every moment of one server, so a co-tenant slows both.
"""

from __future__ import annotations

from dataclasses import replace

from gate.app.replays import FreshRuns, Measured
from gate.app.run import Run
from gate.config.policy import Policy
from gate.errors import InfraError
from gate.evidence import Evidence, SamplingLook
from gate.judge.design import stop_reason
from gate.judge.families import Judgement, judge
from gate.judge.protocol import Family


def session_failures(evidence: Evidence, judgement: Judgement) -> list[str]:
    """The names of the failed checks whose evidence is one server session's against the
    stored baseline's (what a busy machine can move): memory, throughput, and latency when
    it was not judged from live A/B."""
    if evidence.baseline is None:
        return []
    families = [Family.MEMORY, Family.THROUGHPUT]
    if evidence.ab is None:
        families.append(Family.LATENCY)
    return [c.name for c in judgement.failed(*families)]


def replay_more(run: Run, fresh: FreshRuns, failed: list[str], extra: int) -> Measured | None:
    """``extra`` more candidate runs, each on a fresh server: all runs measured so far, or
    None (with a warning) when the confirming replay broke and the first judgement stands."""
    try:
        for _ in range(extra):
            fresh.add()
    except InfraError as e:  # the first judgement stands: a block is never loosened by this
        run.warn(f"{', '.join(failed)} failed; confirming on a fresh server broke ({e.message})")
        return None
    return fresh.measured()


def judge_again(
    policy: Policy, evidence: Evidence, look: SamplingLook
) -> tuple[Evidence, Judgement]:
    """The confirming judgement: every check at one final ``look`` on all the candidate's
    runs (``evidence.candidate``), the sampling marked ``blocked`` or ``confirmed``."""
    if evidence.sampling is None:
        raise ValueError("a confirming judgement needs the stored sampling")
    one = [look.model_copy(update={"final": True})]
    sampling = evidence.sampling.model_copy(update={"looks": one, "stopped": ""})
    again = judge(policy, replace(evidence, sampling=sampling))
    blocked = stop_reason(again.checks, True) == "blocked"
    sampling = sampling.model_copy(update={"stopped": "blocked" if blocked else "confirmed"})
    return replace(evidence, sampling=sampling), again


def confirmation_warning(
    failed: list[str], first_runs: int, extra: int, again: Judgement, runs: int
) -> str:
    """What failed first, and what the second judgement on all runs found for it."""
    now = {c.name: c.status.value for c in again.checks}
    return (
        f"{', '.join(failed)} failed on the first {first_runs} candidate run(s); "
        f"{extra} more on fresh servers (measure.confirm_runs) and the judgement made again "
        f"on all {runs}: " + ", ".join(f"{name} {now.get(name, '?')}" for name in failed)
    )
