"""Triton's per-model statistics as per-block deltas, read from a real tritonserver.

The delta of one block must count exactly the requests sent in it (no more: the block
before is not double-counted; no fewer: counters are read after the last response), and its
phases must add up: queue + compute time fits inside the whole requests' time. Parsing of
both clients' shapes is in ``gate.measure.server_stats``; this checks it on a live server.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import private_repo

from gate.measure.server_stats import watch

pytestmark = pytest.mark.server


def test_block_deltas_count_the_requests_sent(tmp_path: Path) -> None:
    import tritonclient.http as th

    from gate.servers.local import LocalServer
    from gate.tools import find_tritonserver

    with LocalServer(find_tritonserver(), private_repo(tmp_path), tmp_path / "server.log") as srv:
        srv.load_model("demo")
        client = th.InferenceServerClient(srv.http_url.removeprefix("http://"))
        x = th.InferInput("INPUT0", [1, 16], "FP32")
        x.set_data_from_numpy(np.ones((1, 16), np.float32))
        deltas = []
        for n in (7, 13):
            with watch(lambda: srv.model_statistics("demo", ""), "demo") as w:
                for _ in range(n):
                    client.infer("demo", [x])
            deltas.append(w.stats)
    for n, stats in zip((7, 13), deltas, strict=True):
        assert stats is not None
        assert stats.inferences == n and stats.executions == n
        assert stats.phases["success"].count == n and stats.phases["compute_infer"].count == n
        inside = sum(stats.phases[p].ns for p in ("queue", "compute_input", "compute_infer"))
        assert 0 < inside <= stats.phases["success"].ns
        assert stats.phases["fail"].count == 0
