"""The model under test on disk: its folder and its content digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

from gate.errors import ConfigError


def model_digest(model_dir: Path) -> str:
    """sha256 over the manifest (relative path + content sha256) of the model directory."""
    h = hashlib.sha256()
    for p in sorted(model_dir.rglob("*")):
        rel = p.relative_to(model_dir).as_posix()
        if "__pycache__" in p.parts or not p.is_file():
            continue
        fh = hashlib.sha256(p.read_bytes()).hexdigest()
        h.update(f"{rel}\0{fh}\n".encode())
    return "sha256:" + h.hexdigest()


def resolve_baseline_model(model_dir: Path, name: str, where: str) -> Path:
    """The baseline model's own folder: ``model_dir`` itself when it holds config.pbtxt or
    version folders, else ``model_dir/<name>`` (a repository). ConfigError otherwise."""
    if not model_dir.is_dir():
        raise ConfigError(
            f"{where}: field 'baseline.model_dir': folder {model_dir} does not exist",
            hint="point it at the baseline model's folder (e.g. the target branch's checkout)",
        )
    if (model_dir / "config.pbtxt").is_file() or any(
        p.is_dir() and p.name.isdigit() for p in model_dir.iterdir()
    ):
        return model_dir
    inner = model_dir / name
    if inner.is_dir():
        return inner
    raise ConfigError(
        f"{where}: field 'baseline.model_dir': {model_dir} holds neither a model "
        f"(config.pbtxt) nor a folder '{name}'",
        hint="give the model's folder or the repository that contains it",
    )
