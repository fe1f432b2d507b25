"""What an accuracy evaluation leaves in a ``RunResult`` and in a stored baseline.

Per-sample scores (and, bounded in size, the model's outputs) are stored rather than only
their means, because the judge pairs candidate and baseline **per sample**: a paired test
needs both sides of every pair. Arrays travel as base64 of their raw little-endian bytes with
dtype and shape beside them: a 10^5-sample eval set costs ~0.5 MB of float32 scores instead
of megabytes of JSON numbers, and decoding is one ``numpy.frombuffer``.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
