"""Stored-run measurement: the traffic replayed K times, each on a freshly started server.

This is how ``gate baseline record`` measures a baseline and ``gate check`` / ``gate replay``
measure a candidate: every run on its own server start, so the runs' spread is the
run-to-run drift the judge must see past. In each server, after the model loads: the latency
replay (memory sampled during it), then on the first server only the eval set (its requests
never overlap the replay), then throughput.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gate.app.prepare import Prepared
from gate.app.run import Run
from gate.app.session import ServerSession
from gate.evidence import AccuracyRecord, LatencyRun, MemoryRun, Samples, ThroughputRun
from gate.measure.perf_analyzer import retry_note
from gate.result import RunResult


@dataclass(frozen=True)
class Measured:
    """The samples of K stored runs, and the environment they were measured in."""

    runs: tuple[LatencyRun, ...]
    memory: tuple[MemoryRun, ...] = ()
    throughput: tuple[ThroughputRun, ...] = ()
    accuracy: AccuracyRecord | None = None
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def samples(self) -> Samples:
        return Samples(self.runs, self.memory, self.throughput, self.accuracy)

    def write_to(self, result: RunResult) -> None:
        """The samples and the environment into the run's record."""
        result.runs = list(self.runs)
        result.memory = list(self.memory)
        result.throughput = list(self.throughput)
        result.accuracy = self.accuracy
        result.environment = dict(self.environment)


@dataclass
class _Collected:
    runs: list[LatencyRun] = field(default_factory=list)
    memory: list[MemoryRun] = field(default_factory=list)
    throughput: list[ThroughputRun] = field(default_factory=list)
    accuracy: AccuracyRecord | None = None


def measure_runs(run: Run, prep: Prepared, runs: int, *, label: str) -> Measured:
    """Replay the traffic ``runs`` times, each on a freshly started server."""
    with FreshRuns(run, prep, label=label) as fresh:
        for _ in range(runs):
            fresh.add()
    return fresh.measured()


class FreshRuns:
    """Runs of the traffic added one at a time, each on a freshly started server (the stored
    design: ``gate check`` adds candidate runs until its checks decide)."""

    def __init__(self, run: Run, prep: Prepared, *, label: str) -> None:
        self.run, self.prep, self.label = run, prep, label
        self.got = _Collected()
        self.session = ServerSession(run, prep, memory=True)
        self.seconds: list[float] = []

    def __enter__(self) -> FreshRuns:
        self.session.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.__exit__(None, None, None)

    def add(self) -> None:
        """One more run on a fresh server."""
        i = len(self.got.runs)
        t0 = time.monotonic()
        log_name = f"server-{self.label}-{i + 1}.log"
        with self.session.server(f"#{i + 1}", log_name=log_name, index=i + 1):
            _one_server(self.session, i, self.got)
            self.session.unload_all()
        self.seconds.append(time.monotonic() - t0)

    def measured(self) -> Measured:
        got = self.got
        return Measured(
            tuple(got.runs),
            tuple(got.memory),
            tuple(got.throughput),
            got.accuracy,
            dict(self.session.environment),
        )


def _one_server(session: ServerSession, i: int, got: _Collected) -> None:
    run, prep = session.run, session.prep
    name = prep.model.name
    with run.stage(f"model load #{i + 1}"):
        loaded = session.load(name)
        session.check_traffic(loaded)
        session.bind_eval(loaded)
        inputs = session.inputs(
            "traffic",
            prep.traffic,
            warmup=prep.cfg.traffic.warmup_requests,
            max_batch_size=loaded.max_batch_size,
        )
        session.fingerprint("recorded-intervals" if inputs.intervals_us else "1")
    with run.stage(f"replay #{i + 1}") as st:
        lr = session.replay(name, inputs, index=i)
        got.runs.append(lr)
        pa = lr.perf_analyzer
        st.detail = f"{len(lr.latencies_us)} requests, {pa.attempts if pa else 1} attempt(s)"
        st.detail += retry_note(pa.retries if pa else [])
    if i == 0 and prep.accuracy is not None:
        # after the replay, in the same server: accuracy requests never overlap it
        with run.stage("accuracy") as st:
            rec = got.accuracy = session.evaluate(name)
            st.detail = f"{rec.samples} samples in {rec.seconds:.2f} s: " + ", ".join(
                f"{k} {v:.4g}" for k, v in rec.summary.items()
            )
    mem = session.memory(name)
    if mem is not None:
        got.memory.append(mem)
    if prep.policy.throughput.enabled:
        with run.stage(f"throughput #{i + 1}") as st:
            tr = session.throughput(name, inputs, index=i)
            got.throughput.append(tr)
            st.detail = ", ".join(
                f"c={lv.concurrency}: {sum(lv.windows) / len(lv.windows):.0f}/s" for lv in tr.levels
            )
