"""A block on the stored baseline is confirmed on fresh servers before it stands.

The stored baseline's runs are taken back to back, minutes or days before the check, so
their spread is the drift between server starts *then*; a co-tenant that takes a core for
the length of the candidate's only server session (a shared CI runner does this) moves that
session's latency or throughput by more than that spread, and the judge, seeing an effect
far outside the baseline's spread, would block an unchanged model (seen on a CI runner:
throughput c=4 −21% on a byte-identical model whose three baseline runs agreed within ±1%).

So when a latency (stored, not live A/B), memory or throughput check FAILs,
``measure.confirm_runs`` more candidate runs are replayed, each on its own fresh server,
and the whole judgement is made again on all candidate runs (the run-level tests then see
the candidate's own spread between sessions). The verdict is that second judgement.

Why this keeps the false-alarm rate: a check can only block after confirmation if some
check failed first, so under an unchanged model the chance of a final block is at most the
chance of the first judgement blocking, which the judge holds at ``alpha``. When the
confirming replay itself breaks, the first judgement stands (with a warning): a failure of
the machine never loosens a block. A real
regression shows in every session and still blocks; it costs ``confirm_runs`` replays, and
only when something failed. Accuracy is not re-measured (the eval set's answers do not
depend on the machine's load), so an accuracy failure alone is never re-judged.
"""

from __future__ import annotations

from dataclasses import replace

from gate.app.prepare import Prepared
from gate.app.replays import measure_runs
from gate.app.run import Run
from gate.errors import InfraError
from gate.evidence import Evidence, Samples
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


def confirm(
    run: Run, prep: Prepared, evidence: Evidence, judgement: Judgement
) -> tuple[Evidence, Judgement]:
    """Replay the candidate ``measure.confirm_runs`` more times when a session-level check
    against the stored baseline failed, and judge again on all its runs; else unchanged."""
    extra = prep.cfg.measure.confirm_runs
    failed = session_failures(evidence, judgement)
    if not extra or not failed:
        return evidence, judgement
    cand = evidence.candidate
    try:
        more = measure_runs(run, prep, extra, label="candidate", first=len(cand.runs))
    except InfraError as e:  # the first judgement stands: a block is never loosened by this
        run.warn(f"{', '.join(failed)} failed; confirming on a fresh server broke ({e.message})")
        return evidence, judgement
    merged = Samples(
        cand.runs + more.runs,
        cand.memory + more.memory,
        cand.throughput + more.throughput,
        cand.accuracy,
    )
    evidence = replace(evidence, candidate=merged)
    with run.stage("judge again") as st:
        again = judge(prep.policy, evidence)
        st.detail = f"{len(merged.runs)} candidate runs → {again.verdict.value}"
    now = {c.name: c.status.value for c in again.checks}
    run.warn(
        f"{', '.join(failed)} failed on the first {len(cand.runs)} candidate run(s); "
        f"{extra} more on fresh servers (measure.confirm_runs) and the judgement made again "
        f"on all {len(merged.runs)}: "
        + ", ".join(f"{name} {now.get(name, '?')}" for name in failed)
    )
    result = run.result
    result.runs = list(merged.runs)
    result.memory = list(merged.memory)
    result.throughput = list(merged.throughput)
    return evidence, again
