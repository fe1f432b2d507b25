"""gate: a CI admission gate for models served by NVIDIA Triton Inference Server."""

__version__ = "0.1.0"
