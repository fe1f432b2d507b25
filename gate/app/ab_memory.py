"""Memory per arm in a live A/B session.

Two ways to tell the arms' memory apart while both are loaded in one server:

* **per process** (host): a python-backend model runs in its own stub process, started with
  its ``model.py`` path, so each arm's resident memory is read directly, sampled during the
  latency rounds (``gate.measure.memory.ArmProcessRSS``): many paired samples at no cost;
* **load steps** (host for a backend inside the server process, and GPU memory, which Triton
  reports for the whole device): both arms unloaded, then loaded one after the other, each
  step of the server's memory attributed to the arm just loaded; the order alternates
  between repetitions (A first, then B first), so an order effect cancels in the mean. A
  repetition costs two loads, so one is made per round only while a memory check is
  undecided.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from gate.app.session import ServerSession
from gate.evidence import ABInfo, ABMemorySample
from gate.measure.memory import (
    ArmProcessRSS,
    MemoryProbe,
    MemorySampler,
    PairSampler,
    ProcessTreeRSS,
    TritonGPUMetrics,
)


class ArmMemory:
    """The memory samples of both arms, and how they are taken on this server."""

    def __init__(
        self, session: ServerSession, models: dict[str, str], repo: Path, info: ABInfo
    ) -> None:
        self.session = session
        self.models = models
        self.repo = repo
        self.policy = session.prep.policy.memory
        self.samples: list[ABMemorySample] = []
        self.notes: list[str] = []
        self.pairs: PairSampler | None = None
        self.load_probes: list[MemoryProbe] = []
        self.cycles = 0
        self.round_index = 0
        del info  # the session's record: samples are returned, not written into it

    def start(self) -> list[str]:
        """Find what this server offers: per-arm processes for host memory, else load
        steps; GPU memory by load steps when the server reports any. Returns the sources
        that will be sampled."""
        if not self.policy.enabled:
            return []
        server = self.session.running
        pid = getattr(server, "pid", None)
        interval = self.policy.interval_ms / 1000.0
        if "host" in self.policy.sources:
            if isinstance(pid, int) and pid > 0:
                a, b = (ArmProcessRSS(pid, f"{self.repo / self.models[x]}/") for x in "AB")
                if a.read() is not None and b.read() is not None:
                    self.pairs = PairSampler(a, b, interval)
                else:
                    self.load_probes.append(ProcessTreeRSS(pid))
            else:
                self.notes.append("host: the launcher offers no server process to read")
        if "gpu" in self.policy.sources:
            url = getattr(server, "metrics_url", None)
            gpu = TritonGPUMetrics(url) if isinstance(url, str) and url else None
            if gpu is not None and gpu.read() is not None:
                self.load_probes.append(gpu)
            else:
                self.notes.append(f"gpu: {gpu.last_problem if gpu else 'no metrics endpoint'}")
        sampled = {"host": self.pairs is not None, "gpu": False}
        for probe in self.load_probes:
            sampled["gpu" if isinstance(probe, TritonGPUMetrics) else "host"] = True
        return [src for src in self.policy.sources if sampled.get(src)]

    @contextlib.contextmanager
    def during(self) -> Iterator[None]:
        """Sample both arms' processes while a round replays."""
        if self.pairs is None:
            yield
            return
        self.pairs.pairs.clear()
        with self.pairs.recording():
            yield
        self._keep_pairs()

    def _keep_pairs(self) -> None:
        assert self.pairs is not None
        for a, b in self.pairs.pairs:
            self.samples.append(
                ABMemorySample(source="host", kind="process", round=self.round_index, a=a, b=b)
            )

    def round(self, k: int) -> str:
        """What memory needs in round ``k`` besides the samples taken during the replay: a
        few reads when the replay was not sampled, a load-step repetition when a source has
        no per-arm processes."""
        self.round_index = k
        done = []
        if self.pairs is not None and not any(s.round == k for s in self.samples):
            self.pairs.pairs.clear()
            for _ in range(3):
                self.pairs.read()
            self._keep_pairs()
            done.append("per-arm process memory read")
        if self.load_probes:
            done.append(self._cycle(k))
        return ", ".join(done)

    def _cycle(self, k: int) -> str:
        """Unload both arms, load them one after the other; each step is that arm's."""
        server = self.session.running
        first = "A" if self.cycles % 2 == 0 else "B"
        second = "B" if first == "A" else "A"
        for arm in "AB":
            server.unload_model(self.models[arm])
        self.session.wait_unloaded(list(self.models.values()))
        settle = self.policy.settle_ms / 1000.0
        sampler = MemorySampler(self.load_probes, self.policy.interval_ms / 1000.0, 1000)
        before = sampler.snapshot(settle)
        server.load_model(self.models[first])
        mid = sampler.snapshot(settle)
        server.load_model(self.models[second])
        after = sampler.snapshot(settle)
        self.cycles += 1
        for src in before.keys() & mid.keys() & after.keys():
            step = {first: mid[src] - before[src], second: after[src] - mid[src]}
            self.samples.append(
                ABMemorySample(
                    source=src, kind="load", round=k, a=step["A"], b=step["B"], first=first
                )
            )
        return f"load steps ({first} first)"

    def units(self) -> dict[str, int]:
        """Samples per source of the kind the judge uses (per process when there are any)."""
        out: dict[str, int] = {}
        for src in self.policy.sources if self.policy.enabled else ():
            mine = [s for s in self.samples if s.source == src]
            if any(s.kind == "process" for s in mine):
                mine = [s for s in mine if s.kind == "process"]
            if mine:
                out[f"memory.{src}"] = len(mine)
        return out
