"""Evidence: the raw samples a measurement leaves, as stored in ``RunResult`` and baselines.

Latency replays (per request), live A/B replays (both arms, paired by request index), memory
series, throughput windows and accuracy records (per sample). Plain pydantic values (JSON
round-trip) with no behaviour beyond encoding: the judge is a pure function of them and the
policy, so any verdict can be recomputed from a saved run and its baseline without a server.

``Samples`` and ``Evidence`` gather them for one judgement: the candidate's samples, and
what they are compared with (a stored baseline's samples, a live A/B replay, or nothing).

Accuracy records store per-sample scores (and, bounded in size, the model's outputs) rather
than only their means, because the judge pairs candidate and baseline **per sample**. Arrays
travel as base64 of their raw little-endian bytes with dtype and shape beside them: a 10^5-
sample eval set costs ~0.5 MB of float32 scores instead of megabytes of JSON numbers.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemorySeries(_Model):
    """One memory source of one run, in bytes.

    ``before_load`` and ``after_load`` are medians of a few samples taken with the server up
    and the model unloaded, then loaded (explicit model control); ``values`` were sampled
    every ``interval_s`` during the replay, at ``t_s`` seconds after it started. Memory
    attributable to the model is a value minus ``before_load``.
    """

    source: str = Field(description="'host' (process-tree RSS) or 'gpu' (Triton metrics)")
    detail: str = Field("", description="where the numbers come from")
    before_load: float
    after_load: float
    t_s: list[float] = Field(default_factory=list)
    values: list[float] = Field(default_factory=list)

    @property
    def attributable(self) -> list[float]:
        """The replay series minus the before-load level (bytes)."""
        return [v - self.before_load for v in self.values]

    @property
    def loaded(self) -> float:
        """After-load minus before-load (bytes)."""
        return self.after_load - self.before_load

    @property
    def peak(self) -> float:
        """The largest attributable value seen after the load (bytes)."""
        return max([self.loaded, *self.attributable])


class MemoryRun(_Model):
    """The memory samples of one replay (one freshly started server)."""

    index: int
    interval_s: float
    series: dict[str, MemorySeries] = Field(default_factory=dict)
    notes: list[str] = Field(
        default_factory=list, description="sources that were unavailable, and why"
    )


class PerfAnalyzerRetry(_Model):
    """One perf_analyzer attempt that failed and was retried: why, and what it cost."""

    attempt: int
    reason: str = Field(description="no exit within the timeout, an exit code, a bad export")
    seconds: float = Field(description="wall time the failed attempt took")
    timeout_s: float = Field(description="the timeout that attempt ran under")


class ServerPhase(_Model):
    """One phase of Triton's per-model statistics: how many, and their total nanoseconds."""

    count: int = 0
    ns: int = 0


class ServerStats(_Model):
    """Triton's own per-model statistics over one measurement (``/v2/models/<m>/stats``
    read just before and just after it): where the server spent the time.

    ``phases`` holds the change of each cumulative counter: ``success`` (whole requests,
    receipt to response), ``fail``, ``queue`` (waiting for an instance), ``compute_input``,
    ``compute_infer`` (the model's execute), ``compute_output``. ``inferences`` and
    ``executions`` are the changes of ``inference_count`` and ``execution_count`` (fewer
    executions than inferences when requests were batched). The server cannot tell warm-up
    requests from measured ones, so they are included.
    """

    inferences: int = 0
    executions: int = 0
    phases: dict[str, ServerPhase] = Field(default_factory=dict)

    def mean_us(self, phase: str) -> float | None:
        """Mean microseconds per request of ``phase`` (None when it has no count)."""
        p = self.phases.get(phase)
        return p.ns / p.count / 1000.0 if p is not None and p.count > 0 else None


class ThroughputLevel(_Model):
    """Closed-loop throughput at one concurrency level: inferences/s per window."""

    concurrency: int
    windows: list[float]
    window_requests: int
    requests: int
    seconds: float = Field(description="time from the first to the last measured completion")
    perf_analyzer_args: list[str] = Field(default_factory=list)
    attempts: int = 1
    retries: list[PerfAnalyzerRetry] = Field(
        default_factory=list, description="the failed attempts before the one measured"
    )
    server_stats: ServerStats | None = Field(
        None, description="Triton's per-model statistics over this level (warm-up included)"
    )


class ThroughputRun(_Model):
    """The throughput levels measured on one freshly started server."""

    index: int
    levels: list[ThroughputLevel] = Field(default_factory=list)

    def level(self, concurrency: int) -> ThroughputLevel | None:
        for lv in self.levels:
            if lv.concurrency == concurrency:
                return lv
        return None


class PerfAnalyzerInfo(_Model):
    path: str
    version: str
    args: list[str]
    attempts: int
    stderr_tail: str = ""
    client_summary: str = ""
    retries: list[PerfAnalyzerRetry] = Field(
        default_factory=list, description="the failed attempts before the one measured"
    )
    seconds: float = Field(0.0, description="wall time of the measured attempt")
    timeout_s: float = Field(0.0, description="the timeout the measured attempt ran under")


class LatencyRun(_Model):
    """One replay of the traffic on one freshly started server.

    ``latencies_us[i]`` is the client-side latency of recorded request ``i`` (warm-up
    excluded), so runs of the same traffic pair by index.
    """

    index: int
    started_at: str
    latencies_us: list[float]
    send_delay_us: list[float] = Field(
        default_factory=list, description="actual minus scheduled send time per request"
    )
    perf_analyzer: PerfAnalyzerInfo | None = None
    server_log: str = Field("", description="path of the server log kept for this run")
    server_stats: ServerStats | None = Field(
        None, description="Triton's per-model statistics over this replay (warm-up included)"
    )


class ABBlock(_Model):
    """One block of the interleaved live A/B replay: recorded requests ``start, start+1, …,
    stop-1`` (indices modulo the traffic's length: rounds cycle the traffic) sent to one arm."""

    arm: Literal["A", "B"]
    start: int
    stop: int
    started_at: str = ""
    attempts: int = 1
    retries: list[PerfAnalyzerRetry] = Field(
        default_factory=list, description="perf_analyzer attempts of this block that failed"
    )
    server_stats: ServerStats | None = Field(
        None, description="Triton's per-model statistics over this block (warm-up included)"
    )


class ABThroughputPair(_Model):
    """One pair of closed-loop throughput windows at one concurrency level: both arms
    measured back to back (``first`` went first; the order alternates between pairs), at
    the same moment on one clock (a level in ``ABInfo.throughput_together``; ``first`` was
    started first), or in a round of interleaved time slots (``ABInfo.throughput_slot_s``:
    each arm's windows are its slots, ``first`` had the round's first slot)."""

    concurrency: int
    round: int
    first: Literal["A", "B"]
    a: ThroughputLevel
    b: ThroughputLevel


class ABMemorySample(_Model):
    """Memory attributable to each arm, in bytes, measured at one moment.

    ``kind``: ``process`` — the resident memory of the processes that serve only that arm
    (a python-backend model's stub), sampled during a block pair; ``load`` — the step of the
    server's memory when that arm was loaded (``first`` loaded first; the order alternates
    between repetitions, so an order effect cancels)."""

    source: str = Field(description="'host' (RSS) or 'gpu' (Triton's GPU memory metric)")
    kind: Literal["process", "load"]
    round: int
    a: float
    b: float
    first: Literal["A", "B"] = "A"


class ABInfo(_Model):
    """Live A/B: baseline (A) and candidate (B) loaded in one server, every check paired.

    Latency: ``latencies_a_us[i]`` and ``latencies_b_us[i]`` are the same recorded request
    (``requests[i]``, its index in the traffic) sent to each arm in the same block pair; pairs
    are in send order, block pair ``j`` is ``[j·block_size, (j+1)·block_size)``. ``blocks`` is
    every block in send order. ``throughput``: interleaved window pairs per concurrency;
    ``memory``: per-arm samples; ``accuracy_a``: the eval set through arm A (arm B's is the
    run's ``accuracy``).
    """

    model_a: str
    model_b: str
    baseline_model_dir: str
    baseline_digest: str = ""
    block_size: int
    block_warmup: int
    replay: Literal["blocks", "slotted", "together"] = Field(
        "blocks",
        description="blocks: one perf_analyzer process per block, in turn; slotted: one "
        "process per arm and round, each arm sending only in its own time slots; together: "
        "one process per arm and round, both sending the same requests at the same moments",
    )
    throughput_together: list[int] = Field(
        default_factory=list,
        description="the concurrency levels whose window pairs were measured with both arms "
        "at the same moment, windows cut on one clock (baseline.ab_throughput_together); "
        "the others one arm after the other",
    )
    throughput_slot_s: float = Field(
        0.0,
        description="the other levels' pairs were measured in interleaved time slots of this "
        "many seconds per arm (baseline.ab_throughput_slot_s; gate.app.ab_throughput); 0: "
        "one closed-loop run per arm, one after the other",
    )
    blocks: list[ABBlock] = Field(default_factory=list)
    latencies_a_us: list[float] = Field(default_factory=list)
    latencies_b_us: list[float] = Field(default_factory=list)
    requests: list[int] = Field(
        default_factory=list, description="traffic index of each pair (empty: 0, 1, 2, …)"
    )
    throughput: list[ABThroughputPair] = Field(default_factory=list)
    memory: list[ABMemorySample] = Field(default_factory=list)
    memory_sources: list[str] = Field(
        default_factory=list,
        description="the memory sources the session samples, known when it starts (so the "
        "judge counts their checks from the first look on)",
    )
    memory_notes: list[str] = Field(default_factory=list)
    accuracy_a: AccuracyRecord | None = None


class SamplingLook(_Model):
    """One look of a sequential check: how far the budget was used, and how many units each
    stream of evidence had (``blocks``: latency block pairs; ``throughput.c4``: window pairs at
    concurrency 4; ``memory.host``: memory samples; ``runs``: candidate runs)."""

    round: int
    t: float = Field(description="information fraction: the share of the budget used")
    final: bool = False
    seconds: float = Field(description="measuring time used so far")
    requests: int = Field(description="requests sent per arm so far")
    units: dict[str, int] = Field(default_factory=dict)


class Sampling(_Model):
    """How a check sampled until the evidence decided: its budget and its looks."""

    mode: Literal["live", "stored"]
    max_duration_s: float
    max_requests: int
    rho: float
    looks: list[SamplingLook] = Field(default_factory=list)
    stopped: str = Field(
        "",
        description="decided, blocked, budget, or confirmed (a stored-mode failure judged "
        "again on more runs did not hold)",
    )

    @property
    def seconds(self) -> float:
        return self.looks[-1].seconds if self.looks else 0.0


class EncodedArray(BaseModel):
    """A numpy array as ``{"dtype": "<f4", "shape": [...], "b64": "..."}``."""

    model_config = ConfigDict(extra="forbid")

    dtype: str
    shape: list[int]
    b64: str

    @classmethod
    def encode(cls, arr: Any) -> EncodedArray:
        import numpy as np

        a = np.ascontiguousarray(arr)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        a = a.astype(dt, copy=False)
        return cls(dtype=dt.str, shape=list(a.shape), b64=base64.b64encode(a.tobytes()).decode())

    def decode(self) -> Any:
        import numpy as np

        return np.frombuffer(base64.b64decode(self.b64), dtype=np.dtype(self.dtype)).reshape(
            self.shape
        )


class AccuracyRecord(BaseModel):
    """One evaluation of the eval set through the running server."""

    model_config = ConfigDict(extra="forbid")

    eval_set: str
    eval_set_digest: str
    samples: int
    output: str
    kind: Literal["label", "target"]
    protocol: str = "http"
    batch_size: int = 1
    concurrency: int = 1
    seconds: float = 0.0
    scores: dict[str, EncodedArray] = Field(
        default_factory=dict, description="per-sample score arrays by metric name"
    )
    higher_is_better: dict[str, bool] = Field(default_factory=dict)
    summary: dict[str, float] = Field(default_factory=dict, description="mean score per metric")
    outputs: EncodedArray | None = Field(
        None, description="the scored output per sample (float32 or float16), when small enough"
    )
    top_indices: EncodedArray | None = Field(
        None, description="top-k class indices per sample (int32), always kept for labels"
    )
    outputs_note: str = ""

    def score(self, name: str) -> Any:
        return self.scores[name].decode()


ABInfo.model_rebuild()


@dataclass(frozen=True)
class Samples:
    """One model's samples as the judge reads them (a run's, or a stored baseline's)."""

    runs: tuple[LatencyRun, ...] = ()
    memory: tuple[MemoryRun, ...] = ()
    throughput: tuple[ThroughputRun, ...] = ()
    accuracy: AccuracyRecord | None = None


@dataclass(frozen=True)
class Evidence:
    """Everything one judgement reads, collected before it starts (``gate.judge.families``).

    ``baseline`` is the stored baseline's samples (``None``: nothing stored is compared, so
    only absolute objectives and live A/B are judged); ``baseline_where`` names its file for
    messages. ``ab`` is a live A/B session: when present, every check is judged from its
    paired arms rather than from stored runs of other server starts. ``sampling`` says where
    each look happened (None: one look at the end, with the whole budget).
    """

    candidate: Samples
    baseline: Samples | None = None
    baseline_where: str = ""
    ab: ABInfo | None = None
    sampling: Sampling | None = None
