"""Accuracy and output-agreement checks: candidate vs the baseline's stored per-sample scores.

Pairing by sample removes the variation between samples (which samples are hard), so a
difference of a fraction of a point is visible on a few thousand samples, where comparing
two accuracies as independent proportions would need many times more.

* **Proportions** (top1, topK): drop = baseline − candidate accuracy, in absolute terms;
  Tango's score test at the tolerance and its CI (``gate.stats.accuracy``); exact McNemar
  (any change at all) in the details. Default mode ``non_inferiority``: pass only if the CI
  shows the drop is below the tolerance.
* **Continuous scores** (mae, mse, user metrics): the ratio of means, candidate/baseline,
  with a paired t-test of ``c_i − (1±τ)·b_i`` and Fieller's CI; effect = relative worsening.
* **Floor** (``min_accuracy``): an absolute objective on top-1, judged like an SLO, so it
  needs no baseline.
* **Agreement** with the baseline model's outputs (same model, faster engine): share of
  samples whose top-1 class changed (exact binomial, Clopper–Pearson), the largest |Δ| of any
  output value, and the 99th percentile of |Δ| (order-statistic CI).

Effects follow the latency convention: positive = worse. Each ``reason`` is status-neutral
and says the numbers a reader needs (accuracies, samples lost and gained).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from gate.config.policy import AccuracyCheck, AgreementPolicy, Mode, Policy
from gate.errors import ConfigError
from gate.evidence import AccuracyRecord
from gate.judge.common import undecided
from gate.judge.protocol import Noise, guarded
from gate.result import CheckResult, CheckStatus
from gate.stats import accuracy as sa


def _z(x: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(x))


def _mde(tol: float, se: float, alpha: float, power: float) -> float:
    return tol + (_z(1 - alpha) + _z(power)) * se


def require_comparable(
    base: AccuracyRecord | None, cand: AccuracyRecord, where: str
) -> AccuracyRecord:
    """The baseline's record, or a ConfigError (exit 2) saying why it cannot be paired."""
    if base is None:
        raise ConfigError(
            f"{where}: field 'accuracy': the baseline has no per-sample accuracy scores (it "
            "was recorded without accuracy.eval_set)",
            hint="record the baseline again with the eval set: gate baseline record CONFIG",
        )
    if base.eval_set_digest != cand.eval_set_digest:
        raise ConfigError(
            f"{where}: field 'accuracy.eval_set_digest': the baseline was scored on another "
            f"eval set ({base.eval_set_digest[:19]}…, now {cand.eval_set_digest[:19]}…)",
            hint="record the baseline again with this eval set: gate baseline record CONFIG",
        )
    return base


Scores = npt.NDArray[np.float64]
"""One score per eval sample, in the eval set's order."""


def _names(spec: AccuracyCheck) -> tuple[str, str]:
    return f"accuracy {spec.metric}", f"accuracy.{spec.metric}"


def _pts(x: float) -> str:
    if not math.isfinite(x):
        return "+inf" if x > 0 else "-inf"
    return f"{x * 100:.2f} pts"


@dataclass(frozen=True)
class _Paired:
    """What one paired accuracy test found, before it is a check: the effect (positive =
    worse) with its CI, the test's p-value, samples, standard error (for the MDE), reason
    and details."""

    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    se: float
    reason: str
    details: dict[str, Any]


def _proportion(spec: AccuracyCheck, b: Scores, c: Scores, alpha: float) -> _Paired:
    """Paired drop of a 0/1 score (top1, topK) against the tolerance."""
    bb, cc = b.astype(bool), c.astype(bool)
    n = int(bb.size)
    losses = int(np.count_nonzero(bb & ~cc))
    gains = int(np.count_nonzero(~bb & cc))
    alt: sa.Alternative = "less" if spec.mode is Mode.NON_INFERIORITY else "greater"
    est = sa.paired_proportion_drop_counts(losses, gains, n, spec.tolerance, alpha, alt)
    acc_b, acc_c = float(bb.mean()), float(cc.mean())
    reason = (
        f"{spec.metric} accuracy {acc_c:.4f} vs baseline {acc_b:.4f}: drop {_pts(est.estimate)} "
        f"({(1 - 2 * alpha) * 100:.4g}% CI {_pts(est.ci_low)} .. {_pts(est.ci_high)}), "
        f"tolerance {_pts(spec.tolerance)}; {losses} samples newly wrong, {gains} newly right "
        f"of {n}"
    )
    details = {
        "baseline_accuracy": acc_b,
        "candidate_accuracy": acc_c,
        "losses": losses,
        "gains": gains,
        "mcnemar_exact_p": sa.mcnemar_exact_p(losses, gains),
        "test": "Tango score test for the paired drop at the tolerance; Tango score CI",
        "effect_unit": "absolute drop in accuracy (0.01 = 1 percentage point)",
    }
    return _Paired(est.estimate, est.ci_low, est.ci_high, est.p_value, n, est.se, reason, details)


def _mean(
    spec: AccuracyCheck, b: Scores, c: Scores, alpha: float, *, higher_is_better: bool
) -> _Paired:
    """Ratio of mean continuous scores against 1 ± tolerance, paired by sample."""
    ni = spec.mode is Mode.NON_INFERIORITY
    if higher_is_better:  # worse = lower: margin 1 - tol
        margin = 1.0 - spec.tolerance
        alt: sa.Alternative = "greater" if ni else "less"
        est = sa.paired_mean_ratio(b, c, margin, alpha, alt)
        effect, lo, hi = 1 - est.estimate, 1 - est.ci_high, 1 - est.ci_low
    else:
        margin = 1.0 + spec.tolerance
        alt = "less" if ni else "greater"
        est = sa.paired_mean_ratio(b, c, margin, alpha, alt)
        effect, lo, hi = est.estimate - 1, est.ci_low - 1, est.ci_high - 1
    mb, mc = float(np.mean(b)), float(np.mean(c))
    word = "lower" if higher_is_better else "higher"
    reason = (
        f"mean {spec.metric} {mc:.6g} vs baseline {mb:.6g} ({effect * 100:+.2f}% worse; "
        f"{word} is worse), tolerance {spec.tolerance * 100:.3g}%, paired over {est.n} samples"
    )
    details = {
        "baseline_mean": mb,
        "candidate_mean": mc,
        "higher_is_better": higher_is_better,
        "test": "paired t-test of c - (1±tol)·b; Fieller CI for the ratio of means",
        "effect_unit": "relative worsening of the mean score",
    }
    return _Paired(effect, lo, hi, est.p_value, est.n, est.se, reason, details)


def default_checks(kind: str) -> tuple[AccuracyCheck, ...]:
    """The checks used when the policy lists none: top1 for labels, mae for targets."""
    if kind == "label":
        return (AccuracyCheck(metric="top1", tolerance=0.01),)
    return (AccuracyCheck(metric="mae", tolerance=0.05),)


def effective_checks(policy: Policy, kind: str) -> tuple[AccuracyCheck, ...]:
    if not policy.accuracy.enabled:
        return ()
    checks = policy.accuracy.checks
    return tuple(c for c in (checks if checks is not None else default_checks(kind)) if c.enabled)


def accuracy_checks(
    policy: Policy,
    checks: Sequence[AccuracyCheck],
    base: AccuracyRecord,
    cand: AccuracyRecord,
    *,
    where: str,
) -> list[CheckResult]:
    """The policy's paired accuracy checks (undecided; ``decide`` applies Holm)."""
    out: list[CheckResult] = []
    for spec in checks:
        if not spec.enabled:
            continue
        if spec.metric not in base.scores:
            raise ConfigError(
                f"{where}: field 'accuracy.scores': the baseline has no per-sample scores for "
                f"'{spec.metric}' (it has {', '.join(sorted(base.scores)) or 'none'})",
                hint="record the baseline again with this policy: gate baseline record CONFIG",
            )
        b = np.asarray(base.score(spec.metric), dtype=np.float64)
        c = np.asarray(cand.score(spec.metric), dtype=np.float64)
        hib = cand.higher_is_better.get(spec.metric, True)
        proportion = cand.kind == "label" and spec.metric.startswith("top") and hib
        test = _proportion if proportion else partial(_mean, higher_is_better=hib)
        name, metric = _names(spec)
        res = guarded(
            partial(_paired_check, spec, b, c, test, policy),
            name=name,
            metric=metric,
            mode=spec.mode.value,
            tolerance=spec.tolerance,
        )
        out.append(res)
    return out


def _paired_check(
    spec: AccuracyCheck,
    b: Scores,
    c: Scores,
    test: Callable[[AccuracyCheck, Scores, Scores, float], _Paired],
    policy: Policy,
) -> CheckResult:
    """One paired accuracy check (undecided): ``test`` is ``_proportion`` or ``_mean``."""
    if b.shape != c.shape:
        raise ValueError(f"baseline has {b.size} scores, candidate {c.size}")
    alpha = policy.alpha
    got = test(spec, b, c, alpha)
    return undecided(
        spec,
        _names(spec),
        tolerance=spec.tolerance,
        effect=got.effect,
        ci_low=got.ci_low,
        ci_high=got.ci_high,
        confidence=1 - 2 * alpha,
        p_value=got.p_value,
        n=got.n,
        mde=_mde(spec.tolerance, got.se, alpha, policy.power),
        reason=got.reason,
        details=got.details,
    )


def accuracy_noise(c: CheckResult) -> Noise:
    """The power warning's words for an accuracy check (points for a proportion's drop)."""
    return Noise(
        "worsening",
        f"{c.n} eval samples",
        "use a larger eval set to tighten it",
        points="baseline_accuracy" in c.details,
    )


def _agreement(ap: AgreementPolicy, names: tuple[str, str], **numbers: Any) -> CheckResult:
    """An agreement check (undecided) in the policy's mode: its ``(name, metric)`` and what
    its test found."""
    return CheckResult(
        name=names[0], metric=names[1], status=CheckStatus.PASS, mode=ap.mode.value, **numbers
    )


def _top1(rec: AccuracyRecord) -> npt.NDArray[np.int64] | None:
    if rec.top_indices is not None:
        return np.asarray(rec.top_indices.decode(), dtype=np.int64)[:, 0]
    if rec.outputs is not None:
        o = np.asarray(rec.outputs.decode(), dtype=np.float64)
        top: npt.NDArray[np.int64] = np.argmax(o.reshape(o.shape[0], -1), axis=1).astype(np.int64)
        return top
    return None


def agreement_checks(
    ap: AgreementPolicy,
    base: AccuracyRecord,
    cand: AccuracyRecord,
    *,
    alpha: float,
    power: float,
    where: str,
) -> list[CheckResult]:
    """Output agreement with the baseline model (undecided checks)."""
    out: list[CheckResult] = []
    ni = ap.mode is Mode.NON_INFERIORITY
    if ap.min_top1 is not None and cand.kind == "label":  # no classes in regression outputs
        tb, tc = _top1(base), _top1(cand)
        if tb is None or tc is None:
            raise ConfigError(
                f"{where}: field 'accuracy.outputs': the baseline kept no outputs to compare "
                "top-1 classes with",
                hint="raise accuracy.max_output_mb and record the baseline again",
            )
        agree = tb == tc
        n, k = int(agree.size), int(np.count_nonzero(agree))
        est = sa.proportion_vs_limit(k, n, ap.min_top1, alpha, "greater" if ni else "less")
        tol = 1.0 - ap.min_top1
        out.append(
            _agreement(
                ap,
                ("agreement top-1", "agreement.top1"),
                tolerance=tol,
                effect=1 - est.estimate,
                ci_low=1 - est.ci_high,
                ci_high=1 - est.ci_low,
                confidence=1 - 2 * alpha,
                p_value=est.p_value,
                n=n,
                mde=_mde(tol, est.se, alpha, power),
                reason=(
                    f"top-1 class unchanged on {k} of {n} samples ({k / n:.4f}); at least "
                    f"{ap.min_top1:g} required (effect = share changed)"
                ),
                details={
                    "agreement": k / n,
                    "changed": n - k,
                    "test": "exact binomial test, Clopper–Pearson CI",
                    "effect_unit": "share of samples whose top-1 class changed",
                },
            )
        )
    if ap.max_abs_diff is None and ap.p99_abs_diff is None:
        return out
    if base.outputs is None or cand.outputs is None:
        raise ConfigError(
            f"{where}: field 'accuracy.outputs': the baseline kept no model outputs "
            f"({base.outputs_note or 'not stored'}), so |Δ| cannot be computed",
            hint="raise accuracy.max_output_mb and record the baseline again",
        )
    d = sa.agreement_stats(base.outputs.decode(), cand.outputs.decode())["abs_diff"]
    prec = (
        ""
        if "float16" not in base.outputs_note + cand.outputs_note
        else ("; outputs stored as float16, |Δ| carries ~1e-3 relative rounding")
    )
    if ap.max_abs_diff is not None:
        mx = float(d.max()) if d.size else 0.0
        met = mx <= ap.max_abs_diff
        out.append(
            _agreement(
                ap,
                (f"agreement max |Δ| <= {ap.max_abs_diff:g}", "agreement.max_abs_diff"),
                effect=mx / ap.max_abs_diff - 1,
                p_value=0.0 if met == ni else 1.0,
                n=int(d.size),
                reason=f"max |Δ| over {d.size} output values is {mx:.3g} (limit "
                f"{ap.max_abs_diff:g}){prec}",
                details={"max_abs_diff": mx, "limit": ap.max_abs_diff, "test": "exact maximum"},
            )
        )
    if ap.p99_abs_diff is not None:
        est = sa.quantile_vs_limit(d, 0.99, ap.p99_abs_diff, alpha, "less" if ni else "greater")
        lim = ap.p99_abs_diff
        out.append(
            _agreement(
                ap,
                (f"agreement p99 |Δ| <= {lim:g}", "agreement.p99_abs_diff"),
                effect=est.estimate / lim - 1,
                ci_low=est.ci_low / lim - 1,
                ci_high=est.ci_high / lim - 1 if math.isfinite(est.ci_high) else math.inf,
                confidence=1 - 2 * alpha,
                p_value=est.p_value,
                n=est.n,
                reason=f"p99 |Δ| = {est.estimate:.3g} ({(1 - 2 * alpha) * 100:.4g}% CI "
                f"{est.ci_low:.3g} .. {est.ci_high:.3g}) vs limit {lim:g}{prec}",
                details={
                    "p99_abs_diff": est.estimate,
                    "limit": lim,
                    "test": "order-statistic CI and binomial test for the 99th percentile",
                },
            )
        )
    return out
