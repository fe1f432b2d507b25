"""Seeded simulation of the paired accuracy check (accuracy flips), 1000 runs per scenario.

At the default eval-set size (5000 samples, as ``fixtures/eval/demo.jsonl.gz``) and the
default tolerance (1 point), with 1% of samples flipping each way between baseline and
candidate: the error rates the modes promise hold within binomial error, a 2x-tolerance drop
is caught with >= 95% power, and the naive "accuracy within tolerance" rule is shown beside.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

from conftest import ROOT

RUNS = 1000
ALPHA = 0.05
SLACK = 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)  # three binomial standard errors


def _sim() -> Any:
    spec = importlib.util.spec_from_file_location(
        "accuracy_simulation", Path(ROOT) / "benchmarks" / "accuracy_simulation.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_aa_false_alarms_and_power_at_the_default_eval_set_size() -> None:
    sim = _sim()
    aa = sim.simulate(n=5000, drop=0.0, runs=RUNS, seed=1)
    at_tol = sim.simulate(n=5000, drop=0.01, runs=RUNS, seed=2)
    twice = sim.simulate(n=5000, drop=0.02, runs=RUNS, seed=3)
    # regression mode: blocks an unchanged accuracy at most alpha of the time (A/A), and a
    # drop exactly at the tolerance too; catches a 2x-tolerance drop with >= 95% power
    assert aa["gate_regression"] <= ALPHA + SLACK
    assert at_tol["gate_regression"] <= ALPHA + SLACK
    assert twice["gate_regression"] >= 0.95
    # non-inferiority (the default): A/A passes; a drop at the tolerance passes <= alpha
    assert aa["gate_non_inferiority"] <= ALPHA + SLACK
    assert 1 - at_tol["gate_non_inferiority"] <= ALPHA + SLACK
    assert twice["gate_non_inferiority"] >= 0.95
    # the naive rule lets about half of the drops that are exactly at the tolerance through
    assert 1 - at_tol["naive"] >= 0.40


def test_small_eval_sets_are_where_the_naive_rule_false_alarms() -> None:
    sim = _sim()
    aa = sim.simulate(n=500, drop=0.0, runs=RUNS, seed=4)
    assert aa["gate_regression"] <= ALPHA + SLACK
    # the naive rule is not calibrated: its A/A rate depends on N and the flip rate
    assert aa["naive"] > aa["gate_regression"]
