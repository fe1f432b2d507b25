"""Memory probes and the background sampler, on real processes and a real HTTP endpoint.

The process-tree probe is measured on a real process whose child allocates 120 MiB, the
way a python-backend stub is a child of tritonserver. There is no GPU on these machines:
the GPU probe is tested against a loopback HTTP server serving Triton's GPU metric lines
in the format Triton documents (the real tritonserver here exports none; the end-to-end
tests check that the probe then reports "no GPU" instead of a number).
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from gate.config.policy import MemoryPolicy
from gate.measure.memory import (
    GPU_METRIC,
    MemoryRecorder,
    MemorySampler,
    ProcessTreeRSS,
    TritonGPUMetrics,
    parse_prometheus,
    probes_for,
    server_args,
)

MIB = 2**20

TRITON_GPU_METRICS = """\
# HELP nv_gpu_memory_total_bytes GPU total memory, in bytes
# TYPE nv_gpu_memory_total_bytes gauge
nv_gpu_memory_total_bytes{gpu_uuid="GPU-aaaa"} 150754820096
nv_gpu_memory_total_bytes{gpu_uuid="GPU-bbbb"} 150754820096
# HELP nv_gpu_memory_used_bytes GPU used memory, in bytes
# TYPE nv_gpu_memory_used_bytes gauge
nv_gpu_memory_used_bytes{gpu_uuid="GPU-aaaa"} 1.2345e+09
nv_gpu_memory_used_bytes{gpu_uuid="GPU-bbbb"} 524288000
nv_gpu_memory_used_bytes_other 7
nv_cpu_memory_used_bytes 584392704
"""

PARENT = textwrap.dedent(
    """
    import subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    print(child.stdout.readline().strip(), flush=True)  # "ready" once allocated
    sys.stdin.readline()
    child.stdin.close(); child.wait()
    """
)
CHILD = textwrap.dedent(
    """
    import sys
    block = bytearray(120 * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    print("ready", flush=True)
    sys.stdin.readline()
    """
)


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=30)


def test_process_tree_rss_counts_the_children(tree: subprocess.Popen[str]) -> None:
    import psutil

    assert tree.stdout is not None and tree.stdout.readline().strip() == "ready"
    probe = ProcessTreeRSS(tree.pid)
    total = probe.read()
    assert total is not None
    own = psutil.Process(tree.pid).memory_info().rss
    assert total - own >= 120 * MIB  # the child's block is in the tree's total
    assert probe.source == "host" and str(tree.pid) in probe.detail


def test_process_tree_rss_of_a_gone_process_is_none() -> None:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert ProcessTreeRSS(p.pid).read() is None


def test_parse_prometheus_reads_labelled_and_plain_samples() -> None:
    used = parse_prometheus(TRITON_GPU_METRICS, GPU_METRIC)
    assert used == [({"gpu_uuid": "GPU-aaaa"}, 1.2345e9), ({"gpu_uuid": "GPU-bbbb"}, 524288000.0)]
    assert parse_prometheus(TRITON_GPU_METRICS, "nv_cpu_memory_used_bytes") == [({}, 584392704.0)]
    assert parse_prometheus("", GPU_METRIC) == []


class _Metrics(http.server.BaseHTTPRequestHandler):
    body = TRITON_GPU_METRICS

    def do_GET(self) -> None:
        data = self.body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def metrics_url() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/metrics"
    finally:
        srv.shutdown()
        srv.server_close()


def test_gpu_probe_sums_the_gpus(metrics_url: str) -> None:
    probe = TritonGPUMetrics(metrics_url)
    assert probe.read() == pytest.approx(1.2345e9 + 524288000)


def test_gpu_probe_without_gpu_or_endpoint_says_why(metrics_url: str) -> None:
    _Metrics.body = "nv_cpu_memory_used_bytes 1\n"
    try:
        probe = TritonGPUMetrics(metrics_url)
        assert probe.read() is None and "no GPU" in probe.last_problem
    finally:
        _Metrics.body = TRITON_GPU_METRICS
    dead = TritonGPUMetrics("http://127.0.0.1:9/metrics", timeout_s=0.5)
    assert dead.read() is None and "did not answer" in dead.last_problem


class _Launcher:
    pid = 12345
    metrics_url = "http://127.0.0.1:1/metrics"


class _Counter:
    """A probe whose value is the number of reads: shows the sampling cadence."""

    source = "host"
    detail = "counter"

    def __init__(self) -> None:
        self.n = 0

    def read(self) -> float | None:
        self.n += 1
        return float(self.n)


class _Container:
    def memory_probes(self) -> list[_Counter]:
        return [_Counter()]


def test_probes_come_from_what_the_launcher_offers() -> None:
    probes = probes_for(_Launcher(), ("host", "gpu"))
    assert [type(p).__name__ for p in probes] == ["ProcessTreeRSS", "TritonGPUMetrics"]
    assert [p.source for p in probes_for(_Launcher(), ("gpu",))] == ["gpu"]
    assert [p.detail for p in probes_for(_Container(), ("host", "gpu"))] == ["counter"]
    assert probes_for(object(), ("host", "gpu")) == []


def test_sampler_records_in_the_background_and_stays_bounded() -> None:
    sampler = MemorySampler([_Counter()], interval_s=0.005, max_samples=20)
    with sampler.recording():
        time.sleep(0.4)
    t, v = sampler.series()["host"]
    assert 3 <= len(v) <= 21
    assert v == sorted(v) and t == sorted(t)
    assert sampler.interval_s > 0.005  # decimated: it samples less often now


def test_snapshot_is_the_median_over_the_settle_time() -> None:
    sampler = MemorySampler([_Counter()], interval_s=0.01, max_samples=100)
    got = sampler.snapshot(0.05)
    assert 1.0 <= got["host"] <= 6.0
    assert sampler.snapshot(0.0)["host"] > got["host"]  # at least one sample


def test_recorder_notes_a_missing_source(tree: subprocess.Popen[str], metrics_url: str) -> None:
    assert tree.stdout is not None and tree.stdout.readline().strip() == "ready"
    policy = MemoryPolicy(interval_ms=20, settle_ms=40)

    class Server:
        pid = tree.pid
        metrics_url = "http://127.0.0.1:9/metrics"

    rec = MemoryRecorder.for_server(Server(), policy, index=2)
    rec.before_load()
    rec.after_load()
    with rec.during_replay():
        time.sleep(0.1)
    run = rec.result()
    assert run.index == 2 and list(run.series) == ["host"]
    host = run.series["host"]
    assert host.values and host.before_load > 120 * MIB
    assert abs(host.loaded) < 20 * MIB  # nothing was loaded in between
    assert any(n.startswith("gpu:") and "did not answer" in n for n in run.notes)
    assert server_args(policy) == ("--metrics-interval-ms=20",)
    assert server_args(MemoryPolicy(enabled=False)) == ()


def test_html_report_and_history_read_the_memory_series() -> None:
    from gate.evidence import MemoryRun, MemorySeries
    from gate.report.history import history_entry
    from gate.report.html import memory_series, render_html
    from gate.result import RunResult

    res = RunResult(run_id="x", command="replay", gate_version="0", started_at="now")
    res.memory = [
        MemoryRun(
            index=0,
            interval_s=0.1,
            series={
                "host": MemorySeries(
                    source="host",
                    before_load=100 * MIB,
                    after_load=140 * MIB,
                    t_s=[0.0, 0.1, 0.2],
                    values=[140 * MIB, 150 * MIB, 145 * MIB],
                )
            },
        )
    ]
    assert memory_series(res) == {"candidate host": ([0.0, 0.1, 0.2], [40.0, 50.0, 45.0])}
    assert history_entry(res, env={})["memory"] == {"candidate_peak_mib": 50.0}
    assert "memory timeline" in render_html(res)
