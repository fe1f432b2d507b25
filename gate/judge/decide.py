"""The verdict: Holm across a run's checks, each check's status, then one verdict. Pure."""

from __future__ import annotations

import math

from gate import stats
from gate.config.policy import Mode, Policy
from gate.result import CheckResult, CheckStatus, Verdict


def pct(x: float) -> str:
    """A relative effect as a signed percentage: ``+4.2%``."""
    return f"{x * 100:+.1f}%"


def _reason(c: CheckResult, alpha: float) -> str:
    """The clause that says why, beside the effect and CI the reports already show."""
    assert c.effect is not None and c.tolerance is not None
    drift = c.details.get("run_to_run_sd")
    drift_s = f"run-to-run drift ±{abs(drift) * 100:.1f}%" if drift is not None else "drift"
    if c.mode == Mode.REGRESSION.value:
        if c.status is CheckStatus.FAIL:
            return f"slower beyond the tolerance and beyond the {drift_s}"
        if c.effect > c.tolerance:
            return f"not distinguishable from the {drift_s} and within-run noise"
        if c.effect < 0:
            return "faster than the baseline"
        return "within the tolerance"
    if c.status is CheckStatus.FAIL:
        return f"not shown to be within the tolerance given the {drift_s}"
    return "shown to be within the tolerance"


def is_underpowered(c: CheckResult) -> bool:
    """Whether a check is too noisy to decide: it could not detect a 2x-tolerance change.

    ``mde`` includes the tolerance (the smallest true change caught at the policy's power),
    so ``mde - tolerance`` is how far beyond the tolerance a change must be to be seen.
    When that exceeds the tolerance itself, a regression of twice the tolerance would
    likely pass unnoticed: the data cannot support a PASS.
    """
    if c.mde is None or c.tolerance is None or not math.isfinite(c.tolerance):
        return False
    if not math.isfinite(c.mde):
        return True
    return abs(c.mde) - abs(c.tolerance) > abs(c.tolerance)


def _inconclusive_reason(c: CheckResult) -> str:
    assert c.mde is not None and c.tolerance is not None
    mde = pct(c.mde) if math.isfinite(c.mde) else "unbounded"
    return (
        f"inconclusive: only a change of {mde} would be detected at the policy's power "
        f"(more than twice the tolerance {pct(c.tolerance)}); "
        + (
            "use longer traffic (gate calibrate shows what this machine supports)"
            if "live_ab" in c.details
            else "use longer traffic, more runs or live A/B (baseline.model_dir)"
        )
    )


def decide(
    checks: list[CheckResult], alpha: float, *, inconclusive: str = "block"
) -> tuple[list[CheckResult], Verdict]:
    """The one verdict of a run: Holm–Bonferroni across its checks, each check's status,
    then PASS, BLOCKED, INCONCLUSIVE or ERROR. Pure: checks in, checks and verdict out.

    Any helper's check plugs in as a ``CheckResult`` carrying ``mode``, ``tolerance``,
    ``p_value`` (one-sided, for H1 "harm beyond the tolerance" in regression mode and
    "within the tolerance" in non-inferiority mode), ``mde`` and its ``critical`` /
    ``blocking`` flags. A check without a p-value keeps the status it came with (e.g. an
    absolute floor decided by its own CI).

    * Holm–Bonferroni over every check with a p-value (advisory ones included), so the
      probability that any check of the run false-alarms stays <= alpha.
    * ``regression``: FAIL when the adjusted p < alpha (harm beyond the tolerance shown);
      otherwise PASS, or INCONCLUSIVE when it could not have detected a 2x-tolerance change
      (``is_underpowered``). ``non_inferiority``: PASS when the adjusted p < alpha (shown
      within the tolerance), otherwise FAIL.
    * Verdict, first match wins: a **critical** check that FAILs → BLOCKED (whatever else
      happened, errors and advisory flags included); a blocking or critical check in ERROR →
      ERROR (fail closed); a blocking check that FAILs → BLOCKED; a critical check
      INCONCLUSIVE → INCONCLUSIVE; a blocking check INCONCLUSIVE → INCONCLUSIVE, or PASS when
      ``inconclusive == "pass"`` (the caller warns, see ``verdict_warnings``); no check judged
      at all → ERROR; else PASS. **Advisory** checks (``blocking=False``, not critical) are
      judged and reported but never change the verdict.
    """
    if inconclusive not in ("block", "pass"):
        raise ValueError(f"inconclusive must be 'block' or 'pass', not {inconclusive!r}")
    judged = [c for c in checks if c.status is not CheckStatus.ERROR and c.p_value is not None]
    adjusted = stats.holm([c.p_value for c in judged if c.p_value is not None])
    out: list[CheckResult] = []
    adj_by_id = {id(c): a for c, a in zip(judged, adjusted, strict=True)}
    for c in checks:
        if id(c) not in adj_by_id:
            out.append(c)
            continue
        padj = adj_by_id[id(c)]
        significant = padj < alpha
        if c.mode == Mode.REGRESSION.value:
            status = CheckStatus.FAIL if significant else CheckStatus.PASS
        else:
            status = CheckStatus.PASS if significant else CheckStatus.FAIL
        c2 = c.model_copy(update={"p_adjusted": padj, "status": status})
        if (
            status is CheckStatus.PASS
            and c.mode == Mode.REGRESSION.value
            and c2.tolerance is not None
            and is_underpowered(c2)
        ):
            c2 = c2.model_copy(
                update={
                    "status": CheckStatus.INCONCLUSIVE,
                    "reason": c2.reason or _inconclusive_reason(c2),
                }
            )
        elif not c2.reason and c2.effect is not None and c2.tolerance is not None:
            c2 = c2.model_copy(update={"reason": _reason(c2, alpha)})
        out.append(c2)
    return out, _verdict(out, inconclusive)


def _gates(c: CheckResult) -> bool:
    return c.critical or c.blocking


def verdict_of(checks: list[CheckResult], inconclusive: str = "block") -> Verdict:
    """The verdict from decided checks, first match wins: a critical check that FAILs →
    BLOCKED (whatever else happened); a gating check in ERROR → ERROR (fail closed); a gating
    check that FAILs → BLOCKED; a critical check INCONCLUSIVE → INCONCLUSIVE; a gating check
    INCONCLUSIVE → INCONCLUSIVE, or PASS under ``inconclusive: pass``; no check judged at all
    → ERROR; else PASS. Advisory checks never change it."""
    return _verdict(checks, inconclusive)


def _verdict(checks: list[CheckResult], inconclusive: str) -> Verdict:
    st = CheckStatus
    if any(c.critical and c.status is st.FAIL for c in checks):
        return Verdict.BLOCKED
    if any(_gates(c) and c.status is st.ERROR for c in checks):
        return Verdict.ERROR
    if any(_gates(c) and c.status is st.FAIL for c in checks):
        return Verdict.BLOCKED
    if any(c.critical and c.status is st.INCONCLUSIVE for c in checks):
        return Verdict.INCONCLUSIVE
    if any(_gates(c) and c.status is st.INCONCLUSIVE for c in checks):
        return Verdict.INCONCLUSIVE if inconclusive == "block" else Verdict.PASS
    if not any(c.status in (st.PASS, st.FAIL, st.INCONCLUSIVE) for c in checks):
        return Verdict.ERROR
    return Verdict.PASS


def verdict_warnings(checks: list[CheckResult], verdict: Verdict) -> list[str]:
    """Warnings the verdict owes its reader: advisory failures, inconclusive checks let
    through by ``inconclusive: pass``."""
    out: list[str] = []
    for c in checks:
        if not _gates(c) and c.status in (CheckStatus.FAIL, CheckStatus.ERROR):
            out.append(f"advisory check {c.name} {c.status.value}ed (not blocking): {c.reason}")
        elif c.status is CheckStatus.INCONCLUSIVE and verdict is Verdict.PASS:
            out.append(
                f"{c.name} is INCONCLUSIVE and the policy says 'inconclusive: pass': "
                f"passed without enough data to decide ({c.reason})"
            )
    return out


def decide_policy(
    checks: list[CheckResult], policy: Policy
) -> tuple[list[CheckResult], Verdict, list[str]]:
    """``decide`` with the policy's alpha and ``inconclusive`` setting, plus its warnings."""
    out, verdict = decide(checks, policy.alpha, inconclusive=policy.inconclusive)
    return out, verdict, verdict_warnings(out, verdict)
