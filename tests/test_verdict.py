"""One verdict: Holm across checks, critical / blocking (advisory) flags, INCONCLUSIVE.

``decide`` is a pure function of CheckResults, so every rule is tested on hand-made checks;
Holm's adjusted p-values are compared with statsmodels.
"""

from __future__ import annotations

import numpy as np
import pytest

from gate.config.policy import Policy
from gate.judge.decide import decide, decide_policy, is_underpowered, verdict_warnings
from gate.result import CheckResult, CheckStatus, RunResult, Verdict


def chk(
    name: str,
    p: float | None,
    *,
    mode: str = "regression",
    tol: float = 0.05,
    mde: float | None = 0.07,
    critical: bool = False,
    blocking: bool = True,
    status: CheckStatus = CheckStatus.PASS,
) -> CheckResult:
    return CheckResult(
        name=name,
        metric=name,
        status=status,
        mode=mode,
        critical=critical,
        blocking=blocking,
        tolerance=tol,
        effect=0.01,
        ci_low=-0.02,
        ci_high=0.04,
        p_value=p,
        mde=mde,
        n=400,
    )


def by_name(checks: list[CheckResult]) -> dict[str, CheckResult]:
    return {c.name: c for c in checks}


def test_all_quiet_passes() -> None:
    out, v = decide([chk("a", 0.6), chk("b", 0.3)], 0.05)
    assert v is Verdict.PASS
    assert all(c.status is CheckStatus.PASS for c in out)


def test_regression_fails_and_non_inferiority_needs_evidence() -> None:
    out, v = decide([chk("reg", 0.001), chk("ni", 0.2, mode="non_inferiority")], 0.05)
    s = by_name(out)
    assert s["reg"].status is CheckStatus.FAIL and v is Verdict.BLOCKED
    assert s["ni"].status is CheckStatus.FAIL  # not shown within tolerance
    out, v = decide([chk("ni", 0.001, mode="non_inferiority")], 0.05)
    assert out[0].status is CheckStatus.PASS and v is Verdict.PASS


def test_holm_matches_statsmodels_and_is_applied() -> None:
    from statsmodels.stats.multitest import multipletests

    ps = [0.01, 0.04, 0.03, 0.5, 0.012]
    out, v = decide([chk(f"c{i}", p) for i, p in enumerate(ps)], 0.05)
    expected = multipletests(ps, alpha=0.05, method="holm")[1]
    assert [c.p_adjusted for c in out] == pytest.approx(list(expected))
    # raw 0.01, 0.012, 0.03 and 0.04 are each < alpha, but after Holm over five checks the
    # smallest is 5 x 0.01 = 0.05, not < alpha: nothing is blocked
    assert all(c.status is CheckStatus.PASS for c in out) and v is Verdict.PASS
    out, v = decide([chk(f"c{i}", p) for i, p in enumerate([0.001, 0.04, 0.5])], 0.05)
    assert [c.status for c in out] == [CheckStatus.FAIL, CheckStatus.PASS, CheckStatus.PASS]
    # alone, 0.04 would block; in a family of five it does not
    assert decide([chk("x", 0.04)], 0.05)[1] is Verdict.BLOCKED


def test_holm_keeps_family_wise_rate_under_alpha() -> None:
    """Simulated A/A runs with 6 independent checks: P(any false alarm) <= alpha."""
    rng = np.random.default_rng(11)
    runs = 4000
    blocked = 0
    for _ in range(runs):
        checks = [chk(f"c{i}", float(p)) for i, p in enumerate(rng.uniform(size=6))]
        blocked += decide(checks, 0.05)[1] is Verdict.BLOCKED
    rate = blocked / runs
    assert rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / runs)
    assert rate > 0.03  # and it is not absurdly conservative


def test_advisory_failure_does_not_block_but_warns() -> None:
    out, v = decide([chk("lat", 0.4), chk("adv", 1e-6, blocking=False)], 0.05)
    assert v is Verdict.PASS
    assert by_name(out)["adv"].status is CheckStatus.FAIL
    w = verdict_warnings(out, v)
    assert any("advisory check adv failed" in x for x in w)


def test_advisory_error_does_not_make_the_run_an_error() -> None:
    bad = chk("adv", None, blocking=False, status=CheckStatus.ERROR)
    _, v = decide([chk("lat", 0.4), bad], 0.05)
    assert v is Verdict.PASS
    bad2 = chk("blk", None, status=CheckStatus.ERROR)
    assert decide([chk("lat", 0.4), bad2], 0.05)[1] is Verdict.ERROR


def test_critical_failure_blocks_even_when_advisory_or_beside_an_error() -> None:
    crit = chk("acc", 1e-6, critical=True, blocking=False)
    err = chk("mem", None, status=CheckStatus.ERROR)
    out, v = decide([crit, err, chk("lat", 0.9)], 0.05)
    assert v is Verdict.BLOCKED  # not ERROR: the critical regression is the finding
    assert by_name(out)["acc"].status is CheckStatus.FAIL
    # the same failure, not critical but blocking, is overruled by the error (fail closed)
    out, v = decide([chk("acc", 1e-6), err], 0.05)
    assert v is Verdict.ERROR


def test_inconclusive_when_mde_beyond_twice_the_tolerance() -> None:
    noisy = chk("lat", 0.5, mde=0.16)  # noise term 0.11 > tolerance 0.05
    assert is_underpowered(noisy)
    assert not is_underpowered(chk("x", 0.5, mde=0.09))
    out, v = decide([noisy, chk("acc", 0.5)], 0.05)
    assert v is Verdict.INCONCLUSIVE
    assert by_name(out)["lat"].status is CheckStatus.INCONCLUSIVE
    assert "inconclusive" in by_name(out)["lat"].reason
    assert (
        RunResult(
            run_id="r", command="check", gate_version="0", started_at="t", verdict=v
        ).exit_code
        == 1
    )


def test_inconclusive_pass_policy_passes_with_a_warning() -> None:
    noisy = chk("lat", 0.5, mde=0.16)
    out, v = decide([noisy], 0.05, inconclusive="pass")
    assert v is Verdict.PASS
    assert out[0].status is CheckStatus.INCONCLUSIVE
    w = verdict_warnings(out, v)
    assert len(w) == 1 and "inconclusive: pass" in w[0]
    pol = Policy.model_validate({"inconclusive": "pass"})
    _, v2, w2 = decide_policy([noisy], pol)
    assert v2 is Verdict.PASS and w2 == w


def test_critical_inconclusive_blocks_even_under_inconclusive_pass() -> None:
    _, v = decide([chk("lat", 0.5, mde=0.2, critical=True)], 0.05, inconclusive="pass")
    assert v is Verdict.INCONCLUSIVE


def test_a_failure_is_not_inconclusive_and_beats_it() -> None:
    out, v = decide([chk("a", 1e-5, mde=0.5), chk("b", 0.5, mde=0.5)], 0.05)
    s = by_name(out)
    assert s["a"].status is CheckStatus.FAIL and s["b"].status is CheckStatus.INCONCLUSIVE
    assert v is Verdict.BLOCKED


def test_non_inferiority_is_never_inconclusive() -> None:
    out, _ = decide([chk("ni", 0.5, mode="non_inferiority", mde=0.5)], 0.05)
    assert out[0].status is CheckStatus.FAIL


def test_infinite_mde_is_inconclusive() -> None:
    _, v = decide([chk("a", 0.5, mde=float("inf"))], 0.05)
    assert v is Verdict.INCONCLUSIVE


def test_checks_without_p_keep_their_status() -> None:
    slo = chk("slo", None, status=CheckStatus.FAIL)
    out, v = decide([slo, chk("lat", 0.5)], 0.05)
    assert by_name(out)["slo"].status is CheckStatus.FAIL and v is Verdict.BLOCKED
    assert by_name(out)["slo"].p_adjusted is None


def test_nothing_judged_is_an_error() -> None:
    skipped = chk("s", None, status=CheckStatus.SKIPPED)
    assert decide([skipped], 0.05)[1] is Verdict.ERROR
    assert decide([], 0.05)[1] is Verdict.ERROR


def test_decide_is_pure() -> None:
    checks = [chk("a", 0.01), chk("b", 0.5, mde=0.5)]
    before = [c.model_dump() for c in checks]
    decide(checks, 0.05)
    assert [c.model_dump() for c in checks] == before


def test_bad_inconclusive_value_is_rejected() -> None:
    with pytest.raises(ValueError, match="inconclusive"):
        decide([chk("a", 0.5)], 0.05, inconclusive="maybe")


def test_policy_keys_are_validated(tmp_path: object) -> None:
    from pathlib import Path

    from gate.config.policy import load_policy
    from gate.errors import ConfigError

    d = Path(str(tmp_path))
    (d / "p.yaml").write_text(
        "inconclusive: pass\nlatency:\n  shift: {critical: true}\n"
        "  tails: [{percentile: 99, blocking: false}]\nab: {batch: 20, test: block}\n"
    )
    pol = load_policy(d / "p.yaml")
    assert pol.inconclusive == "pass" and pol.latency.shift.critical
    assert not pol.latency.tails[0].blocking and pol.ab.batch == 20
    (d / "bad.yaml").write_text("inconclusive: sometimes\n")
    with pytest.raises(ConfigError, match="inconclusive"):
        load_policy(d / "bad.yaml")


def test_every_report_renders_an_inconclusive_run(tmp_path: object) -> None:
    from pathlib import Path

    from gate.report import write_reports

    out, v = decide([chk("latency shift", 0.5, mde=0.3), chk("acc", 0.5)], 0.05)
    result = RunResult(
        run_id="r", command="check", gate_version="0", started_at="t", verdict=v, checks=out
    )
    d = Path(str(tmp_path))
    write_reports(result, d)
    assert "inconclusive" in (d / "summary.md").read_text().lower()
    assert (d / "run.json").is_file() and (d / "junit.xml").is_file()
