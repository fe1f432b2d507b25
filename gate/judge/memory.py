"""Memory checks: is the candidate's memory beyond ``(1 + tolerance) · baseline + slack``?

Per source (``host``, ``gpu``) the judged sample is the replay series minus the before-load
level of its own run: memory attributable to the model while it serves, which includes the
after-load step and every peak the sampler saw. Two layers of evidence, as for latency:

* **series** — Mann–Whitney U of the pooled candidate samples minus the allowed margin
  against the pooled baseline samples, with the Hodges–Lehmann shift and its Moses CI;
* **runs** — each run's median is its level; a t-test on run levels against the margin
  whose noise is the spread between the stored baseline runs (each on a fresh server),
  because samples within one run are strongly autocorrelated and are not independent.

The combined p is the larger (intersection–union), so a step blocks only when it is both
beyond the margin in the series and beyond the run-to-run spread. The margin is in bytes:
``tolerance · median(baseline) + slack``; effect, CI, tolerance and MDE are reported
relative to the baseline median (at least 1 MiB, so a model that costs almost nothing
gives finite numbers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from gate import stats
from gate.config.policy import MemoryPolicy, Mode, Policy
from gate.evidence import MemoryRun
from gate.judge.common import Layers, alternative, explained, run_level, stored_runs_test, undecided
from gate.judge.protocol import Noise, failed_check, guarded, power_warning
from gate.result import CheckResult, CheckStatus
from gate.stats.twosample import shift_test

MIB = float(2**20)
LABEL = {"host": "host RSS", "gpu": "GPU memory"}


def mib(x: float) -> float:
    """Bytes as MiB, to two decimals, as the reports show them."""
    return round(x / MIB, 2)


def check_names(src: str, peak: bool = False) -> tuple[str, str]:
    """(name, metric) of a source's check (``peak``: of its per-run peaks)."""
    if peak:
        return f"memory peak ({src})", f"memory.{src}.peak"
    return f"memory ({src})", f"memory.{src}"


@dataclass(frozen=True)
class Allowed:
    """The growth a memory check allows, in bytes: ``tolerance · ref + slack`` from the
    baseline's median ``ref``; ``scale`` (``ref``, at least 1 MiB) makes what a check
    reports relative to the baseline."""

    ref: float
    scale: float
    margin: float

    @classmethod
    def of(cls, mp: MemoryPolicy, ref: float) -> Allowed:
        return cls(ref, max(ref, MIB), mp.tolerance * max(ref, 0.0) + mp.slack_mib * MIB)


@dataclass(frozen=True)
class _Source:
    """One memory source's two checks on the same runs: the attributable series (``series``)
    and the per-run peaks (``peak``)."""

    src: str
    mp: MemoryPolicy
    base: Sequence[MemoryRun]
    cand: Sequence[MemoryRun]
    alpha: float
    power: float

    @property
    def alt(self) -> stats.Alternative:
        return alternative(self.mp.mode, higher_is_worse=True)

    def _result(
        self,
        peak: bool,
        allowed: Allowed,
        found: Layers,
        *,
        n: int,
        mde: float | None,
        details: dict[str, Any],
    ) -> CheckResult:
        """The check (undecided): bytes (the run-level estimate, ``found``'s CI, the margin,
        ``mde``) reported relative to the baseline."""
        s = allowed.scale
        return undecided(
            self.mp,
            check_names(self.src, peak),
            tolerance=allowed.margin / s,
            effect=found.run.estimate / s,
            ci_low=found.ci_low / s,
            ci_high=found.ci_high / s,
            confidence=1 - 2 * self.alpha,
            p_value=found.p_value,
            n=n,
            baseline_runs=len(self.base),
            candidate_runs=len(self.cand),
            mde=None if mde is None else mde / s,
            details=details,
        )

    def series(self) -> CheckResult:
        src, mp, base, cand, alpha = self.src, self.mp, self.base, self.cand, self.alpha
        bser = [np.asarray(r.series[src].attributable, dtype=np.float64) for r in base]
        cser = [np.asarray(r.series[src].attributable, dtype=np.float64) for r in cand]
        bpool, cpool = np.concatenate(bser), np.concatenate(cser)
        allowed = Allowed.of(mp, float(np.median(bpool)))
        margin = allowed.margin
        alt = self.alt
        series = shift_test(cpool, bpool, margin, alpha, alt)
        lb = np.array([float(np.median(s)) for s in bser])
        lc = np.array([float(np.median(s)) for s in cser])
        both = stored_runs_test(series, lc, lb, margin, alpha, alt, self.power)
        run, noise = both.run, both.noise
        bl = [r.series[src].loaded for r in base]
        cl = [r.series[src].loaded for r in cand]
        bp = [r.series[src].peak for r in base]
        cpk = [r.series[src].peak for r in cand]
        return self._result(
            False,
            allowed,
            both,
            n=int(cpool.size),
            mde=margin + noise if math.isfinite(noise) else None,
            details={
                "source": src,
                "what": LABEL.get(src, src),
                "probe": cand[0].series[src].detail,
                "baseline_mib": mib(allowed.ref),
                "candidate_mib": mib(float(np.median(cpool))),
                "allowed_mib": mib(margin),
                "tolerance": mp.tolerance,
                "slack_mib": mp.slack_mib,
                "shift_mib": mib(series.estimate),
                "baseline_loaded_mib": [mib(x) for x in bl],
                "candidate_loaded_mib": [mib(x) for x in cl],
                "baseline_peak_mib": [mib(x) for x in bp],
                "candidate_peak_mib": [mib(x) for x in cpk],
                "baseline_run_medians_mib": [mib(x) for x in lb],
                "candidate_run_medians_mib": [mib(x) for x in lc],
                "run_to_run_sd_mib": mib(run.sd_run),
                "p_series": series.p_value,
                "p_between_runs": run.p_value,
                "samples": {"baseline": int(bpool.size), "candidate": int(cpool.size)},
                "test": "Mann-Whitney U on the attributable series (HL shift, Moses CI) ∩ "
                "t-test on run medians",
            },
        )

    def peak(self) -> CheckResult:
        src, mp, alpha = self.src, self.mp, self.alpha
        bp = np.array([r.series[src].peak for r in self.base])
        cp = np.array([r.series[src].peak for r in self.cand])
        allowed = Allowed.of(mp, float(np.median(bp)))
        margin = allowed.margin
        alt = self.alt
        run = run_level(cp, bp, margin, alpha, alt)
        noise = stats.mde_t(run.se, run.df, alpha, self.power)
        return self._result(
            True,
            allowed,
            Layers(run, run.p_value, run.ci_low, run.ci_high, noise),  # no within-run layer
            n=len(self.cand),
            mde=margin + noise,
            details={
                "source": src,
                "what": LABEL.get(src, src) + " peak",
                "baseline_mib": mib(allowed.ref),
                "candidate_mib": mib(float(np.median(cp))),
                "allowed_mib": mib(margin),
                "tolerance": mp.tolerance,
                "slack_mib": mp.slack_mib,
                "baseline_peak_mib": [mib(x) for x in bp],
                "candidate_peak_mib": [mib(x) for x in cp],
                "run_to_run_sd_mib": mib(run.sd_run),
                "test": "t-test on per-run peaks (attributable), run-to-run spread as noise",
            },
        )


def source_unjudged(
    src: str,
    mp: MemoryPolicy,
    base: Sequence[MemoryRun],
    cand: Sequence[MemoryRun],
    names: tuple[str, str],
) -> CheckResult | None:
    """Why a source's stored-baseline check ``names`` cannot be judged: SKIPPED when neither
    side sampled the source, ERROR when one side (or some runs) lack its samples; None when
    every run has them."""
    b_has = sum(src in r.series for r in base)
    c_has = sum(src in r.series for r in cand)
    notes = sorted({n for r in cand for n in r.notes if n.startswith(src + ":")})
    name, metric = names
    if not cand or not base:
        problem = "no memory samples" + (" in the baseline" if not base else "")
    elif b_has == 0 and c_has == 0:
        why = (notes[0] if notes else f"{src}: no samples") + " (in the baseline and in this run)"
        return CheckResult(
            name=name, metric=metric, status=CheckStatus.SKIPPED, mode=mp.mode.value, reason=why
        )
    elif c_has < len(cand):
        problem = (
            f"{c_has} of {len(cand)} candidate runs have {src} samples but the "
            f"baseline has them: {notes[0] if notes else 'no samples'}"
        )
    elif b_has < len(base):
        problem = (
            f"only {b_has} of {len(base)} baseline runs have {src} samples; "
            "record the baseline again"
        )
    else:
        return None
    return failed_check(name=name, metric=metric, mode=mp.mode.value, reason=problem)


def memory_checks(
    policy: Policy, base: Sequence[MemoryRun], cand: Sequence[MemoryRun]
) -> tuple[list[CheckResult], list[str]]:
    """The memory checks of the policy (undecided: ``judge.decide`` sets the status), and
    warnings about their power."""
    mp = policy.memory
    if not mp.enabled:
        return [], []
    checks: list[CheckResult] = []
    for src in mp.sources:
        kinds = [False, True] if mp.peak else [False]
        for peak in kinds:
            name, metric = check_names(src, peak)
            unjudged = source_unjudged(src, mp, base, cand, (name, metric))
            if unjudged is not None:
                checks.append(unjudged)
                continue
            source = _Source(src, mp, base, cand, policy.alpha, policy.power)
            checks.append(
                guarded(
                    source.peak if peak else source.series,
                    name=name,
                    metric=metric,
                    mode=mp.mode.value,
                )
            )
    warnings = [
        w for c in checks if (w := power_warning(c, memory_noise(c), policy.power)) is not None
    ]
    return checks, warnings


def memory_noise(c: CheckResult) -> Noise:
    """The power warning's words for a memory check."""
    return Noise(
        "growth",
        f"{c.baseline_runs} baseline runs",
        "the memory of the baseline runs varies a lot; record more baseline runs",
    )


def explain_memory(c: CheckResult) -> str:
    """One line that says what the memory did and why the check decided as it did."""
    d = c.details
    what = d.get("what", c.name)
    b, cv, allowed = d["baseline_mib"], d["candidate_mib"], d["allowed_mib"]
    delta = cv - b
    slack = d.get("slack_mib", 0)
    rule = f"+{d.get('tolerance', 0) * 100:g}% + {slack:g} MiB = +{allowed:.1f} MiB allowed"
    head = f"{what} {b:.1f} → {cv:.1f} MiB ({delta:+.1f} MiB)"
    spread = f"run-to-run spread ±{d.get('run_to_run_sd_mib', 0):.1f} MiB"
    if c.mode == Mode.REGRESSION.value:
        if c.status is CheckStatus.FAIL:
            why = f"more than {rule}, beyond the {spread}"
        elif delta > allowed:
            why = f"above {rule} but not beyond the {spread}"
        else:
            why = f"within {rule}"
    elif c.status is CheckStatus.FAIL:
        why = f"not shown to stay within {rule} ({spread})"
    else:
        why = f"shown to stay within {rule}"
    tail = ""
    if "baseline_loaded_mib" in d:
        tail = (
            f"; after load {np.median(d['baseline_loaded_mib']):.1f} → "
            f"{np.median(d['candidate_loaded_mib']):.1f} MiB, peak "
            f"{max(d['baseline_peak_mib']):.1f} → {max(d['candidate_peak_mib']):.1f} MiB"
        )
    return f"{head}: {why}{tail}"


explain = partial(explained, words=explain_memory)
"""A decided memory check with its reason worded from its final status (pass or fail)."""
