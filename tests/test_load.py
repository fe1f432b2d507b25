"""Load modes (``load:`` in gate.yaml), the new policy sections, and percentile names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gate.config.config import LoadConfig, load_config
from gate.config.policy import Policy, load_policy
from gate.errors import ConfigError
from gate.inputs.load import apply_load, replay_concurrency
from gate.inputs.traffic import Request, TensorSpec, Traffic

BASE = """\
version: 1
model: {name: demo, repository: models}
traffic: {path: t.jsonl}
"""


def traffic(n: int = 5, timed: bool = True) -> Traffic:
    reqs = tuple(
        Request(i * 1000 if timed else None, {"X": np.full((1, 2), i, dtype=np.float32)})
        for i in range(n)
    )
    return Traffic("demo", (TensorSpec("X", "FP32", (2,)),), reqs)


def cfg_error(tmp_path: Path, load: str) -> str:
    p = tmp_path / "gate.yaml"
    p.write_text(BASE + load)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert info.value.exit_code == 2 and "\n" not in info.value.message
    assert str(p) in info.value.message
    return info.value.message


@pytest.mark.parametrize(
    ("load", "words"),
    [
        ("load: {mode: rate, rate_rps: 100}", "needs duration_s"),
        ("load: {mode: rate, duration_s: 3}", "needs rate_rps"),
        ("load: {rate_rps: 100, duration_s: 3}", "'recorded' does not use duration_s, rate_rps"),
        ("load: {mode: concurrency}", "needs concurrency"),
        ("load: {mode: concurrency, concurrency: 4, rate_rps: 5}", "does not use rate_rps"),
        ("load: {mode: rate, rate_rps: 100, duration_s: 3, concurrency: 2}", "concurrency"),
        ("load: {mode: rate, rate_rps: 100, duration_s: 3, seed: 1}", "arrival: poisson"),
        ("load: {mode: rate, rate_rps: 0.1, duration_s: 1}", "0 requests"),
        ("load: {mode: burst}", "load.mode"),
        ("load: {mode: rate, rate_rps: -1, duration_s: 3}", "load.rate_rps"),
        ("load: {mode: concurrency, concurrency: 0}", "load.concurrency"),
        ("load: {mode: rate, rate: 100, duration_s: 3}", "unknown key 'load.rate'"),
    ],
)
def test_load_config_is_validated_strictly(tmp_path: Path, load: str, words: str) -> None:
    assert words in cfg_error(tmp_path, load)


def test_load_config_defaults_and_labels(tmp_path: Path) -> None:
    p = tmp_path / "gate.yaml"
    p.write_text(BASE)
    assert load_config(p).load.describe() == "recorded"
    p.write_text(BASE + "load: {mode: rate, rate_rps: 100, duration_s: 30}")
    assert load_config(p).load.describe() == "rate:100rps:30s:constant"
    p.write_text(BASE + "load: {mode: rate, rate_rps: 50, duration_s: 2, arrival: poisson}")
    assert load_config(p).load.describe() == "rate:50rps:2s:poisson:seed=0"
    p.write_text(BASE + "load: {mode: concurrency, concurrency: 8}")
    assert load_config(p).load.describe() == "concurrency:8:recorded"


def test_recorded_mode_keeps_the_traffic() -> None:
    t = traffic()
    assert apply_load(t, LoadConfig()) is t
    assert replay_concurrency(LoadConfig()) == 1


def test_rate_mode_schedules_cycled_payloads_at_the_rate() -> None:
    t = traffic(5)
    out = apply_load(t, LoadConfig(mode="rate", rate_rps=100, duration_s=0.12))
    assert len(out.requests) == 12
    assert [r.t_us for r in out.requests] == [i * 10_000 for i in range(12)]
    assert [float(r.inputs["X"][0, 0]) for r in out.requests] == [i % 5 for i in range(12)]
    assert out.timed and out.duration_s == pytest.approx(0.11)
    assert out.digest() != t.digest()  # another schedule is other traffic


def test_poisson_arrivals_are_seeded_and_have_the_rate() -> None:
    cfg = LoadConfig(mode="rate", rate_rps=200, duration_s=20, arrival="poisson", seed=3)
    a, b = apply_load(traffic(), cfg), apply_load(traffic(), cfg)
    assert [r.t_us for r in a.requests] == [r.t_us for r in b.requests]
    assert len(a.requests) == 4000
    assert a.duration_s == pytest.approx(20, rel=0.05)
    other = apply_load(traffic(), cfg.model_copy(update={"seed": 4}))
    assert [r.t_us for r in other.requests] != [r.t_us for r in a.requests]


def test_concurrency_mode_is_untimed_with_the_requested_count() -> None:
    cfg = LoadConfig(mode="concurrency", concurrency=4, requests=7)
    out = apply_load(traffic(3), cfg)
    assert not out.timed and len(out.requests) == 7
    assert replay_concurrency(cfg) == 4
    assert len(apply_load(traffic(3), LoadConfig(mode="concurrency", concurrency=2)).requests) == 3


# --------------------------------------------------------------------------------------
# Policy sections owned here: memory, throughput; percentiles by name
# --------------------------------------------------------------------------------------


def policy_error(tmp_path: Path, text: str) -> str:
    p = tmp_path / "policy.yaml"
    p.write_text("version: 1\n" + text)
    with pytest.raises(ConfigError) as info:
        load_policy(p)
    assert info.value.exit_code == 2 and "\n" not in info.value.message
    return info.value.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("memory: {sources: [host, tpu]}", "memory.sources[1]"),
        ("memory: {sources: [host, host]}", "each source may appear once"),
        ("memory: {tolerance: -0.1}", "memory.tolerance"),
        ("memory: {interval_ms: 1}", "memory.interval_ms"),
        ("memory: {slack: 3}", "unknown key 'memory.slack'"),
        ("throughput: {concurrency: []}", "throughput.concurrency is empty"),
        ("throughput: {concurrency: [0, 4]}", "between 1 and 1024"),
        ("throughput: {concurrency: [4, 4]}", "may appear once"),
        ("throughput: {tolerance: 1.5}", "throughput.tolerance"),
        ("throughput: {windows: 1}", "throughput.windows"),
        ("latency: {tails: [{percentile: p100}]}", "latency.tails[0].percentile"),
        ("latency: {tails: [{percentile: pxx}]}", "latency.tails[0].percentile"),
    ],
)
def test_policy_sections_are_validated_strictly(tmp_path: Path, text: str, words: str) -> None:
    assert words in policy_error(tmp_path, text)


def test_policy_defaults_and_percentile_names(tmp_path: Path) -> None:
    p = Policy()
    assert p.memory.enabled and p.memory.sources == ("host", "gpu")
    assert p.memory.tolerance == 0.10 and p.memory.slack_mib == 32
    assert p.throughput.enabled and p.throughput.concurrency == (1, 4)
    f = tmp_path / "policy.yaml"
    f.write_text(
        "version: 1\nlatency:\n  tails:\n    - {percentile: p50, tolerance: 0.05}\n"
        "    - {percentile: P90}\n    - {percentile: 99}\n    - {percentile: p99.9}\n"
        "throughput: {concurrency: [8, 1], enabled: true}\n"
        "memory: {enabled: false}\n"
    )
    pol = load_policy(f)
    assert [t.percentile for t in pol.latency.tails] == [50, 90, 99, 99.9]
    assert pol.throughput.concurrency == (1, 8)
    assert load_policy(f) == pol


def test_judge_names_every_listed_percentile() -> None:
    from gate.judge.latency import judge_latency

    rng = np.random.default_rng(0)
    pol = Policy.model_validate(
        {"latency": {"tails": [{"percentile": "p50"}, {"percentile": "p90"}, {"percentile": 99}]}}
    )
    base = [rng.lognormal(6, 0.3, 200).tolist() for _ in range(3)]
    cand = [rng.lognormal(6, 0.3, 200).tolist()]
    checks, _, _ = judge_latency(pol, base, cand)
    assert [c.name for c in checks] == [
        "latency shift",
        "latency p50",
        "latency p90",
        "latency p99",
    ]
    assert all(c.p_adjusted is not None and c.ci_low is not None for c in checks)


def test_shipped_policies_parse() -> None:
    root = Path(__file__).resolve().parents[1] / "policies"
    pols = {p.name: load_policy(p) for p in sorted(root.glob("*.yaml"))}
    assert not pols["latency-only.yaml"].memory.enabled
    assert not pols["latency-only.yaml"].throughput.enabled
    assert "default.yaml" not in pols  # the default is built in: gate/data/policy.yaml
