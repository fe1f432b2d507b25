"""Types and input checks shared by every statistics module (no statistics here)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Alternative = Literal["greater", "less"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


def as_1d(x: ArrayLike) -> FloatArray:
    """``x`` as a flat float64 array; empty or non-finite input is a ``ValueError``."""
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError("empty sample")
    if not np.all(np.isfinite(a)):
        raise ValueError("sample contains NaN or infinity")
    return a
