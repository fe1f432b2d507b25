"""``gate traffic sample``: a window of N requests that keeps the arrival process.

Checked with scipy's two-sample Kolmogorov–Smirnov test on inter-arrival times, against the
naive alternative (thinning), which must visibly fail the same test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import run_gate
from scipy import stats

from gate.errors import InputError
from gate.inputs.trace import ks_distance, ks_to_reference, sample_window
from gate.inputs.traffic import Request, TensorSpec, Traffic, read_traffic, write_traffic


def _recording(gaps_us: np.ndarray) -> Traffic:
    t = np.concatenate([[0], np.cumsum(np.round(gaps_us))]).astype(int)
    spec = TensorSpec("INPUT0", "FP32", (4,))
    reqs = tuple(
        Request(int(ti), {"INPUT0": np.full((1, 4), i, dtype=np.float32)}) for i, ti in enumerate(t)
    )
    return Traffic("demo", (spec,), reqs)


def _gaps(t: Traffic) -> np.ndarray:
    return np.diff([r.t_us for r in t.requests]).astype(float)


def test_ks_distance_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.gamma(0.5, 2000, 300), rng.exponential(1000, 500)
    assert ks_distance(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_fast_ks_equals_the_plain_one_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = np.round(rng.exponential(50, 2000))  # integer microseconds: many ties
    win = np.round(rng.exponential(60, 150 + seed))
    assert ks_to_reference(win, np.sort(ref)) == pytest.approx(
        stats.ks_2samp(win, ref).statistic, abs=1e-12
    )


def test_window_keeps_the_inter_arrival_distribution_thinning_does_not() -> None:
    """Bursty renewal traffic (gamma gaps, shape 0.4): 5000 requests cut to 500."""
    rng = np.random.default_rng(20261128)
    full = _recording(rng.gamma(0.4, 2500.0, 4999))
    cut, info = sample_window(full, 500)
    assert len(cut.requests) == 500 and cut.requests[0].t_us == 0
    g_full, g_cut = _gaps(full), _gaps(cut)
    p_window = stats.ks_2samp(g_cut, g_full).pvalue
    assert p_window > 0.2, p_window
    # the same requests, in order, with the same payloads
    assert cut.requests[1].inputs["INPUT0"][0, 0] == info.start + 1
    assert info.rate_window == pytest.approx(info.rate_full, rel=0.15)
    # thinning to the same count (keep each request with p = 0.1) changes the gaps
    keep = np.sort(rng.choice(len(full.requests), 500, replace=False))
    thinned = np.diff([full.requests[i].t_us for i in keep]).astype(float)
    assert stats.ks_2samp(thinned, g_full).pvalue < 1e-6


def test_window_avoids_an_unrepresentative_stretch() -> None:
    """A recording whose first 10% is a quiet spell: the first-N cut would be wrong."""
    rng = np.random.default_rng(7)
    gaps = np.concatenate([rng.exponential(20000, 500), rng.exponential(2000, 4499)])
    full = _recording(gaps)
    cut, info = sample_window(full, 500)
    first, _ = sample_window(full, 500, start=0)
    assert info.start > 0
    assert info.rate_window == pytest.approx(info.rate_full, rel=0.15)
    assert stats.ks_2samp(_gaps(cut), _gaps(full)).pvalue > 0.01
    assert stats.ks_2samp(_gaps(first), _gaps(full)).pvalue < 1e-6


def test_sample_errors_and_cli(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    full = _recording(rng.exponential(1000, 999))
    with pytest.raises(InputError, match="only 1000"):
        sample_window(full, 2000)
    with pytest.raises(InputError, match="--start"):
        sample_window(full, 100, start=950)
    src, dest = tmp_path / "full.jsonl.gz", tmp_path / "cut.jsonl"
    write_traffic(src, full)
    res = run_gate("traffic", "sample", str(src), str(dest), "--requests", "200", timeout=60)
    assert res.returncode == 0, res.output
    assert "KS distance" in res.stdout
    cut = read_traffic(dest)
    assert len(cut.requests) == 200 and cut.timed
    res = run_gate("traffic", "sample", str(src), str(dest), "-n", "5000", timeout=60)
    assert res.returncode == 2 and "only 1000" in res.stderr
