"""The check families, listed once, and the one pure judge: ``judge(policy, evidence)``.

Each family (``gate.judge.protocol.CheckFamily``) reads only the policy and the evidence;
``judge`` decides all of their checks together (Holm across the run, one verdict, see
``gate.judge.decide``), lets each family word its decided checks, and warns once per check
too noisy to decide. Nothing here reads a file, a store or the network, and nothing is
mutated: any verdict can be recomputed from a saved run and its baseline.

Which evidence a family uses:

* latency: the live A/B arms when there are any, else the stored baseline's runs;
* accuracy (paired checks and agreement): the stored baseline's per-sample record; the
  absolute floor (``accuracy.min_accuracy``) needs only the candidate's;
* SLOs: the candidate's samples only;
* memory and throughput: the stored baseline's samples (none without one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from gate.config.policy import Policy
from gate.config.slo import Objective
from gate.evidence import Evidence
from gate.judge import memory, sources, throughput
from gate.judge.accuracy import (
    accuracy_checks,
    accuracy_noise,
    agreement_checks,
    effective_checks,
    require_comparable,
)
from gate.judge.common import flags
from gate.judge.decide import decide_policy
from gate.judge.latency import latency_checks, latency_specs, stored_noise
from gate.judge.live_ab import ab_checks, ab_noise
from gate.judge.protocol import CheckFamily, Family, Noise, failed_check, guarded, power_warning
from gate.judge.slo import slo_check, slo_checks
from gate.result import CheckResult, CheckStatus, Verdict


class LatencyFamily:
    """Latency shift and tail percentiles: live A/B when it ran, else the stored runs."""

    family = Family.LATENCY

    def checks(self, policy: Policy, evidence: Evidence) -> list[CheckResult]:
        if evidence.ab is not None:
            ab = evidence.ab
            return ab_checks(policy, ab.latencies_a_us, ab.latencies_b_us, block_size=ab.block_size)
        if evidence.baseline is not None:
            base = [r.latencies_us for r in evidence.baseline.runs]
            cand = [r.latencies_us for r in evidence.candidate.runs]
            return latency_checks(policy, base, cand)[0]
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
    """Paired accuracy and output agreement against the stored baseline's record, and the
    absolute floor on top-1, which needs no baseline."""

    family = Family.ACCURACY

    def checks(self, policy: Policy, evidence: Evidence) -> list[CheckResult]:
        cand = evidence.candidate.accuracy
        if cand is None:
            return []
        out: list[CheckResult] = []
        paired = effective_checks(policy, cand.kind)
        where = evidence.baseline_where
        if evidence.baseline is not None and (paired or policy.agreement.enabled):
            base = require_comparable(evidence.baseline.accuracy, cand, where)
            out += accuracy_checks(policy, paired, base, cand, where=where)
            if policy.agreement.enabled:
                out += agreement_checks(
                    policy.agreement,
                    base,
                    cand,
                    alpha=policy.alpha,
                    power=policy.power,
                    where=where,
                )
        floor = policy.accuracy.min_accuracy
        if floor is not None and policy.accuracy.enabled:
            out.append(self._floor(policy, evidence, floor))
        return out

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
    """The policy's absolute objectives (``slo.objectives``) on the candidate's samples."""

    family = Family.SLO

    def checks(self, policy: Policy, evidence: Evidence) -> list[CheckResult]:
        return slo_checks(
            policy.slo.objectives,
            evidence.candidate,
            mode=policy.slo.mode.value,
            alpha=policy.alpha,
            power=policy.power,
        )

    def explain(self, check: CheckResult) -> CheckResult:
        return check

    def noise(self, check: CheckResult, policy: Policy) -> Noise:
        return Noise("excess", f"{check.n} samples", "measure more samples to tighten it")


class MemoryFamily:
    """Memory attributable to the model against the stored baseline's runs."""

    family = Family.MEMORY

    def checks(self, policy: Policy, evidence: Evidence) -> list[CheckResult]:
        if evidence.baseline is None:
            return []
        return memory.memory_checks(policy, evidence.baseline.memory, evidence.candidate.memory)[0]

    def explain(self, check: CheckResult) -> CheckResult:
        return memory.explain(check)

    def noise(self, check: CheckResult, policy: Policy) -> Noise:
        return memory.memory_noise(check)


class ThroughputFamily:
    """Inferences/s per concurrency level against the stored baseline's runs."""

    family = Family.THROUGHPUT

    def checks(self, policy: Policy, evidence: Evidence) -> list[CheckResult]:
        if evidence.baseline is None:
            return []
        base, cand = evidence.baseline.throughput, evidence.candidate.throughput
        return throughput.throughput_checks(policy, base, cand)[0]

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
    """What the judge returns: decided checks, the verdict, warnings, and the measured value
    of each absolute objective (``RunResult.slo``)."""

    checks: tuple[CheckResult, ...]
    verdict: Verdict
    warnings: tuple[str, ...] = ()
    slo: dict[str, float] = field(default_factory=dict)
    families: tuple[Family, ...] = ()  # the family of each check, in the same order

    def failed(self, *families: Family) -> tuple[CheckResult, ...]:
        """The FAILed checks of these families (all families when none is named)."""
        return tuple(
            c
            for c, fam in zip(self.checks, self.families, strict=True)
            if c.status is CheckStatus.FAIL and (not families or fam in families)
        )


def judge(
    policy: Policy, evidence: Evidence, families: Sequence[CheckFamily] = FAMILIES
) -> Judgement:
    """Every family's checks on this evidence, decided together into one verdict. Pure."""
    tagged = [(fam, c) for fam in families for c in fam.checks(policy, evidence)]
    decided, verdict, warnings = decide_policy([c for _, c in tagged], policy)
    checks = tuple(fam.explain(c) for (fam, _), c in zip(tagged, decided, strict=True))
    noisy = [
        w
        for fam, c in tagged
        if (w := power_warning(c, fam.noise(c, policy), policy.power)) is not None
    ]
    slo = {
        str(c.details["objective"]): c.details["value"]
        for fam, c in tagged
        if fam.family is Family.SLO and isinstance(c.details.get("value"), float)
    }
    fams = tuple(fam.family for fam, _ in tagged)
    return Judgement(checks, verdict, tuple(noisy + warnings), slo, fams)
