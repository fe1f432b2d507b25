"""``measure.cpu_affinity``: the core split and the masks real child processes inherit.

The masks are read back from the running children with psutil (not from gate's own
bookkeeping), so a split that never reaches the processes fails here. Skipped where this
process may use fewer than two cores (nothing to split).
"""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest
import yaml

from gate.config.config import MeasureConfig
from gate.servers.affinity import format_cpus, inherited_affinity, plan_cpus


def test_plan_splits_disjointly_and_auto_waits_for_four_cores() -> None:
    on2 = plan_cpus("on", [0, 1])
    assert (on2.client, on2.server) == ((0,), (1,))
    on8 = plan_cpus("on", range(8))
    assert on8.client == (0, 1) and on8.server == tuple(range(2, 8))
    assert not plan_cpus("auto", [0, 1]).pinned and plan_cpus("auto", range(4)).pinned
    assert not plan_cpus("off", range(8)).pinned and not plan_cpus("on", [3]).pinned
    assert on8.describe() == "tritonserver 2-7; perf_analyzer 0-1"
    assert format_cpus([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


def test_yaml_on_off_are_the_words_written() -> None:
    """YAML 1.1 reads a bare on/off as booleans; the option takes them as written."""
    for word in ("on", "off", "auto"):
        assert MeasureConfig(**yaml.safe_load(f"cpu_affinity: {word}")).cpu_affinity == word


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable cores")
def test_children_inherit_disjoint_masks_and_the_parent_keeps_its_own() -> None:
    plan = plan_cpus("on")
    before = os.sched_getaffinity(0)
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    procs = []
    try:
        for cores in (plan.server, plan.client):
            with inherited_affinity(cores):
                procs.append(subprocess.Popen(sleeper))
        server, client = (set(psutil.Process(p.pid).cpu_affinity()) for p in procs)
        assert server == set(plan.server) and client == set(plan.client)
        assert server and client and not server & client
        assert os.sched_getaffinity(0) == before
    finally:
        for p in procs:
            p.kill()
            p.wait()
