"""``gate traffic import`` from real Triton trace files: the real tritonserver traces requests
sent by tritonclient (HTTP binary, HTTP JSON, gRPC), the gate imports the trace, and the
imported traffic replays with the real perf_analyzer (``gate replay``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, private_repo, run_gate, write_config

from gate.inputs.traffic import Traffic, read_traffic, write_traffic

pytestmark = pytest.mark.server


def _trace(tmp: Path, *, tensors: bool, n: int) -> tuple[Path, list[np.ndarray], list[float]]:
    """Serve the demo model with tracing on, send ``n`` requests, stop; the trace file."""
    import tritonclient.grpc as tg
    import tritonclient.http as th

    from gate.servers.local import LocalServer
    from gate.tools import find_tritonserver

    trace = tmp / ("trace-tensors.json" if tensors else "trace-ts.json")
    args = ["--trace-config", "mode=triton", "--trace-config", f"triton,file={trace}"]
    args += ["--trace-config", "level=TIMESTAMPS", "--trace-config", "rate=1"]
    if tensors:
        args += ["--trace-config", "level=TENSORS"]
    rng = np.random.default_rng(5)
    sent: list[np.ndarray] = []
    sent_at: list[float] = []
    with LocalServer(
        find_tritonserver(),
        private_repo(tmp),
        tmp / "trace-server.log",
        extra_args=tuple(args),
    ) as server:
        server.load_model("demo")
        http = th.InferenceServerClient(server.http_url.removeprefix("http://"))
        grpc = tg.InferenceServerClient(server.grpc_url.removeprefix("grpc://"))
        try:
            for i in range(n):
                batch = 2 if i % 17 == 5 else 1
                x = rng.standard_normal((batch, 16)).astype(np.float32)
                sent.append(x)
                sent_at.append(time.monotonic())
                if i % 10 == 9:  # every tenth over gRPC
                    gi = tg.InferInput("INPUT0", list(x.shape), "FP32")
                    gi.set_data_from_numpy(x)
                    grpc.infer("demo", [gi])
                else:
                    hi = th.InferInput("INPUT0", list(x.shape), "FP32")
                    hi.set_data_from_numpy(x, binary_data=i % 2 == 0)
                    http.infer("demo", [hi])
                time.sleep(0.15 if i == 20 else float(rng.exponential(0.004)))
        finally:
            http.close()
            grpc.close()
    assert trace.is_file(), "tritonserver wrote no trace file"
    return trace, sent, sent_at


def test_import_tensor_trace_and_replay_it(tmp_path: Path) -> None:
    trace, sent, sent_at = _trace(tmp_path, tensors=True, n=70)
    dest = tmp_path / "imported.jsonl.gz"
    res = run_gate("traffic", "import", str(trace), str(dest), timeout=60)
    assert res.returncode == 0, res.output
    assert "wrote 70 requests of 'demo'" in res.stdout
    t = read_traffic(dest)
    assert [(s.name, s.datatype, s.shape) for s in t.inputs] == [("INPUT0", "FP32", (16,))]
    assert len(t.requests) == 70 and t.timed
    for x, r in zip(sent, t.requests, strict=True):  # same order, values to ~6 digits
        got = r.inputs["INPUT0"]
        assert got.shape == x.shape
        np.testing.assert_allclose(got, x, rtol=2e-5, atol=1e-6)
    # arrival gaps follow the client's send times (the 150 ms pause after request 20)
    t_us = np.array([r.t_us for r in t.requests], dtype=float)
    sent_gaps = np.diff(sent_at) * 1e6
    assert np.argmax(np.diff(t_us)) == 20
    assert abs(np.diff(t_us)[20] - sent_gaps[20]) < 20_000
    assert "significant digits" in t.source

    # the imported traffic replays with the real perf_analyzer; logs follow --report-dir.
    # (replay sends batch-1 requests only, so the few batch-2 ones are left out here)
    single = Traffic(
        t.model, t.inputs, tuple(r for r in t.requests if r.inputs["INPUT0"].shape[0] == 1)
    )
    write_traffic(tmp_path / "single.jsonl.gz", single)
    cfg = write_config(
        tmp_path / "gate.yaml",
        store=tmp_path / "s",
        reports=tmp_path / "cfg-reports",
        traffic=tmp_path / "single.jsonl.gz",
    )
    out = tmp_path / "flag-reports"
    res = run_gate("replay", str(cfg), "--runs", "1", "--report-dir", str(out), timeout=300)
    assert res.returncode == 0, res.output
    run = json.loads((out / "run.json").read_text())
    assert run["verdict"] == "MEASURED" and len(run["runs"][0]["latencies_us"]) == 66
    assert (out / "logs" / "server-replay-1.log").is_file()
    assert not (tmp_path / "cfg-reports").exists(), "logs must follow --report-dir"
    # CI-style progress: plain timestamped lines, no terminal control codes
    assert "[gate " in res.stderr and "replay #1" in res.stderr and "\x1b" not in res.stderr
    # a single-run replay cannot become a baseline (no drift estimate)
    res = run_gate(
        "baseline", "promote", str(out / "run.json"), "--force", "--store", str(tmp_path / "s")
    )
    assert res.returncode == 2 and "at least 2" in res.stderr


def test_import_timestamps_trace_with_payloads(tmp_path: Path) -> None:
    trace, _, _ = _trace(tmp_path, tensors=False, n=12)
    dest = tmp_path / "t.jsonl"
    res = run_gate("traffic", "import", str(trace), str(dest), timeout=60)
    assert res.returncode == 2
    assert "level=TENSORS" in res.stderr and "--payloads" in res.stderr
    payloads = FIXTURES / "traffic" / "demo-small.jsonl"
    res = run_gate(
        "traffic",
        "import",
        str(trace),
        str(dest),
        "--payloads",
        str(payloads),
        timeout=60,
    )
    assert res.returncode == 0, res.output
    t, p = read_traffic(dest), read_traffic(payloads)
    assert len(t.requests) == 12 and t.timed
    assert t.requests[3].inputs["INPUT0"].tobytes() == p.requests[3].inputs["INPUT0"].tobytes()
