"""Environment facts for the fingerprint that ``gate.tools`` does not already query."""

from __future__ import annotations

import re
import shutil
import subprocess

_CUDA = re.compile(r"CUDA Version\s*:\s*([0-9][0-9.]*)")


def cuda_version() -> str:
    """The CUDA version the NVIDIA driver supports, as ``nvidia-smi`` prints it; ``""``
    without a driver. (A container's own CUDA runtime is part of its image digest.)"""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return ""
    try:
        out = subprocess.run([smi], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = _CUDA.search(out.stdout)
    return m.group(1) if m else ""
