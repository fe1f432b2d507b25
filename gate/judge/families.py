"""The check families, listed once, and the one pure judge: ``judge(policy, evidence)``.

Each family (``gate.judge.protocol.CheckFamily``) reads only the policy and the evidence.
``judge`` counts the checks that can decide the verdict, gives each its Bonferroni share of
the policy's alpha (``gate.judge.design.Design``), lets every family decide its checks at the
looks the evidence records (``gate.judge.sequential``), words them, and settles the verdict
(``gate.judge.decide.verdict_of``). Nothing here reads a file, a store or the network, and
nothing is mutated: any verdict can be recomputed from a saved run and its baseline, and the
live session calls the same judge after every round to know whether to go on.

Which evidence a family uses:

* live A/B (``evidence.ab``): every family compares the two arms of the one server: latency
  block pairs, throughput window pairs, memory per arm, accuracy and agreement on the eval
  set through both arms (``gate.judge.live``);
* stored baseline: latency, throughput and memory on run levels, the candidate's runs
  against the stored runs (``gate.judge.stored_runs``); accuracy and agreement against the
  stored per-sample record;
* SLOs and the accuracy floor: the candidate's samples only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from gate.config.policy import Policy
from gate.config.slo import Objective
from gate.evidence import AccuracyRecord, Evidence
from gate.judge import memory, sources, throughput
from gate.judge.accuracy import (
    accuracy_checks,
    accuracy_noise,
    agreement_checks,
    effective_checks,
    require_comparable,
)
from gate.judge.common import flags
from gate.judge.decide import verdict_of, verdict_warnings
from gate.judge.design import Design, settle
from gate.judge.latency import latency_specs, stored_noise
from gate.judge.live import (
    live_latency_checks,
    live_memory_checks,
    live_throughput_checks,
    memory_sources,
)
from gate.judge.live_ab import ab_noise
from gate.judge.protocol import CheckFamily, Family, Noise, failed_check, guarded, power_warning
from gate.judge.slo import slo_check, slo_checks
from gate.judge.stored_runs import (
    stored_latency_checks,
    stored_memory_checks,
    stored_throughput_checks,
)
from gate.result import CheckResult, CheckStatus, Verdict


def _gating(marks: Sequence[tuple[bool, bool]]) -> int:
    return sum(1 for critical, blocking in marks if critical or blocking)


class LatencyFamily:
    """Latency shift and tail percentiles: live A/B block pairs, else stored run levels."""

    family = Family.LATENCY

    def planned(self, policy: Policy, evidence: Evidence) -> int:
        return _gating([(s.critical, s.blocking) for _, _, s in latency_specs(policy)])

    def checks(self, policy: Policy, evidence: Evidence, design: Design) -> list[CheckResult]:
        if evidence.ab is not None:
            return live_latency_checks(policy, evidence.ab, design)
        if evidence.baseline is not None:
            base, cand = evidence.baseline.runs, evidence.candidate.runs
            return stored_latency_checks(policy, base, cand, design)
        return [
            failed_check(
                name=name,
                metric=metric,
                reason="no baseline to compare with: neither a stored baseline nor live A/B",
                **flags(spec),
            )
            for name, metric, spec in latency_specs(policy)
        ]

    def explain(self, check: CheckResult) -> CheckResult:
        return check

    def noise(self, check: CheckResult, policy: Policy) -> Noise:
        return ab_noise(check) if "live_ab" in check.details else stored_noise(check)


class AccuracyFamily:
    """Paired accuracy and output agreement against the baseline model's record (arm A of a
    live session, else the stored baseline's), and the absolute floor on top-1, which needs
    no baseline. Judged once: more sampling would not change a fixed eval set's scores."""

    family = Family.ACCURACY

    @staticmethod
    def _base(evidence: Evidence) -> tuple[AccuracyRecord | None, str]:
        if evidence.ab is not None:
            return evidence.ab.accuracy_a, f"arm A ({evidence.ab.baseline_model_dir})"
        if evidence.baseline is not None:
            return evidence.baseline.accuracy, evidence.baseline_where
        return None, ""

    def planned(self, policy: Policy, evidence: Evidence) -> int:
        cand = evidence.candidate.accuracy
        if cand is None:
            return 0
        n = 0
        if self._compared(policy, evidence):
            n += _gating([(c.critical, c.blocking) for c in effective_checks(policy, cand.kind)])
            ap = policy.agreement
            if ap.enabled:
                n += (
                    (ap.min_top1 is not None and cand.kind == "label")
                    + (ap.max_abs_diff is not None)
                    + (ap.p99_abs_diff is not None)
                )
        return n + (policy.accuracy.min_accuracy is not None and policy.accuracy.enabled)

    def _compared(self, policy: Policy, evidence: Evidence) -> bool:
        cand = evidence.candidate.accuracy
        paired = cand is not None and effective_checks(policy, cand.kind)
        has_base = evidence.ab is not None or evidence.baseline is not None
        return has_base and bool(paired or policy.agreement.enabled)

    def checks(self, policy: Policy, evidence: Evidence, design: Design) -> list[CheckResult]:
        cand = evidence.candidate.accuracy
        if cand is None:
            return []
        out: list[CheckResult] = []
        at = policy.model_copy(update={"alpha": design.alpha})
        if self._compared(policy, evidence):
            record, where = self._base(evidence)
            base = require_comparable(record, cand, where)
            out += accuracy_checks(at, effective_checks(policy, cand.kind), base, cand, where=where)
            if policy.agreement.enabled:
                out += agreement_checks(
                    policy.agreement,
                    base,
                    cand,
                    alpha=design.alpha,
                    power=policy.power,
                    where=where,
                )
        floor = policy.accuracy.min_accuracy
        if floor is not None and policy.accuracy.enabled:
            out.append(self._floor(at, evidence, floor))
        return [settle(c) for c in out]

    @staticmethod
    def _floor(policy: Policy, evidence: Evidence, floor: float) -> CheckResult:
        name, metric = f"accuracy floor top1 >= {floor:g}", "accuracy.min_accuracy"
        mode = policy.slo.mode.value
        obj = Objective("accuracy.top1", ">=", floor, f"accuracy.top1 >= {floor:g}")
        meas = sources.accuracy(obj, evidence.candidate)
        if meas is None:
            reason = "the eval set gave no top1 scores"
            return failed_check(name=name, metric=metric, mode=mode, reason=reason)
        check = guarded(
            partial(slo_check, obj, meas, mode=mode, alpha=policy.alpha, power=policy.power),
            name=name,
            metric=metric,
            mode=mode,
        )
        return check.model_copy(update={"name": name, "metric": metric})

    def explain(self, check: CheckResult) -> CheckResult:
        return check

    def noise(self, check: CheckResult, policy: Policy) -> Noise:
        return accuracy_noise(check)


class SloFamily:
    """The policy's absolute objectives (``slo.objectives``) on the candidate's samples,
    judged once on everything measured."""

    family = Family.SLO

    def planned(self, policy: Policy, evidence: Evidence) -> int:
        return len(policy.slo.objectives)

    def checks(self, policy: Policy, evidence: Evidence, design: Design) -> list[CheckResult]:
        checks = slo_checks(
            policy.slo.objectives,
            evidence.candidate,
            mode=policy.slo.mode.value,
            alpha=design.alpha,
            power=policy.power,
        )
        return [settle(c) for c in checks]

    def explain(self, check: CheckResult) -> CheckResult:
        return check

    def noise(self, check: CheckResult, policy: Policy) -> Noise:
        return Noise("excess", f"{check.n} samples", "measure more samples to tighten it")


class MemoryFamily:
    """Memory attributable to the model: per arm in a live session, else run levels against
    the stored baseline's runs."""

    family = Family.MEMORY

    def planned(self, policy: Policy, evidence: Evidence) -> int:
        mp = policy.memory
        if not mp.enabled or not (mp.critical or mp.blocking):
            return 0
        if evidence.ab is not None:
            return len(memory_sources(evidence.ab, mp))
        if evidence.baseline is None:
            return 0
        runs = [*evidence.baseline.memory, *evidence.candidate.memory]
        return sum(1 for src in mp.sources if any(src in r.series for r in runs))

    def checks(self, policy: Policy, evidence: Evidence, design: Design) -> list[CheckResult]:
        if evidence.ab is not None:
            return live_memory_checks(policy, evidence.ab, design)
        if evidence.baseline is None:
            return []
        base, cand = evidence.baseline.memory, evidence.candidate.memory
        return stored_memory_checks(policy, base, cand, design)

    def explain(self, check: CheckResult) -> CheckResult:
        return memory.explain(check)

    def noise(self, check: CheckResult, policy: Policy) -> Noise:
        return memory.memory_noise(check)


class ThroughputFamily:
    """Inferences/s per concurrency level: interleaved window pairs in a live session, else
    run levels against the stored baseline's runs."""

    family = Family.THROUGHPUT

    def planned(self, policy: Policy, evidence: Evidence) -> int:
        tp = policy.throughput
        if not tp.enabled or not (tp.critical or tp.blocking):
            return 0
        if evidence.ab is None and evidence.baseline is None:
            return 0
        return len(tp.concurrency)

    def checks(self, policy: Policy, evidence: Evidence, design: Design) -> list[CheckResult]:
        if evidence.ab is not None:
            return live_throughput_checks(policy, evidence.ab, design)
        if evidence.baseline is None:
            return []
        base, cand = evidence.baseline.throughput, evidence.candidate.throughput
        return stored_throughput_checks(policy, base, cand, design)

    def explain(self, check: CheckResult) -> CheckResult:
        return throughput.explain(check)

    def noise(self, check: CheckResult, policy: Policy) -> Noise:
        return throughput.throughput_noise(check, policy)


#: Every family, in the order their checks are reported.
FAMILIES: tuple[CheckFamily, ...] = (
    LatencyFamily(),
    AccuracyFamily(),
    SloFamily(),
    MemoryFamily(),
    ThroughputFamily(),
)


@dataclass(frozen=True)
class Judgement:
    """What the judge returns: decided checks, the verdict, warnings, the measured value of
    each absolute objective (``RunResult.slo``), and the design they were judged with."""

    checks: tuple[CheckResult, ...]
    verdict: Verdict
    warnings: tuple[str, ...] = ()
    slo: dict[str, float] = field(default_factory=dict)
    alpha: float = 0.0
    families: tuple[Family, ...] = ()  # the family of each check, in the same order

    def failed(self, *families: Family) -> tuple[CheckResult, ...]:
        """The FAILed checks of these families (all families when none is named)."""
        return tuple(
            c
            for c, fam in zip(self.checks, self.families, strict=True)
            if c.status is CheckStatus.FAIL and (not families or fam in families)
        )


def gating_checks(
    policy: Policy, evidence: Evidence, families: Sequence[CheckFamily] = FAMILIES
) -> int:
    """How many checks of this run can decide its verdict (the Bonferroni count)."""
    return sum(fam.planned(policy, evidence) for fam in families)


def judge(
    policy: Policy, evidence: Evidence, families: Sequence[CheckFamily] = FAMILIES
) -> Judgement:
    """Every family's checks on this evidence, decided at its looks, and one verdict. Pure."""
    design = Design.of(policy, evidence.sampling, gating_checks(policy, evidence, families))
    tagged = [(fam, c) for fam in families for c in fam.checks(policy, evidence, design)]
    checks = tuple(fam.explain(c) for fam, c in tagged)
    verdict = verdict_of(list(checks), policy.inconclusive)
    noisy = [
        w
        for (fam, _), c in zip(tagged, checks, strict=True)
        if (w := power_warning(c, fam.noise(c, policy), policy.power)) is not None
    ]
    warnings = noisy + verdict_warnings(list(checks), verdict)
    slo = {
        str(c.details["objective"]): c.details["value"]
        for fam, c in tagged
        if fam.family is Family.SLO and isinstance(c.details.get("value"), float)
    }
    fams = tuple(fam.family for fam, _ in tagged)
    return Judgement(checks, verdict, tuple(warnings), slo, alpha=design.alpha, families=fams)
