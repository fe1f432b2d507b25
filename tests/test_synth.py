"""``gate traffic synth`` and the model interface it starts from.

The arrival processes are checked statistically (scipy's KS test against the exponential
distribution the Poisson process must have; burst sizes and mean rates exactly), payloads
against their sources (eval set samples and perf_analyzer entries in order, random values in
their ranges), and the written file against the model's served-metadata check that a replay
runs first. That synthetic traffic replays on a real server is shown end to end by
``tests/test_wheel.py`` (init → synth → baseline record → check).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, run_gate
from scipy import stats

from gate.errors import ConfigError
from gate.inputs.evalset import read_eval_set
from gate.inputs.model_config import (
    find_model_dir,
    read_model_config,
    spec_from_metadata,
)
from gate.inputs.synth import SynthSpec, arrival_times_us, synthesize
from gate.inputs.traffic import read_traffic, validate_against_model

V1 = FIXTURES / "models" / "v1"


def _model_dir(tmp: Path, config: str, name: str = "m") -> Path:
    d = tmp / name
    (d / "1").mkdir(parents=True)
    (d / "config.pbtxt").write_text(config)
    return d


def test_config_pbtxt_is_read_with_protobuf() -> None:
    spec = read_model_config(find_model_dir(V1))
    assert (spec.name, spec.max_batch_size, spec.backend) == ("demo", 8, "python")
    assert [(t.name, t.datatype, t.shape) for t in spec.inputs] == [("INPUT0", "FP32", (16,))]
    assert [(t.name, t.shape) for t in spec.outputs] == [("PROBS", (4,))]


def test_bad_configs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config.pbtxt: not a Triton model config"):
        read_model_config(_model_dir(tmp_path, "name: 'm'\ninput [ { name: "))
    with pytest.raises(ConfigError, match=r"field 'input': no inputs declared"):
        read_model_config(_model_dir(tmp_path, 'name: "m"\nbackend: "python"', "n"))
    with pytest.raises(ConfigError, match="no model folder"):
        find_model_dir(tmp_path / "n" / "1")
    _model_dir(tmp_path, 'name: "o"', "o")
    with pytest.raises(ConfigError, match=r"several models \(m, n, o\)"):
        find_model_dir(tmp_path)


def test_served_metadata_drops_the_batch_dimension() -> None:
    meta = {
        "name": "m",
        "inputs": [{"name": "X", "datatype": "INT64", "shape": [-1, 128]}],
        "outputs": [{"name": "Y", "datatype": "FP32", "shape": [-1, 2]}],
    }
    spec = spec_from_metadata(meta, {"max_batch_size": 4, "backend": "onnxruntime"})
    assert spec.inputs[0].shape == (128,) and spec.outputs[0].shape == (2,)
    unbatched = spec_from_metadata(meta, {"max_batch_size": 0})
    assert unbatched.inputs[0].shape == (-1, 128)


def test_poisson_gaps_are_exponential_at_the_rate() -> None:
    spec = SynthSpec(requests=5000, rate_rps=250.0, arrival="poisson", seed=7)
    t = np.asarray(arrival_times_us(spec, np.random.default_rng(7)), dtype=float)
    gaps = np.diff(t) / 1e6
    assert t[0] == 0 and np.all(gaps >= 0)
    assert stats.kstest(gaps, "expon", args=(0, 1 / 250.0)).pvalue > 0.01
    assert abs(len(gaps) / (t[-1] / 1e6) - 250.0) < 250.0 * 0.05
    # a wrong rate is rejected by the same test, so the test can fail
    assert stats.kstest(gaps, "expon", args=(0, 1 / 200.0)).pvalue < 1e-6


def test_bursts_arrive_together_at_the_mean_rate() -> None:
    spec = SynthSpec(requests=4000, rate_rps=400.0, arrival="burst", burst_size=8, seed=3)
    t = np.asarray(arrival_times_us(spec, np.random.default_rng(3)))
    groups = t.reshape(-1, 8)
    assert np.all(groups == groups[:, :1])  # each burst at one instant
    starts = np.diff(groups[:, 0]) / 1e6
    assert stats.kstest(starts, "expon", args=(0, 8 / 400.0)).pvalue > 0.01
    constant = arrival_times_us(
        SynthSpec(requests=5, rate_rps=1000.0, arrival="constant"), np.random.default_rng()
    )
    assert constant == [0, 1000, 2000, 3000, 4000]


def test_random_payloads_fit_the_model_and_their_ranges(tmp_path: Path) -> None:
    model = read_model_config(find_model_dir(V1))
    spec = SynthSpec(requests=200, ranges={"INPUT0": (-2.0, -1.0)}, batch=3, seed=1)
    traffic = synthesize(model, spec)
    x = np.stack([r.inputs["INPUT0"] for r in traffic.requests])
    assert x.shape == (200, 3, 16) and x.dtype == np.float32
    assert x.min() >= -2.0 and x.max() < -1.0
    assert traffic.source.startswith("SYNTHETIC") and "gate traffic import" in traffic.source
    assert synthesize(model, spec).digest() == traffic.digest()  # seeded
    assert synthesize(model, SynthSpec(requests=200, seed=2)).digest() != traffic.digest()
    meta = {"name": "demo", "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 16]}]}
    assert validate_against_model(traffic, meta, 8, "synth") == []
    with pytest.raises(ConfigError, match="max_batch_size 8"):
        synthesize(model, SynthSpec(batch=9))


def test_integer_bytes_and_variable_dims(tmp_path: Path) -> None:
    d = _model_dir(
        tmp_path,
        'name: "tok"\nmax_batch_size: 0\n'
        'input [ { name: "IDS", data_type: TYPE_INT64, dims: [ 1, -1 ] },'
        ' { name: "TEXT", data_type: TYPE_STRING, dims: [ 1 ] } ]\n',
    )
    model = read_model_config(d)
    with pytest.raises(ConfigError, match=r"input 'IDS' has a variable dimension") as err:
        synthesize(model, SynthSpec(requests=5))
    assert err.value.hint == "give its size: --shape IDS=1,16"
    spec = SynthSpec(requests=50, shapes={"IDS": (1, 32)}, ranges={"IDS": (5, 9)})
    traffic = synthesize(model, spec)
    ids = np.stack([r.inputs["IDS"] for r in traffic.requests])
    assert ids.shape == (50, 1, 32) and ids.dtype == np.int64
    assert set(np.unique(ids)) == {5, 6, 7, 8, 9}
    assert all(
        isinstance(b, bytes) and len(b) == 8
        for r in traffic.requests
        for b in r.inputs["TEXT"].ravel()
    )


def test_payloads_from_an_eval_set_in_order() -> None:
    model = read_model_config(find_model_dir(V1))
    path = FIXTURES / "eval" / "demo.jsonl.gz"
    ev = read_eval_set(path)
    traffic = synthesize(model, SynthSpec(requests=ev.size + 3), eval_set=path)
    got = [r.inputs["INPUT0"][0] for r in traffic.requests]
    assert np.array_equal(got[7], ev.arrays["INPUT0"][7])
    assert np.array_equal(got[ev.size + 2], ev.arrays["INPUT0"][2])  # cycled
    assert "eval set demo.jsonl.gz" in traffic.source


def test_payloads_from_a_perf_analyzer_json(tmp_path: Path) -> None:
    model = read_model_config(find_model_dir(V1))
    doc = {"data": [{"INPUT0": {"content": [float(i)] * 16, "shape": [16]}} for i in range(4)]}
    path = tmp_path / "input.json"
    path.write_text(json.dumps(doc))
    traffic = synthesize(model, SynthSpec(requests=6, arrival="constant"), perf_json=path)
    firsts = [float(r.inputs["INPUT0"][0, 0]) for r in traffic.requests]
    assert firsts == [0.0, 1.0, 2.0, 3.0, 0.0, 1.0]
    with pytest.raises(ConfigError, match="not both"):
        synthesize(model, SynthSpec(), perf_json=path, eval_set=path)


def test_cli_writes_from_the_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(
        f"version: 1\nmodel: {{name: demo, repository: {V1}}}\n"
        "traffic: {path: traffic/demo.jsonl.gz}\n"
    )
    args = ("traffic", "synth", "-n", "120", "--rate", "300", "--arrival", "burst")
    done = run_gate(*args, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    t = read_traffic(tmp_path / "traffic" / "demo.jsonl.gz")
    assert len(t.requests) == 120 and t.model == "demo"
    again = run_gate(*args, cwd=tmp_path, timeout=60)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    bad = run_gate(*args, "--range", "INPUT0=3", "--force", cwd=tmp_path, timeout=60)
    assert bad.returncode == 2 and "--range 'INPUT0=3'" in bad.stderr
