"""Memory and throughput samples as stored in ``RunResult`` and in baselines.

Plain pydantic values (JSON round-trip), kept apart from ``gate.result`` so the measuring
and judging code of these two families lives in its own modules. Every field a judge needs
is raw data (series, windows), never a summary, so a verdict can be recomputed from a saved
run and its baseline.
"""

from __future__ import annotations

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


class ThroughputLevel(_Model):
    """Closed-loop throughput at one concurrency level: inferences/s per window."""

    concurrency: int
    windows: list[float]
    window_requests: int
    requests: int
    seconds: float = Field(description="time from the first to the last measured completion")
    perf_analyzer_args: list[str] = Field(default_factory=list)
    attempts: int = 1


class ThroughputRun(_Model):
    """The throughput levels measured on one freshly started server."""

    index: int
    levels: list[ThroughputLevel] = Field(default_factory=list)

    def level(self, concurrency: int) -> ThroughputLevel | None:
        for lv in self.levels:
            if lv.concurrency == concurrency:
                return lv
        return None
