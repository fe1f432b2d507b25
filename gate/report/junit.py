"""JUnit XML: one testsuite per model, one testcase per check, so CI test tabs show the gate.

A failing check's failure message is the one ``describe_check`` line (effect, CI,
tolerance, p); an infrastructure error becomes a ``gate run`` testcase whose output holds
the error details and the server log tail; every stage is a testcase too, so a CI page shows
where a run stopped without anyone opening the JSON.
"""

from __future__ import annotations

import json
from typing import Any

from junit_xml import TestCase, TestSuite, to_xml_report_string

from gate.report.text import describe_check, one_line, summary_line
from gate.result import CheckResult, CheckStatus, RunResult, StageStatus, Verdict

__all__ = ["junit_suite", "render_junit"]


def _model_name(result: RunResult) -> str | None:
    return result.model.name if result.model is not None else None


def _suite_name(result: RunResult) -> str:
    name = _model_name(result)
    return f"gate.{name}" if name else "gate"


def _check_output(check: CheckResult, alpha: float | None) -> str:
    """Every number of a check, one per line, for the failure's body."""
    fields = check.model_dump(exclude={"details"}, mode="json")
    lines = [f"{key}: {value}" for key, value in fields.items() if value not in (None, "")]
    if alpha is not None:
        lines.append(f"alpha (family-wise): {alpha:g}")
    if check.details:
        lines.append("details: " + json.dumps(check.details, indent=2, sort_keys=True, default=str))
    return "\n".join(lines)


def _check_case(check: CheckResult, result: RunResult, suite: str) -> Any:
    case = TestCase(name=check.name, classname=f"{suite}.{check.metric}", elapsed_sec=0)
    if check.status is CheckStatus.FAIL:
        case.add_failure_info(
            message=describe_check(check, alpha=result.alpha),
            output=_check_output(check, result.alpha),
            failure_type="regression" if not check.critical else "critical regression",
        )
    elif check.status is CheckStatus.ERROR:
        case.add_error_info(
            message=one_line(check.reason) or "the check could not be evaluated",
            output=_check_output(check, result.alpha),
            error_type="check error",
        )
    elif check.status is CheckStatus.SKIPPED:
        case.add_skipped_info(message=one_line(check.reason) or "skipped")
    else:
        case.stdout = describe_check(check, alpha=result.alpha)
    return case


def _stage_case(result: RunResult, index: int, suite: str) -> Any:
    stage = result.stages[index]
    case = TestCase(
        name=f"stage: {stage.name}", classname=f"{suite}.stage", elapsed_sec=stage.seconds
    )
    detail = one_line(stage.detail)
    if stage.status is StageStatus.FAILED:
        case.add_error_info(
            message=detail or "the stage failed", output=stage.detail or None, error_type="stage"
        )
    elif stage.status is StageStatus.SKIPPED:
        case.add_skipped_info(message=detail or "skipped")
    elif stage.detail:
        case.stdout = stage.detail
    return case


def _run_error_case(result: RunResult, suite: str) -> Any:
    error = result.error
    assert error is not None
    message = one_line(error.message)
    if error.hint:
        message += f" — {one_line(error.hint)}"
    output: list[str] = [f"{error.kind} (exit {error.exit_code}): {error.message}"]
    if error.hint:
        output.append(f"hint: {error.hint}")
    if error.details:
        output += ["", "details:", error.details]
    if result.server_log_tail:
        output += ["", "--- server log (tail) ---", result.server_log_tail]
    case = TestCase(name="gate run", classname=suite, elapsed_sec=0)
    case.add_error_info(message=message, output="\n".join(output), error_type=error.kind)
    return case


def _signature_cases(result: RunResult, suite: str) -> list[Any]:
    """A testcase per file of the model directory that signature verification looked at."""
    sig = result.signatures
    if sig is None:
        return []
    cases = []
    for a in sig.artifacts:
        case = TestCase(name=f"signature: {a.path}", classname=f"{suite}.signatures", elapsed_sec=0)
        text = "\n".join(
            f"{k}: {v}" for k, v in a.model_dump(mode="json").items() if v not in (None, "")
        )
        if a.status == "failed" or (a.status == "unsigned" and sig.required):
            case.add_failure_info(
                message=f"{a.path}: {one_line(a.reason)}", output=text, failure_type=a.status
            )
        elif a.status in ("unsigned", "ignored"):
            case.add_skipped_info(message=f"{a.status}: {one_line(a.reason)}")
        else:
            case.stdout = f"{a.method}: signed by {a.signer}; trust root {a.trust_root}"
        cases.append(case)
    return cases


def _properties(result: RunResult) -> dict[str, str]:
    props: dict[str, str | None] = {
        "verdict": result.verdict.value,
        "exit_code": str(result.exit_code),
        "run_id": result.run_id,
        "command": result.command,
        "gate_version": result.gate_version,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "alpha": None if result.alpha is None else f"{result.alpha:g}",
        "summary": summary_line(result),
    }
    if result.model is not None:
        props["model.name"] = result.model.name
        props["model.version"] = result.model.version
        props["model.digest"] = result.model.digest or None
    if result.baseline is not None:
        props["baseline.path"] = result.baseline.path
        props["baseline.recorded_at"] = result.baseline.recorded_at
        props["baseline.runs"] = str(result.baseline.runs)
    for key, value in sorted(result.environment.items()):
        props[f"env.{key}"] = value
    return {key: value for key, value in props.items() if value is not None}


def render_junit(result: RunResult) -> str:
    """The run as a JUnit XML document (a ``<testsuites>`` with one ``<testsuite>``)."""
    return str(to_xml_report_string([junit_suite(result)], prettyprint=True, encoding="utf-8"))


def junit_suite(result: RunResult, name: str | None = None) -> Any:
    """The run's ``TestSuite`` (``gate report merge`` puts one per run in one file)."""
    suite = name or _suite_name(result)
    cases: list[Any] = []
    if result.error is not None:
        cases.append(_run_error_case(result, suite))
    cases += [_stage_case(result, i, suite) for i in range(len(result.stages))]
    cases += [_check_case(check, result, suite) for check in result.checks]
    cases += _signature_cases(result, suite)

    # A verdict that blocks must show as red in CI even when no testcase above explains it
    # (e.g. INCONCLUSIVE with every check passing, or no checks at all).
    blocking = result.verdict not in (Verdict.PASS, Verdict.MEASURED)
    if blocking and not any(c.is_failure() or c.is_error() for c in cases):
        case = TestCase(name="verdict", classname=suite, elapsed_sec=0)
        message = f"{result.verdict.value}: {summary_line(result)}"
        if result.verdict is Verdict.ERROR:
            case.add_error_info(message=message, error_type="verdict")
        else:
            case.add_failure_info(message=message, failure_type="verdict")
        cases.append(case)

    return TestSuite(
        suite,
        test_cases=cases,
        timestamp=result.started_at,
        properties=_properties(result),
    )
