"""Stored baselines: the store (local folder or fsspec URL) and what a baseline must hold."""
