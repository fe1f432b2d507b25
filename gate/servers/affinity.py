"""CPU affinity: tritonserver and perf_analyzer on disjoint cores, where there are enough.

On a shared runner the client that sends the requests and the server that answers them
compete for the same cores, and the scheduler moves them between cores as it likes: one
more source of per-request noise. ``measure.cpu_affinity`` splits the cores this process may
use (``os.sched_getaffinity``) into two disjoint sets: perf_analyzer gets the first quarter
(at least one core), tritonserver and everything it starts (the python backend's stubs) the
rest. ``on`` splits whenever there are two cores or more; ``auto`` only from
``AUTO_MIN_CORES``: on a 2-core machine the server's half is a single core for its HTTP
threads, its scheduler and every model's stub, and the A/A benchmark
(``benchmarks/ab_noise.py``) measured a larger spread there, not a smaller one.

Throughput at saturation is the exception on small machines: with tritonserver, its stubs
and perf_analyzer free to move over 2 cores, each perf_analyzer process settles into its own
level of inferences/s (measured A/A, the demo model at c=4, window pairs of one server: the
spread of a pair's log ratio 0.09–0.14 per pair-mean of 6 unpinned against 0.02–0.04 with
the split), so below ``AUTO_MIN_CORES`` ``auto`` splits the cores only while a throughput
level is measured (``throughput_plan`` and ``pinned_tree``, which moves every thread of the
running server and its stubs and puts them back after), and the latency replays run as
before.

A child inherits the CPU mask of the thread that starts it, so ``inherited_affinity`` pins
the calling thread for the moment of the start and restores it: no ``preexec_fn`` (unsafe
with threads), no ``taskset`` binary, and every thread and process the child starts later
inherits the same mask.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

#: ``auto`` pins only with at least this many usable cores (see the module docstring).
AUTO_MIN_CORES = 4

AffinityMode = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class CpuPlan:
    """Which cores tritonserver and perf_analyzer run on (both empty: not pinned)."""

    server: tuple[int, ...] = ()
    client: tuple[int, ...] = ()
    note: str = ""

    @property
    def pinned(self) -> bool:
        return bool(self.server and self.client)

    def describe(self) -> str:
        """``"tritonserver 1; perf_analyzer 0"``, or ``"off"`` (with the reason, if any)."""
        if not self.pinned:
            return "off" + (f" ({self.note})" if self.note else "")
        return f"tritonserver {format_cpus(self.server)}; perf_analyzer {format_cpus(self.client)}"


def format_cpus(cores: Iterable[int]) -> str:
    """``[0, 1, 2, 5]`` as ``"0-2,5"`` (the notation of ``taskset -c`` and docker's cpuset)."""
    out: list[str] = []
    run: list[int] = []
    for c in sorted(set(cores)):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def usable_cpus() -> tuple[int, ...]:
    """The cores this process may run on (all of them where the OS cannot say)."""
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return tuple(range(os.cpu_count() or 1))


def plan_cpus(mode: AffinityMode, available: Sequence[int] | None = None) -> CpuPlan:
    """The split ``mode`` asks for on ``available`` cores (default: this process's)."""
    cores = tuple(sorted(set(usable_cpus() if available is None else available)))
    if mode == "off":
        return CpuPlan()
    need = AUTO_MIN_CORES if mode == "auto" else 2
    if len(cores) < need:
        return CpuPlan(note=f"{len(cores)} usable core(s); {mode} pins from {need}")
    n_client = max(1, len(cores) // 4)
    return CpuPlan(server=cores[n_client:], client=cores[:n_client])


def throughput_plan(mode: AffinityMode, available: Sequence[int] | None = None) -> CpuPlan:
    """The split for throughput windows: ``off`` never, else whenever there are 2 cores."""
    return CpuPlan() if mode == "off" else plan_cpus("on", available)


@contextlib.contextmanager
def pinned_tree(pid: int | None, cores: Sequence[int]) -> Iterator[None]:
    """Every thread of process ``pid`` and of its descendants on ``cores`` for the body, then
    every thread of them (those started meanwhile too) back on the process's mask from
    before. A process or thread that ends meanwhile is skipped; no-op without a pid."""
    if pid is None or not cores:
        yield
        return
    try:
        before = os.sched_getaffinity(pid)
    except OSError:  # the server is gone: whatever measures next reports it
        yield
        return
    _pin_tree(pid, cores)
    try:
        yield
    finally:
        _pin_tree(pid, tuple(before))


def _pin_tree(pid: int, cores: Sequence[int]) -> None:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for proc in procs:
        try:
            tids = [t.id for t in proc.threads()]
        except psutil.Error:
            continue
        for tid in tids:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cores)


@contextlib.contextmanager
def inherited_affinity(cores: Sequence[int]) -> Iterator[None]:
    """Pin the calling thread to ``cores`` while the body starts a child process (which
    inherits the mask); restore the thread's own mask after. No-op for empty ``cores``."""
    if not cores:
        yield
        return
    before = os.sched_getaffinity(0)  # pid 0: the calling thread (Linux)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
