"""Stored baselines: several replays of the accepted model, with what they were measured on.

One gzip JSON file per (model, environment): ``<store>/<model>/baseline-<envkey>.json.gz``.
The payload carries the raw per-request samples of every run (the judge needs them all to
see the run-to-run drift), the model and traffic digests and the environment fingerprint.
A sha256 of the payload is stored beside it and checked on read, so a truncated or edited
file is an error, never a silent pass. Writes are atomic: a temporary file in the same
folder, fsync, rename, fsync of the folder. (Promotion, listing, locks and the fingerprint
guard come with the baseline-lifecycle issue; this layout leaves room for them.)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gate.accuracy_record import AccuracyRecord
from gate.errors import ConfigError, InfraError, InputError
from gate.measure.samples import MemoryRun, ThroughputRun
from gate.result import LatencyRun

BASELINE_SCHEMA = "gate-baseline/1"

#: fingerprint keys that make two measurements incomparable when they differ
HARD_ENV_KEYS = (
    "triton_version",
    "perf_analyzer_version",
    "cpu_model",
    "gpu_model",
    "gpu_count",
    "launcher",
    "protocol",
    "max_threads",
)


class Baseline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: str = Field(BASELINE_SCHEMA, alias="schema")
    model: str
    model_digest: str
    model_repository: str
    traffic_digest: str
    traffic_requests: int
    environment: dict[str, str]
    recorded_at: str
    git_commit: str | None = None
    gate_version: str
    runs: list[LatencyRun]
    accuracy: AccuracyRecord | None = None
    memory: list[MemoryRun] = Field(default_factory=list)
    throughput: list[ThroughputRun] = Field(default_factory=list)


def env_key(environment: dict[str, str]) -> str:
    hard = {k: environment.get(k, "") for k in HARD_ENV_KEYS}
    return hashlib.sha256(json.dumps(hard, sort_keys=True).encode()).hexdigest()[:12]


def env_differences(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return [k for k in HARD_ENV_KEYS if a.get(k, "") != b.get(k, "")]


def baseline_path(store: Path, model: str, environment: dict[str, str]) -> Path:
    return store / model / f"baseline-{env_key(environment)}.json.gz"


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_baseline(store: Path, baseline: Baseline) -> Path:
    payload = baseline.model_dump(mode="json", by_alias=True)
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    doc = {
        "schema": BASELINE_SCHEMA,
        "sha256": hashlib.sha256(body.encode()).hexdigest(),
        "payload": payload,
    }
    path = baseline_path(store, baseline.model, baseline.environment)
    try:
        atomic_write_bytes(path, gzip.compress(json.dumps(doc).encode(), mtime=0))
    except OSError as e:
        raise InfraError(
            f"cannot write baseline {path}: {e.strerror}",
            hint="check that the baseline store is writable and the disk is not full",
        ) from None
    return path


def load_baseline(path: Path) -> Baseline:
    """Read and self-check one baseline file."""
    try:
        raw = gzip.decompress(path.read_bytes())
        doc = json.loads(raw)
    except FileNotFoundError:
        raise ConfigError(f"{path}: baseline file not found") from None
    except (OSError, EOFError, gzip.BadGzipFile, ValueError) as e:
        raise InputError(
            f"{path}: baseline file is corrupt or truncated ({e})",
            hint="delete it and run 'gate baseline record' again",
        ) from None
    if not isinstance(doc, dict) or doc.get("schema") != BASELINE_SCHEMA:
        raise InputError(
            f"{path}: field 'schema': not a {BASELINE_SCHEMA} file (got {doc.get('schema')!r})"
            if isinstance(doc, dict)
            else f"{path}: not a baseline file",
            hint="record it again with this version of gate",
        )
    payload = doc.get("payload")
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    if hashlib.sha256(body.encode()).hexdigest() != doc.get("sha256"):
        raise InputError(
            f"{path}: field 'sha256': checksum mismatch, the baseline was modified or damaged",
            hint="delete it and run 'gate baseline record' again",
        )
    try:
        return Baseline.model_validate(payload)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InputError(
            f"{path}: field '{loc}': {err['msg']}", hint="record the baseline again"
        ) from None


def find_baselines(store: Path, model: str) -> list[Path]:
    d = store / model
    if not d.is_dir():
        return []
    return sorted(d.glob("baseline-*.json.gz"), key=lambda p: p.stat().st_mtime, reverse=True)


def select_baseline(
    store: Path, model: str, environment: dict[str, str] | None
) -> tuple[Baseline, Path, list[str]]:
    """The baseline recorded in this environment, else the newest one with the differences.

    Returns (baseline, path, differing hard keys). No baseline at all is exit 2.
    """
    paths = find_baselines(store, model)
    if not paths:
        raise ConfigError(
            f"no baseline for model '{model}' in {store}",
            hint="record one first: gate baseline record CONFIG",
        )
    if environment is not None:
        exact = baseline_path(store, model, environment)
        if exact.exists():
            return load_baseline(exact), exact, []
    newest = paths[0]
    b = load_baseline(newest)
    diffs = env_differences(b.environment, environment) if environment is not None else []
    return b, newest, diffs


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


def git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def describe(b: Baseline) -> dict[str, Any]:
    return {
        "model": b.model,
        "recorded_at": b.recorded_at,
        "runs": len(b.runs),
        "requests": b.traffic_requests,
        "model_digest": b.model_digest,
        "traffic_digest": b.traffic_digest,
        "git_commit": b.git_commit,
    }
