"""Reports that never overstate, on an INCONCLUSIVE-heavy run.

The run below has the shape of a real first check (``gate init`` → ``traffic synth`` →
``baseline record`` → ``check`` on an unchanged model, stored baselines, the policy saying
``inconclusive: pass``): one check passed, four could not decide, one was skipped, and the
judge's warnings restate the inconclusive checks while two sources report the A/A
comparison. The headline must count each status apart and name the checks that decided the
verdict; the warnings must appear once; every ratio must have its absolute values beside it;
no absolute runner path may reach the Markdown or HTML meant for a pull request.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gate.evidence import AccuracyRecord, EncodedArray
from gate.judge.comparison import accuracy_class_changes
from gate.report.figures import memory_levels
from gate.report.html import render_html
from gate.report.markdown import render_markdown
from gate.report.text import (
    deciding_checks,
    render_console,
    report_warnings,
    summary_line,
)
from gate.report.values import absolute, fmt_effect, redact_paths
from gate.result import (
    BaselineRef,
    CheckResult,
    CheckStatus,
    Comparison,
    ModelInfo,
    PercentileRatio,
    RunResult,
    StageResult,
    StageStatus,
    TrafficInfo,
    Verdict,
)

WS = "/home/runner/work/acme/acme"
SITE = "/opt/hostedtoolcache/Python/3.11.7/x64/lib/python3.11/site-packages"


def _incon(
    name: str, metric: str, effect: float, tol: float, mde: float, **details: Any
) -> CheckResult:
    why = (
        f"inconclusive: only a change of {mde * 100:+.1f}% would be detected at the policy's "
        f"power (more than twice the tolerance {tol * 100:+.1f}%)"
    )
    return CheckResult(
        name=name,
        metric=metric,
        status=CheckStatus.INCONCLUSIVE,
        mode="regression",
        tolerance=tol,
        effect=effect,
        ci_low=effect - 0.4,
        ci_high=effect + 0.7,
        confidence=0.9,
        p_value=0.8,
        p_adjusted=1.0,
        n=400,
        baseline_runs=3,
        candidate_runs=1,
        mde=mde,
        reason=why,
        details=details,
    )


def heavy(verdict: Verdict = Verdict.PASS) -> RunResult:
    checks = [
        _incon("latency shift", "latency.shift", 0.193, 0.05, 1.037),
        _incon(
            "latency p95",
            "latency.p95",
            -0.114,
            0.10,
            13.2,
            baseline_values_us=[2790.0, 2800.0, 2700.0],
            candidate_values_us=[1970.0],
        ),
        CheckResult(
            name="memory (host)",
            metric="memory.host",
            status=CheckStatus.PASS,
            mode="regression",
            tolerance=0.756,
            effect=0.003,
            ci_low=-0.003,
            ci_high=0.008,
            confidence=0.9,
            p_value=1.0,
            p_adjusted=1.0,
            n=31,
            baseline_runs=3,
            candidate_runs=1,
            mde=0.763,
            reason="host RSS 48.8 → 48.9 MiB",
            details={
                "source": "host",
                "baseline_mib": 48.8,
                "candidate_mib": 48.9,
                "allowed_mib": 36.9,
            },
        ),
        CheckResult(
            name="memory (gpu)",
            metric="memory.gpu",
            status=CheckStatus.SKIPPED,
            mode="regression",
            reason="gpu: the server exports no GPU metrics",
        ),
        _incon(
            "throughput c=1",
            "throughput.c1",
            -0.22,
            -0.10,
            -0.705,
            baseline_ips=3274.0,
            candidate_ips=2554.0,
        ),
        _incon(
            "throughput c=4",
            "throughput.c4",
            0.172,
            -0.10,
            -0.65,
            baseline_ips=5475.0,
            candidate_ips=6416.0,
        ),
    ]
    warnings = [
        "the candidate model is byte-identical to the baseline model (A/A)",
        "latency shift: with 400 requests and 3 baseline runs the smallest slowdown "
        "detectable with 80% power is +103.7% (tolerance +5.0%); record more runs",
        *[
            f"{c.name} is INCONCLUSIVE and the policy says 'inconclusive: pass': passed "
            f"without enough data to decide ({c.reason})"
            for c in checks
            if c.status is CheckStatus.INCONCLUSIVE
        ],
        "throughput c=1: with 5 windows per run and 3 baseline runs the smallest drop "
        "detectable with 80% power is -70.5% (tolerance -10%)",
        "the candidate model is byte-identical to the baseline model (A/A)",
        f"traffic {WS}/traffic/demo.jsonl.gz is SYNTHETIC: replace it with recorded traffic",
    ]
    return RunResult(
        run_id="20261201T012651-678d8a3c",
        command="check",
        gate_version="0.1.0",
        started_at="2026-12-01T01:26:51+00:00",
        config_path=f"{WS}/gate.yaml",
        model=ModelInfo(name="demo", repository=f"{WS}/models", digest="sha256:m"),
        traffic=TrafficInfo(
            path=f"{WS}/traffic/demo.jsonl.gz", digest="sha256:t", requests=400, duration_s=1.9
        ),
        baseline=BaselineRef(
            path=f"{WS}/.gate/baselines/demo/baseline-c4.json.gz",
            recorded_at="2026-12-01T01:26:19+00:00",
            runs=3,
            model_digest="sha256:m",
            traffic_digest="sha256:t",
        ),
        stages=[
            StageResult(
                name="tools",
                status=StageStatus.OK,
                seconds=0.01,
                detail=f"tritonserver {SITE}/pytriton/tritonserver/bin/tritonserver",
            ),
            StageResult(
                name="signatures",
                status=StageStatus.OK,
                seconds=0.04,
                detail=f"2 verified (policy: {WS}/gate.yaml)",
            ),
        ],
        checks=checks,
        alpha=0.05,
        verdict=verdict,
        warnings=warnings,
        comparison=Comparison(
            requests=400,
            percentiles=[
                PercentileRatio(
                    percentile=50,
                    baseline_us=611.0,
                    candidate_us=777.0,
                    ratio=1.27,
                    ci_low=0.9,
                    ci_high=1.6,
                )
            ],
        ),
    )


def test_headline_counts_every_status_and_names_what_decided() -> None:
    line = summary_line(heavy())
    assert line.startswith("6 checks: 1 passed, 4 inconclusive, 1 skipped. ")
    assert "Passed on memory (host);" in line
    assert "could not decide and passed only because the policy says 'inconclusive: pass'" in line
    assert "All" not in line and "that ran passed" not in line
    assert [c.name for c in deciding_checks(heavy())] == ["memory (host)"]


def test_inconclusive_verdict_names_the_checks_not_a_warning() -> None:
    result = heavy(Verdict.INCONCLUSIVE)
    line = summary_line(result)
    assert line.startswith("6 checks: 1 passed, 4 inconclusive, 1 skipped. ")
    assert "latency shift, latency p95, throughput c=1 and 1 more could not decide" in line
    assert "byte-identical" not in line and "SYNTHETIC" not in line
    assert [c.name for c in deciding_checks(result)][:2] == ["latency shift", "latency p95"]


def test_warnings_are_shown_once_and_never_restate_a_check() -> None:
    shown = report_warnings(heavy())
    assert shown.count("the candidate model is byte-identical to the baseline model (A/A)") == 1
    assert not any("is INCONCLUSIVE and the policy says" in w for w in shown)
    assert not any("detectable with 80% power" in w for w in shown)
    assert len(shown) == 2 and len(heavy().warnings) == 9  # run.json keeps every one
    md, console = render_markdown(heavy()), render_console(heavy())
    for text in (md, console, render_html(heavy())):
        assert text.count("byte-identical to the baseline model") == 1


def test_summary_md_counts_truthfully_with_values_beside_ratios() -> None:
    md = render_markdown(heavy())
    lines = md.splitlines()
    assert lines[0] == "## ✅ PASS — `demo`"
    assert lines[2] == summary_line(heavy())
    rows = {line.split(" | ")[0][2:]: line for line in lines if line.startswith("| ")}
    assert "| 0.611 → 0.777 ms | +19.3% |" in rows["latency shift"]
    assert "| 2.79 → 1.97 ms | -11.4% |" in rows["latency p95"]
    assert "| 48.8 → 48.9 MiB |" in rows["memory (host)"]
    assert "| 3,274 → 2,554 inferences/s | -22.0% |" in rows["throughput c=1"]
    assert rows["latency shift"].count("⚠️ inconclusive") == 1


def test_no_absolute_runner_path_in_markdown_or_html() -> None:
    for text in (render_markdown(heavy()), render_html(heavy())):
        assert WS not in text and "/home/runner" not in text and "/opt/" not in text
        assert "traffic/demo.jsonl.gz" in text and "…/bin/tritonserver" in text
    assert "/home/runner/work" in render_console(heavy())  # the terminal keeps real paths
    assert redact_paths("see https://example.com/a/b", WS) == "see https://example.com/a/b"


def test_accuracy_effects_are_in_points() -> None:
    check = CheckResult(
        name="accuracy top1",
        metric="accuracy.top1",
        status=CheckStatus.FAIL,
        mode="non_inferiority",
        tolerance=0.01,
        effect=0.0312,
        ci_low=0.025,
        ci_high=0.037,
        details={
            "baseline_accuracy": 0.9252,
            "candidate_accuracy": 0.894,
            "losses": 180,
            "gains": 24,
            "effect_unit": "absolute drop in accuracy (0.01 = 1 point)",
        },
    )
    result = heavy(Verdict.BLOCKED)
    result.checks.append(check)
    assert fmt_effect(check, check.effect) == "+3.12 pts"
    assert absolute(check, result) == "92.52% → 89.40%"
    md = render_markdown(result)
    row = next(line for line in md.splitlines() if line.startswith("| accuracy top1"))
    assert "+3.12 pts" in row and "+1.00 pts" in row and "%" not in row.split(" | ")[3]
    assert "Blocked: accuracy top1 is 3.12 pts worse than the baseline (tolerance 1.00 pts)" in md


def test_memory_figure_gets_the_baseline_and_the_limit() -> None:
    assert memory_levels(heavy()) == {"baseline host": 48.8, "allowed host": 48.8 + 36.9}


def _record(right: list[int], pred: list[int]) -> AccuracyRecord:
    return AccuracyRecord(
        eval_set="e",
        eval_set_digest="sha256:e",
        samples=len(right),
        output="PROBS",
        kind="label",
        scores={"top1": EncodedArray.encode(np.asarray(right, np.float32))},
        top_indices=EncodedArray.encode(np.asarray(pred, np.int32)[:, None]),
    )


def test_per_class_changes_are_exact_without_the_labels() -> None:
    # labels 0 1 2 2 1 0; baseline predicts 0 1 2 0 1 1, candidate 0 2 2 2 1 0
    base = _record([1, 1, 1, 0, 1, 0], [0, 1, 2, 0, 1, 1])
    cand = _record([1, 0, 1, 1, 1, 1], [0, 2, 2, 2, 1, 0])
    got = [(c.label, c.newly_wrong, c.newly_right) for c in accuracy_class_changes(base, cand)]
    assert got == [(0, 0, 1), (1, 1, 0), (2, 0, 1)]


def test_checks_table_scrolls_at_1280_px(tmp_path: Path) -> None:
    from test_report_html import _chromium

    chromium = _chromium()
    probe = (
        "<script>window.addEventListener('load',()=>{const b=document.querySelector("
        "'div.scroll'),t=b.querySelector('table.checks');document.body.setAttribute("
        "'data-probe',JSON.stringify({page:document.documentElement.scrollWidth,"
        "view:window.innerWidth,box:b.clientWidth,table:t.scrollWidth,"
        "overflow:getComputedStyle(b).overflowX}));});</script>"
    )
    page = tmp_path / "r.html"
    page.write_text(render_html(heavy()).replace("</body>", probe + "</body>"))
    with tempfile.TemporaryDirectory() as home:
        proc = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--window-size=1280,900",
                f"--user-data-dir={home}/p",
                "--virtual-time-budget=5000",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": home},
        )
    found = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    import html

    seen = json.loads(html.unescape(found.group(1)))
    assert seen["view"] == 1280 and seen["page"] <= seen["view"], seen  # nothing spills
    assert seen["overflow"] == "auto" and seen["table"] > seen["box"], seen  # it scrolls


@pytest.mark.parametrize("verdict", [Verdict.PASS, Verdict.INCONCLUSIVE])
def test_junit_and_github_use_the_same_truthful_summary(verdict: Verdict) -> None:
    from gate.report.junit import render_junit

    result = heavy(verdict)
    assert summary_line(result) in render_junit(result).replace("&apos;", "'")
