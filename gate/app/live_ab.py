"""The live A/B session: both models in one server, every check paired, sampled until decided.

Arm A is the baseline model, arm B the candidate, loaded as ``<name>__A`` and ``<name>__B``
from a temporary repository of hard links (config.pbtxt rewritten) into one server that is
started and stopped once. After the loads, the eval set goes through both arms (accuracy and
output agreement, paired per sample: its scores do not change with more sampling, so one pass
decides). Then rounds (``gate.app.ab_rounds``): the recorded traffic replayed once per arm in
interleaved block pairs, a pair of closed-loop throughput windows per concurrency level, and
the memory of each arm's own processes sampled meanwhile (or, for a backend that runs inside
the server, each arm's load step, load order alternated). After each round the pure judge
(``gate.judge.families.judge``) looks at everything so far; the session stops when every
gating check is decided, when one fails (the verdict is then BLOCKED whatever else happens),
or when the budget (``ab.max_duration_s``, ``ab.max_requests``) is spent; a round part that
would pass the time budget is not started (``gate.app.ab_budget``). A round measures only
what an undecided check still needs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from gate.app import ab_throughput
from gate.app.ab_budget import PartBudget, run_parts
from gate.app.ab_memory import ArmMemory
from gate.app.ab_repository import ARM_SUFFIX, make_ab_repository
from gate.app.ab_rounds import (
    RoundSpec,
    block_round,
    median_gap,
    order,
    slotted_round,
    together_round,
)
from gate.app.prepare import Prepared
from gate.app.run import Run
from gate.app.server_models import LoadedModel
from gate.app.session import ServerSession
from gate.evidence import (
    ABInfo,
    ABThroughputPair,
    AccuracyRecord,
    Evidence,
    LatencyRun,
    Samples,
    Sampling,
    SamplingLook,
)
from gate.inputs.model import model_digest
from gate.inputs.traffic import Traffic
from gate.judge.design import is_pending, stop_reason
from gate.judge.families import Judgement, judge
from gate.result import Verdict, now_iso
from gate.threads import at_once

#: A round sends at most this much recorded schedule (both arms): rounds of long traffic
#: are parts of a pass, so the judge still looks every few seconds.
ROUND_S = 4.0
#: Guard between the slots of two arms, at least (µs).
GUARD_US = 20_000
#: How long one arm's slot of timed traffic lasts by default (s). measured here (A/A, 100
#: req/s, 4 sessions of 40 s per size, interleaved): the arms' latency level wanders on a
#: one-second scale (10-request chunk medians correlate 0.40 at a lag of 20 requests, 0.13
#: at 90), so a pair whose blocks are a second apart no longer shares it. The shift
#: estimate's variance times the seconds replayed (x1e-4; lower decides sooner): blocks of
#: 20 requests (0.2 s) 49-94, of 40 32-192, of 100 119-628.
BLOCK_S = 0.2
#: Bounds of the default block (requests): a median of fewer is mostly noise; more would
#: last longer than ``BLOCK_S`` at any rate worth gating.
BLOCK_MIN, BLOCK_MAX = 10, 100
#: Warm-up requests before each block by default (discarded): timed traffic in slotted
#: blocks, untimed traffic (a perf_analyzer process per block, whose first requests open its
#: connection). measured here (benchmarks/block_size.py, A/A at 100 req/s, blocks of 20, 3
#: sessions of 40 s each, SE² x seconds x1e4, lower decides sooner): quiet, 5 warm-ups
#: 62-105, 1: 52-65; one core busy, 5: 112-130, 1: 53-89, 2: 51-78. The slot's own first
#: requests see what the other arm left as much as warm-ups do, and the block's median
#: shrugs off a slow first request.
BLOCK_WARMUP_TIMED, BLOCK_WARMUP_UNTIMED = 2, 5
#: A throughput window run is sized to end before perf_analyzer's one-second poll.
THROUGHPUT_RUN_S = 0.8


@dataclass(frozen=True)
class LiveAB:
    """A finished live A/B session: the paired evidence, arm B as the candidate's run, arm B's
    eval-set record, how it sampled, the server's environment, and the last judgement."""

    info: ABInfo
    candidate: LatencyRun
    accuracy: AccuracyRecord | None
    sampling: Sampling
    environment: dict[str, str]
    judgement: Judgement

    @property
    def evidence(self) -> Evidence:
        return _evidence(self.info, self.candidate, self.accuracy, self.sampling)


def _evidence(
    info: ABInfo, cand: LatencyRun, acc: AccuracyRecord | None, sampling: Sampling
) -> Evidence:
    return Evidence(candidate=Samples(runs=(cand,), accuracy=acc), ab=info, sampling=sampling)


def measure_ab(run: Run, prep: Prepared, baseline_dir: Path) -> LiveAB:
    """The whole live session on one fresh server (the baseline model at ``baseline_dir``,
    verified by the caller)."""
    name = prep.model.name
    with ServerSession(run, prep) as session:
        repo = make_ab_repository(session.work, name, baseline_dir, prep.model.served_dir)
        with session.server("(A/B)", log_name="server-ab.log", repository=repo):
            with run.stage("model load (A/B)") as st:
                arms = session.load_together([name + ARM_SUFFIX[a] for a in "AB"])
                for arm, loaded in zip("AB", arms, strict=True):
                    session.check_traffic(loaded, prefix=f"arm {arm}: ")
                    session.bind_eval(loaded)
                env = session.fingerprint("ab-rounds")
                st.detail = f"{arms[0].name} and {arms[1].name} in one server"
            info = ABInfo(
                model_a=arms[0].name,
                model_b=arms[1].name,
                baseline_model_dir=str(baseline_dir),
                baseline_digest=model_digest(baseline_dir),
                block_size=block_size(prep.cfg.baseline.ab_block_size, prep.traffic),
                block_warmup=block_warmup(prep.cfg.baseline.ab_block_warmup, prep.traffic),
                replay=_replay_kind(prep),
                throughput_together=sorted(set(prep.cfg.baseline.ab_throughput_together)),
                throughput_slot_s=prep.cfg.baseline.ab_throughput_slot_s,
            )
            rounds = _Rounds(run, session, info, arms, repo)
            rounds.evaluate()
            rounds.sample()
            session.unload_all()
    return rounds.result(env)


def block_size(configured: int | None, traffic: Traffic) -> int:
    """Requests per A/B block: ``configured`` (``baseline.ab_block_size``), else about
    ``BLOCK_S`` of the recorded traffic (timed), else ``BLOCK_MAX``: untimed blocks are one
    perf_analyzer process each, whose start and one-second poll a short block would not
    repay."""
    if configured is not None:
        return configured
    n = len(traffic.requests)
    if not traffic.timed or n < 2 or traffic.duration_s <= 0:
        return BLOCK_MAX
    per_block = round(BLOCK_S * (n - 1) / traffic.duration_s)  # at the mean rate
    return min(BLOCK_MAX, max(BLOCK_MIN, per_block))


def block_warmup(configured: int | None, traffic: Traffic) -> int:
    """Warm-up requests before each A/B block: ``configured``
    (``baseline.ab_block_warmup``), else ``BLOCK_WARMUP_TIMED`` or ``BLOCK_WARMUP_UNTIMED``."""
    if configured is not None:
        return configured
    return BLOCK_WARMUP_TIMED if traffic.timed else BLOCK_WARMUP_UNTIMED


def _replay_kind(prep: Prepared) -> Literal["blocks", "slotted", "together"]:
    """How a round sends its block pairs (``gate.app.ab_rounds``)."""
    if not prep.traffic.timed:
        return "blocks"
    return "together" if prep.cfg.baseline.ab_together else "slotted"


class _Rounds:
    """The session's state between rounds: evidence so far, looks, the latest judgement."""

    def __init__(
        self,
        run: Run,
        session: ServerSession,
        info: ABInfo,
        arms: list[LoadedModel],
        repo: Path,
    ) -> None:
        self.run, self.session, self.info = run, session, info
        self.prep = session.prep
        self.policy = session.prep.policy
        self.models = {"A": arms[0].name, "B": arms[1].name}
        self.mbs = arms[0].max_batch_size
        ab = self.policy.ab
        self.sampling = Sampling(
            mode="live", max_duration_s=ab.max_duration_s, max_requests=ab.max_requests, rho=ab.rho
        )
        self.acc_b: AccuracyRecord | None = None
        self.memory = ArmMemory(session, self.models, repo, info)
        self.position, self.pairs = 0, 0
        self.judgement = Judgement((), Verdict.INCONCLUSIVE)
        self.window: dict[tuple[int, str], int] = {}  # (level, arm): window requests
        self.round_seconds: list[float] = []
        self.budget = PartBudget(ab.max_duration_s, time.monotonic())
        self.out_of_budget = False

    # -- what is measured once --------------------------------------------------------

    def evaluate(self) -> None:
        """The eval set through both arms at once (scores do not depend on timing)."""
        if self.prep.accuracy is None:
            return
        got: dict[str, AccuracyRecord] = {}

        def one(arm: str) -> None:
            got[arm] = self.session.evaluate(self.models[arm])

        with self.run.stage("accuracy (A/B)") as st:
            at_once(one, "AB", "gate-accuracy")
            self.info = self.info.model_copy(update={"accuracy_a": got["A"]})
            self.acc_b = got["B"]
            st.detail = ", ".join(
                f"{k}: A {got['A'].summary[k]:.4g} B {v:.4g}" for k, v in got["B"].summary.items()
            )

    # -- rounds -----------------------------------------------------------------------

    def sample(self) -> None:
        """Rounds until every gating check is decided, one fails, or the budget is spent.

        Besides the look after each round, a look after the eval set (accuracy is known
        then) and between the parts of a round stops the session as soon as a gating check
        fails: a 10x slower model is blocked after its first latency blocks, without the
        round's throughput windows. Every look is one more look of the spending design (its
        levels stay valid however many there are)."""
        t0 = time.monotonic()
        self.budget = PartBudget(self.policy.ab.max_duration_s, t0)
        sources = self.memory.start()
        self.info = self.info.model_copy(update={"memory_sources": sources})
        if self.acc_b is not None and self._failed(0, t0):
            return
        k = 0
        while True:
            k += 1
            need = self._needs()
            started = time.monotonic()
            with self.run.stage(f"round {k} (A/B)") as st:
                parts = self._round(k, need, t0)
                st.detail = "; ".join(p for p in parts if p)
            if self.sampling.stopped:
                return
            self.round_seconds.append(time.monotonic() - started)
            final = self._look(k, time.monotonic() - t0)
            stop = self._stopped(final)
            if stop:
                self.sampling = self.sampling.model_copy(update={"stopped": stop})
                return

    def _failed(self, k: int, t0: float) -> bool:
        """A look within round ``k`` (never the last): True, and sampling stopped, when a
        gating check has failed."""
        self._look(k, time.monotonic() - t0, can_end=False)
        if self._stopped(False) != "blocked":
            return False
        self.sampling = self.sampling.model_copy(update={"stopped": "blocked"})
        return True

    def _needs(self) -> dict[str, bool]:
        """Which streams an undecided gating check still needs (all of them at first)."""
        checks = self.judgement.checks
        if not checks:
            return {"latency": True, "memory": True, **{f"c{c}": True for c in self._levels()}}
        pending = [c for c in checks if (c.critical or c.blocking) and is_pending(c)]
        return {
            "latency": any(c.metric.startswith("latency.") for c in pending),
            "memory": any(c.metric.startswith("memory.") for c in pending),
            **{
                f"c{c}": any(p.metric == f"throughput.c{c}" for p in pending)
                for c in self._levels()
            },
        }

    def _levels(self) -> tuple[int, ...]:
        tp = self.policy.throughput
        return tp.concurrency if tp.enabled else ()

    def _round(self, k: int, need: dict[str, bool], t0: float) -> list[str]:
        """The parts of round ``k`` an undecided check needs, each only if it fits in the
        budget, with a look after each part that measured something (the round ends early
        when a gating check fails, or when the next part would pass the budget)."""
        self.memory.round_index = k
        steps: list[tuple[str, Callable[[], str]]] = []
        if need["latency"] or not self.info.latencies_a_us:
            steps.append(("latency", partial(self._latency, k, memory=need["memory"])))
        if need["memory"]:
            steps.append(("memory", partial(self.memory.round, k)))
        steps += [
            (f"throughput c={c}", partial(self._throughput, k, c))
            for c in self._levels()
            if need[f"c{c}"]
        ]
        got = run_parts(steps, self.budget, partial(self._failed, k, t0))
        self.out_of_budget = got.out_of_budget
        return got.details

    def _latency(self, k: int, *, memory: bool) -> str:
        spec = self._spec(k)
        replay = {"slotted": slotted_round, "together": together_round}.get(
            self.info.replay, block_round
        )
        timed = self.info.replay != "blocks"
        kw = {"during": self.memory.during} if memory and timed else {}
        got = replay(self.session, self.models, spec, round_index=k, max_batch_size=self.mbs, **kw)
        self.info = self.info.model_copy(
            update={
                "latencies_a_us": self.info.latencies_a_us + got.a,
                "latencies_b_us": self.info.latencies_b_us + got.b,
                "requests": self.info.requests + got.requests,
                "blocks": self.info.blocks + got.blocks,
            }
        )
        self.pairs += spec.pairs
        self.position = (spec.start + spec.pairs * spec.size) % len(self.prep.traffic.requests)
        med_a, med_b = np.median(got.a), np.median(got.b)
        return (
            f"{spec.pairs} block pairs of {spec.size} ({self.info.replay}): "
            f"median A {med_a:.0f} µs, B {med_b:.0f} µs"
        )

    def _spec(self, k: int) -> RoundSpec:
        """This round's block pairs: one pass of the traffic, or ``ROUND_S`` of it."""
        cfg, traffic = self.prep.cfg, self.prep.traffic
        size = self.info.block_size
        n = len(traffic.requests)
        pairs = max(2, math.ceil(n / size))
        if traffic.timed:
            block_s = size * median_gap(traffic) / 1e6
            arms_in_turn = 1 if self.info.replay == "together" else 2
            pairs = min(pairs, max(2, int(ROUND_S / (arms_in_turn * block_s))))
        else:
            pairs = min(pairs, 4)
        guard = GUARD_US
        if self.info.latencies_b_us:
            tail = np.percentile(self.info.latencies_a_us + self.info.latencies_b_us, 99)
            guard = max(GUARD_US, int(2 * tail))
        warmup = self.info.block_warmup
        lead = cfg.traffic.warmup_requests if k == 1 else max(warmup, 10)
        return RoundSpec(
            first_pair=self.pairs,
            start=self.position,
            pairs=pairs,
            size=size,
            warmup=warmup,
            lead_warmup=lead,
            guard_us=guard,
        )

    def _throughput(self, k: int, c: int) -> str:
        if c not in self.info.throughput_together and self.info.throughput_slot_s > 0:
            return self._slots(k, c)
        tp = self.policy.throughput
        # one arm after the other: both arms' runs sized by the slower, to fit the poll
        req = min(self.window.get((c, arm), tp.window_requests) for arm in "AB")
        level = tp.model_copy(update={"concurrency": (c,), "window_requests": req})
        inputs = self.session.inputs(
            "throughput", self.prep.traffic, warmup=0, max_batch_size=self.mbs
        )
        first = "A" if (k + c) % 2 == 0 else "B"
        turn = (first, "B" if first == "A" else "A")
        got = {}
        if c in self.info.throughput_together:
            # each arm's run sized to its own speed, so that both end near the same moment
            policies = {
                arm: level.model_copy(
                    update={"window_requests": self.window.get((c, arm), tp.window_requests)}
                )
                for arm in turn
            }
            models = {arm: self.models[arm] for arm in turn}
            got = self.session.throughput_together(models, inputs, policies=policies)
        else:
            for arm in turn:
                r = self.session.throughput(self.models[arm], inputs, index=k, policy=level)
                got[arm] = r.levels[0]
        pair = ABThroughputPair(concurrency=c, round=k, first=first, a=got["A"], b=got["B"])
        self.info = self.info.model_copy(update={"throughput": [*self.info.throughput, pair]})
        for arm in "AB":
            fill = int(THROUGHPUT_RUN_S * float(np.mean(got[arm].windows)) / max(1, tp.windows))
            self.window[(c, arm)] = min(1_000_000, max(tp.window_requests, fill))
        return f"c={c}: A {np.mean(got['A'].windows):.0f}/s, B {np.mean(got['B'].windows):.0f}/s"

    def _slots(self, k: int, c: int) -> str:
        """A round of throughput slots at level ``c`` (``gate.app.ab_throughput``), each
        arm's slots sized from its slowest slot of the last round."""
        slot_us = round(self.info.throughput_slot_s * 1e6)
        requests = {arm: self.window.get((c, arm), ab_throughput.first_requests(c)) for arm in "AB"}
        # the round's first slot alternates between the arms from round to round
        n = sum(1 for p in self.info.throughput if p.concurrency == c)
        plan = ab_throughput.SlotPlan(
            concurrency=c, slot_us=slot_us, requests=requests, first_pair=n
        )
        got = ab_throughput.measure_slots(
            self.session, self.models, plan, index=k, max_batch_size=self.mbs
        )
        first = order(plan.first_pair)[0]
        pair = ABThroughputPair(concurrency=c, round=k, first=first, a=got["A"], b=got["B"])
        self.info = self.info.model_copy(update={"throughput": [*self.info.throughput, pair]})
        for arm in "AB":
            self.window[(c, arm)] = ab_throughput.next_requests(got[arm].windows, slot_us, c)
        return (
            f"c={c}: {plan.pairs} slot pairs, A {np.mean(got['A'].windows):.0f}/s, "
            f"B {np.mean(got['B'].windows):.0f}/s"
        )

    # -- looks ------------------------------------------------------------------------

    def _look(self, k: int, seconds: float, *, can_end: bool = True) -> bool:
        """Judge everything so far; True when this look is the last the budget allows
        (``can_end``: only a look after a whole round may be)."""
        ab = self.policy.ab
        requests = len(self.info.latencies_a_us)
        t = min(1.0, max(seconds / ab.max_duration_s, requests / ab.max_requests))
        last = self.round_seconds[-1] if self.round_seconds else 0.0
        per_round = requests / max(1, k)
        final = can_end and (
            self.out_of_budget
            or t >= 1.0
            or seconds + last > ab.max_duration_s
            or requests + per_round > ab.max_requests
        )
        units = {"blocks": self.pairs, **self.memory.units()}
        for c in self._levels():
            units[f"throughput.c{c}"] = sum(1 for p in self.info.throughput if p.concurrency == c)
        look = SamplingLook(
            round=k,
            t=round(t, 6),
            final=final,
            seconds=round(seconds, 3),
            requests=requests,
            units=units,
        )
        self.info = self.info.model_copy(update={"memory": self.memory.samples})
        self.sampling = self.sampling.model_copy(update={"looks": [*self.sampling.looks, look]})
        self.judgement = judge(
            self.policy, _evidence(self.info, self._candidate(), self.acc_b, self.sampling)
        )
        return final

    def _stopped(self, final: bool) -> str:
        return stop_reason(self.judgement.checks, final)

    def _candidate(self) -> LatencyRun:
        started = self.info.blocks[0].started_at if self.info.blocks else now_iso()
        return LatencyRun(
            index=0,
            started_at=started,
            latencies_us=self.info.latencies_b_us,
            server_log=str(self.run.log_dir / "server-ab.log"),
        )

    def result(self, env: dict[str, str]) -> LiveAB:
        info = self.info.model_copy(
            update={"memory": self.memory.samples, "memory_notes": self.memory.notes}
        )
        return LiveAB(info, self._candidate(), self.acc_b, self.sampling, env, self.judgement)
