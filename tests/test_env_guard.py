"""The environment fingerprint guard with the real server: a baseline measured elsewhere is
exit 2 naming the differences and both ways out; ``--allow-env-mismatch`` compares anyway
and the RunResult and reports say so; the matching baseline wins when both exist."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import alive, run_gate
from scenario import SHORT_AA_POLICY, gate_run

from gate.baselines.store import find_baselines, load_baseline, save_baseline

pytestmark = pytest.mark.server

H100 = {"gpu_model": "NVIDIA H100 80GB HBM3", "gpu_count": "1", "gpu_driver": "550.54.15"}


def _foreign_store(recorded: Path, dest: Path) -> None:
    """A store holding only the recorded baseline relabelled as measured on an H100."""
    (key,) = find_baselines(recorded, "demo")
    b = load_baseline(key)
    save_baseline(dest, b.model_copy(update={"environment": {**b.environment, **H100}}))


def test_env_mismatch_is_exit_2_unless_allowed(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    recorded, _ = recorded_baseline
    store = tmp_path / "store"
    _foreign_store(recorded, store)

    r = gate_run(tmp_path, store=store, policy=SHORT_AA_POLICY)
    assert r.returncode == 2, r.output
    assert "gpu_model: NVIDIA H100 80GB HBM3 → " in r.output
    assert "gpu_driver: 550.54.15 → " in r.output
    assert "gate baseline record" in r.output and "--allow-env-mismatch" in r.output
    assert not alive(r.children)

    r = r.again("--allow-env-mismatch")
    assert r.returncode == 0, r.output
    run = r.run
    assert any(c.startswith("gpu_model: NVIDIA H100") for c in run["baseline_env_mismatch"])
    assert any("--allow-env-mismatch" in w for w in run["warnings"])
    assert "--allow-env-mismatch" in (r.reports / "summary.md").read_text()

    # with this environment's baseline beside the foreign one, it is chosen, no flag needed
    for p in (recorded / "demo").glob("baseline-*.json.gz"):
        shutil.copy(p, store / "demo" / p.name)
    assert len(find_baselines(store, "demo")) == 2
    r = r.again()
    assert r.returncode == 0, r.output
    run = r.run
    assert run["baseline_env_mismatch"] == []
    assert run["baseline"]["path"].endswith(p.name)
    # the environment of the run carries the fingerprint keys the guard compares
    for key in (
        "triton_version",
        "perf_analyzer_version",
        "cpu_model",
        "gpu_model",
        "gpu_count",
        "cuda_version",
        "launcher",
        "protocol",
        "concurrency",
    ):
        assert key in run["environment"]


def test_promote_a_real_run_gives_the_same_baseline(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    """The RunResult of a real 'gate baseline record' carries everything a baseline needs:
    promoting it (--force: its verdict is MEASURED) reproduces the stored baseline's samples,
    digests and environment key, and it lands beside the recorded one in the same store."""
    recorded, cfg = recorded_baseline
    run_json = cfg.parent / "reports" / "baseline" / "run.json"
    assert (cfg.parent / "reports" / "baseline" / "logs" / "server-baseline-1.log").is_file()
    res = run_gate("baseline", "promote", str(run_json), "--store", str(tmp_path / "s"))
    assert res.returncode == 2 and "--force" in res.stderr
    res = run_gate("baseline", "promote", str(run_json), "--force", "--store", str(tmp_path / "s"))
    assert res.returncode == 0, res.output
    (orig_key,) = find_baselines(recorded, "demo")
    (new_key,) = find_baselines(tmp_path / "s", "demo")
    assert Path(orig_key).name == Path(new_key).name
    a, b = load_baseline(orig_key), load_baseline(new_key)
    assert [r.latencies_us for r in a.runs] == [r.latencies_us for r in b.runs]
    assert (a.model_digest, a.traffic_digest, a.environment) == (
        b.model_digest,
        b.traffic_digest,
        b.environment,
    )
    assert b.source == "promote"
