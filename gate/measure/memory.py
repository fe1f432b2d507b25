"""Memory attributable to the model: before/after an explicit load, and a series during replay.

Sources are small probes that each give one number in bytes (or ``None`` when they cannot
right now), so every launcher can supply what it can see:

* ``host`` — ``ProcessTreeRSS``: resident set size of the server process and all of its
  descendants (psutil). Python-backend models run in ``triton_python_backend_stub``
  children, so the tree, not the server process alone, is what a model costs.
* ``gpu`` — ``TritonGPUMetrics``: the sum of ``nv_gpu_memory_used_bytes`` over the GPUs on
  Triton's Prometheus endpoint. Absent without a GPU (the metric is not exported then).
  It is device-wide, so other processes on the same GPU show up in it; the before/after
  difference removes what was there before the load.

A launcher may offer ``memory_probes() -> list[MemoryProbe]`` (e.g. a container's cgroup
statistics); otherwise probes are built from its ``pid`` and ``metrics_url`` attributes.
Triton refreshes its metrics every ``--metrics-interval-ms`` (2000 ms by default): add
``server_args(policy)`` to the server's arguments so the series sees changes in time.

Sampling runs in a background thread at a fixed interval; the series is bounded: past
``max_samples`` every other sample is dropped and the interval doubles.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from gate.config.policy import MemoryPolicy
from gate.evidence import MemoryRun, MemorySeries

GPU_METRIC = "nv_gpu_memory_used_bytes"


@runtime_checkable
class MemoryProbe(Protocol):
    """One source of memory numbers. ``read`` must be cheap (called every interval) and
    must not raise for an expected absence: it returns ``None`` instead."""

    source: str
    detail: str

    def read(self) -> float | None: ...


class ProcessTreeRSS:
    """RSS of a process and all its descendants, in bytes (``None`` once it is gone)."""

    source = "host"

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.detail = f"RSS of process {pid} and its descendants (psutil)"
        self._root: Any = None

    def read(self) -> float | None:
        import psutil

        try:
            if self._root is None:
                self._root = psutil.Process(self.pid)
            procs = [self._root, *self._root.children(recursive=True)]
            total = int(self._root.memory_info().rss)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return None
        for p in procs[1:]:
            # a child may exit between listing and reading: it then costs nothing
            with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
                total += int(p.memory_info().rss)
        return float(total)


_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Samples of metric ``name`` in Prometheus text format: (labels, value) pairs."""
    out: list[tuple[dict[str, str], float]] = []
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = _SAMPLE.match(line)
        if m is None or m.group("name") != name:
            continue
        try:
            value = float(m.group("value"))
        except ValueError:
            continue
        labels = dict(_LABEL.findall(m.group("labels") or ""))
        out.append((labels, value))
    return out


class TritonGPUMetrics:
    """GPU memory used on all GPUs Triton sees, from its metrics endpoint, in bytes."""

    source = "gpu"

    def __init__(self, url: str, *, timeout_s: float = 2.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.detail = f"sum of {GPU_METRIC} over GPUs at {url}"
        self.last_problem = ""

    def read(self) -> float | None:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as resp:
                text = resp.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            self.last_problem = f"metrics endpoint {self.url} did not answer ({e})"
            return None
        samples = parse_prometheus(text, GPU_METRIC)
        if not samples:
            self.last_problem = f"the server exports no {GPU_METRIC} (no GPU visible to Triton)"
            return None
        return float(sum(v for _, v in samples))


def probes_for(server: object, sources: Sequence[str]) -> list[MemoryProbe]:
    """The probes a running server offers, limited to ``sources``.

    A launcher that knows better (a container's cgroup, a remote agent) defines
    ``memory_probes()``; otherwise a host ``pid`` gives the process-tree probe and a
    ``metrics_url`` the GPU probe. A remote server with neither gives none.
    """
    custom = getattr(server, "memory_probes", None)
    probes: list[MemoryProbe] = []
    if callable(custom):
        probes = list(custom())
    else:
        pid = getattr(server, "pid", None)
        if isinstance(pid, int) and pid > 0:
            probes.append(ProcessTreeRSS(pid))
        url = getattr(server, "metrics_url", None)
        if isinstance(url, str) and url:
            probes.append(TritonGPUMetrics(url))
    return [p for p in probes if p.source in sources]


def server_args(policy: MemoryPolicy) -> tuple[str, ...]:
    """tritonserver arguments the memory sampling needs (metrics refreshed every interval)."""
    if not policy.enabled:
        return ()
    return (f"--metrics-interval-ms={policy.interval_ms}",)


class MemorySampler:
    """Reads every probe every ``interval_s``, in the foreground (``snapshot``) or in a
    background thread (``recording``)."""

    def __init__(self, probes: Sequence[MemoryProbe], interval_s: float, max_samples: int) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.probes = list(probes)
        self.interval_s = interval_s
        self.max_samples = max(2, max_samples)
        self.problems: dict[str, str] = {}
        self._t: dict[str, list[float]] = {}
        self._v: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def _read_all(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in self.probes:
            try:
                v = p.read()
            except Exception as e:  # a broken probe must not stop the replay
                self.problems.setdefault(p.source, f"{type(e).__name__}: {e}")
                continue
            if v is None:
                why = getattr(p, "last_problem", "") or "no value"
                self.problems.setdefault(p.source, why)
                continue
            out[p.source] = out.get(p.source, 0.0) + v
        return out

    def snapshot(self, duration_s: float) -> dict[str, float]:
        """Median per source of the samples taken over ``duration_s`` (at least one)."""
        got: dict[str, list[float]] = {}
        deadline = time.monotonic() + duration_s
        while True:
            for k, v in self._read_all().items():
                got.setdefault(k, []).append(v)
            if time.monotonic() + self.interval_s > deadline:
                break
            time.sleep(self.interval_s)
        return {k: float(statistics.median(v)) for k, v in got.items()}

    def _append(self, values: dict[str, float]) -> None:
        t = time.monotonic() - self._t0
        for k, v in values.items():
            self._t.setdefault(k, []).append(t)
            self._v.setdefault(k, []).append(v)
        if any(len(vs) > self.max_samples for vs in self._v.values()):
            # bounded memory: keep every other sample and sample half as often from now on
            for k in self._v:
                self._t[k], self._v[k] = self._t[k][::2], self._v[k][::2]
            self.interval_s *= 2

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._append(self._read_all())

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Sample in the background while the block runs (one sample at each end too)."""
        self._t.clear()
        self._v.clear()
        self._stop.clear()
        self._t0 = time.monotonic()
        self._append(self._read_all())
        self._thread = threading.Thread(target=self._loop, name="gate-memory", daemon=True)
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join(timeout=10 + self.interval_s)
            self._thread = None
            self._append(self._read_all())

    def series(self) -> dict[str, tuple[list[float], list[float]]]:
        return {k: (list(self._t[k]), list(self._v[k])) for k in self._v}


class MemoryRecorder:
    """The memory part of one replay: before load, after load, during the replay.

    ``before_load()`` must run with the model not yet loaded (explicit model control), so the
    difference is what the model costs, not what the server costs.
    """

    def __init__(self, probes: Sequence[MemoryProbe], policy: MemoryPolicy, index: int) -> None:
        self.policy = policy
        self.index = index
        self.sampler = MemorySampler(probes, policy.interval_ms / 1000.0, policy.max_samples)
        self.details = {p.source: p.detail for p in probes}
        self.before: dict[str, float] = {}
        self.after: dict[str, float] = {}
        self.notes: list[str] = []
        if not probes:
            self.notes.append("the launcher offers no memory probe (no host pid, no metrics URL)")

    @classmethod
    def for_server(cls, server: object, policy: MemoryPolicy, index: int) -> MemoryRecorder:
        return cls(probes_for(server, policy.sources), policy, index)

    def before_load(self) -> None:
        self.before = self.sampler.snapshot(self.policy.settle_ms / 1000.0)

    def after_load(self) -> None:
        self.after = self.sampler.snapshot(self.policy.settle_ms / 1000.0)

    def during_replay(self) -> contextlib.AbstractContextManager[None]:
        return self.sampler.recording()

    def result(self) -> MemoryRun:
        series: dict[str, MemorySeries] = {}
        got = self.sampler.series()
        for src in self.policy.sources:
            if src in self.before and src in self.after and got.get(src, ([], []))[1]:
                t, v = got[src]
                series[src] = MemorySeries(
                    source=src,
                    detail=self.details.get(src, ""),
                    before_load=self.before[src],
                    after_load=self.after[src],
                    t_s=[round(x, 4) for x in t],
                    values=v,
                )
        notes = list(self.notes)
        for src in self.policy.sources:
            if src not in series:
                why = self.sampler.problems.get(src) or (
                    "not offered by this launcher" if src not in self.details else "no samples"
                )
                notes.append(f"{src}: {why}")
        return MemoryRun(
            index=self.index,
            interval_s=self.sampler.interval_s,
            series=series,
            notes=notes,
        )


class ArmProcessRSS:
    """RSS of the server's descendant processes that serve one model alone, in bytes.

    A python-backend model runs in its own ``triton_python_backend_stub`` process, started
    with the path of the model's ``model.py``: its resident memory is what that model costs
    the host, measured while both arms of a live A/B are loaded and serving. ``marker`` is
    a path fragment only that model's processes carry (its folder in the served repository).
    ``read`` is None when no such process exists (a backend that runs models inside the
    server process: the load steps are used instead).
    """

    source = "host"

    def __init__(self, pid: int, marker: str) -> None:
        self.pid = pid
        self.marker = marker
        self.detail = f"RSS of the server's processes whose command line names {marker}"

    def read(self) -> float | None:
        import psutil

        try:
            kids = psutil.Process(self.pid).children(recursive=True)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return None
        total, found = 0.0, False
        for p in kids:
            with contextlib.suppress(
                psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied
            ):
                if any(self.marker in part for part in p.cmdline()):
                    total += float(p.memory_info().rss)
                    found = True
        return total if found else None


class PairSampler:
    """Reads two probes (one per arm) together every ``interval_s`` in a background thread,
    keeping the pairs where both answered: paired samples of the arms' memory."""

    def __init__(self, a: MemoryProbe, b: MemoryProbe, interval_s: float) -> None:
        self.a, self.b = a, b
        self.interval_s = interval_s
        self.pairs: list[tuple[float, float]] = []
        self._stop = threading.Event()

    def read(self) -> None:
        va, vb = self.a.read(), self.b.read()
        if va is not None and vb is not None:
            self.pairs.append((va, vb))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.read()

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Sample while the block runs (once at each end too)."""
        self._stop.clear()
        self.read()
        thread = threading.Thread(target=self._loop, name="gate-memory-arms", daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join(timeout=10 + self.interval_s)
            self.read()
