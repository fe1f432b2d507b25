"""``gate calibrate``'s per-check budget (``gate.app.calibrate.budget_needed``): the time a
check took to decide in an A/A session, or the time its interval would need to fit."""

from __future__ import annotations

import math

import pytest

from gate.app.calibrate import budget_needed
from gate.evidence import Sampling, SamplingLook
from gate.result import CheckResult, CheckStatus

SAMPLING = Sampling(
    mode="live",
    max_duration_s=60.0,
    max_requests=10**6,
    rho=1.0,
    looks=[
        SamplingLook(round=k, t=k / 6, seconds=10.0 * k, requests=400 * k, final=k == 6)
        for k in range(1, 7)
    ],
)


def _check(**seq: object) -> CheckResult:
    return CheckResult(
        name="latency shift",
        metric="latency.shift",
        status=CheckStatus.INCONCLUSIVE,
        mode="regression",
        details={"sequential": seq},
    )


def test_a_decided_check_needed_the_time_of_its_deciding_look() -> None:
    assert budget_needed(_check(look=3, decided=True), SAMPLING, 0.05) == 30.0


def test_an_undecided_check_is_extrapolated_by_the_square_of_the_width_it_lacks() -> None:
    margin = math.log1p(0.05)
    q = 1.959963984540054  # ndtri(1 - 0.05 / 2)
    se = margin / q  # the interval fits exactly now: the time used
    got = budget_needed(
        _check(look=6, decided=False, se=se, margin=margin, estimate=0.0), SAMPLING, 0.05
    )
    assert got == pytest.approx(60.0)
    wide = budget_needed(
        _check(look=6, decided=False, se=2 * se, margin=margin, estimate=0.0), SAMPLING, 0.05
    )
    assert wide == pytest.approx(240.0)  # twice the width: four times the time
    assert budget_needed(_check(decided=False), SAMPLING, 0.05) is None  # no look recorded
