"""Measuring stages: latency by perf_analyzer replay (accuracy and memory come later)."""
