"""The judge gives the checks it gave before its statistics were vectorised.

``fixtures/judge/reference.json`` holds the latency checks (stored baseline with K×M pairs,
and live A/B with each ``ab.test``) that the scalar judge of commit d30e99e returned on
seeded inputs (``fixtures/judge/make_reference.py``: ties from whole-microsecond latencies,
non-inferiority, runs above the exact-bootstrap and enumeration sizes). The current judge
must return the same checks: the same status, names and details keys, every number equal to
float tolerance.
"""

from __future__ import annotations

import importlib.util
import json
import math
from typing import Any

import pytest
from conftest import FIXTURES

from gate.judge.latency import latency_checks
from gate.judge.live_ab import ab_checks

_spec = importlib.util.spec_from_file_location(
    "make_reference", FIXTURES / "judge" / "make_reference.py"
)
assert _spec and _spec.loader
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "judge" / "reference.json").read_text())


def assert_same(got: Any, want: Any, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), where
        for k in want:
            assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(got, bool):
        if math.isinf(want) or math.isnan(want):
            assert got == want or (math.isnan(want) and math.isnan(got)), where
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-15), where
    else:
        assert got == want, where


@pytest.mark.parametrize("i", range(len(ref.STORED)))
def test_stored_baseline_judge_unchanged(i: int) -> None:
    name = ref.STORED[i][0]
    pol, base, cand = ref.stored_inputs(i)
    checks, warnings = latency_checks(pol, [b.tolist() for b in base], [c.tolist() for c in cand])
    got = {"checks": [c.model_dump(mode="json") for c in checks], "warnings": warnings}
    assert_same(json.loads(json.dumps(got)), EXPECTED[name], name)


@pytest.mark.parametrize("i", range(len(ref.AB)))
def test_live_ab_judge_unchanged(i: int) -> None:
    name = ref.AB[i][0]
    pol, a, b, block = ref.ab_inputs(i)
    checks = ab_checks(pol, a.tolist(), b.tolist(), block_size=block)
    got = {"checks": [c.model_dump(mode="json") for c in checks], "warnings": []}
    assert_same(json.loads(json.dumps(got)), EXPECTED[name], name)
