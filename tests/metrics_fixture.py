"""A user-supplied per-sample metric for tests (loaded as ``tests.metrics_fixture:margin``)."""

from __future__ import annotations

from typing import Any

import numpy as np


def margin(outputs: Any, labels: Any) -> Any:
    """Top-1 probability minus the runner-up: how sure the model is (higher is better)."""
    s = np.sort(np.asarray(outputs).reshape(len(outputs), -1), axis=1)
    return s[:, -1] - s[:, -2]


margin.higher_is_better = True  # type: ignore[attr-defined]
