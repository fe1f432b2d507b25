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


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable cores")
def test_pinned_tree_moves_every_thread_of_a_process_tree_and_puts_them_back() -> None:
    """A real parent with a thread and a child process: inside ``pinned_tree`` every thread
    of both is on the given core, after it every thread (one started inside included) is
    back on the parent's mask from before."""
    from gate.servers.affinity import pinned_tree, throughput_plan

    code = (
        "import subprocess, sys, threading, time\n"
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "sys.stdin.readline()\n"
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "print('started', flush=True)\n"
        "sys.stdin.readline(); c.kill()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    root = psutil.Process(proc.pid)
    before = set(os.sched_getaffinity(proc.pid))

    def masks() -> list[set[int]]:
        procs = [root, *root.children(recursive=True)]
        return [set(os.sched_getaffinity(t.id)) for p in procs for t in p.threads()]

    try:
        for _ in range(100):  # the child and the first thread are up
            if root.children() and root.num_threads() >= 2:
                break
            psutil.wait_procs([], timeout=0.05)
        core = throughput_plan("on").server[:1]
        with pinned_tree(proc.pid, core):
            assert all(m == set(core) for m in masks()) and len(masks()) >= 3
            proc.stdin.write("\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "started"
        assert all(m == before for m in masks()) and len(masks()) >= 4
        assert not throughput_plan("off").pinned and throughput_plan("auto", [0, 1]).pinned
    finally:
        for child in root.children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()
