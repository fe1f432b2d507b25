"""Stored baselines: several replays of the accepted model, with what they were measured on.

Layout of a store (a local folder or any fsspec URL, see ``gate.baselines.backend``)::

    <model>/baseline-<envkey>.json.gz                       the current baseline, one per
                                                            environment (side by side)
    <model>/history/baseline-<envkey>-<UTC stamp>.json.gz   every superseded one
    <model>/.lock                                           writers' lock (local stores)

``envkey`` is a hash of the **hard** environment keys (``HARD_ENV_KEYS``): GPU model, count
and driver, CUDA, Triton, perf_analyzer, CPU model, container image digest, launcher,
protocol, concurrency and the CPU split (``measure.cpu_affinity``: throughput on one core
of two is not throughput on both). Measurements taken where any of them differs are not comparable:
the judge refuses them (exit 2) unless ``gate check --allow-env-mismatch`` says otherwise, and
then the RunResult carries the differences (``baseline_env_mismatch``) for the report.

The payload carries the raw per-request samples of every run (the judge needs them all to
see the run-to-run drift), the model and traffic digests and the environment fingerprint.
A sha256 of the payload is stored beside it and checked on read. A truncated, edited or
otherwise unreadable file is an ``InputError`` — exit 2, not 3: retrying cannot fix it, a
person must restore (``gate baseline restore``) or record it again; and it is never skipped
in favour of another file, so a damaged baseline can never turn into a silent pass. Writes
are atomic and serialised by a lock (see ``gate.baselines.backend`` for what that means per
store kind).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import hashlib
import json
import secrets
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gate.baselines.backend import LocalStore, Store, open_store
from gate.config.yaml import problem, validation_message
from gate.errors import ConfigError, InputError
from gate.evidence import AccuracyRecord, LatencyRun, MemoryRun, ThroughputRun
from gate.result import MODEL_NAME_PATTERN, RunResult, Verdict, is_model_name

BASELINE_SCHEMA = "gate-baseline/1"

#: fingerprint keys that make two measurements incomparable when they differ
HARD_ENV_KEYS = (
    "triton_version",
    "perf_analyzer_version",
    "cpu_model",
    "gpu_model",
    "gpu_count",
    "gpu_driver",
    "cuda_version",
    "image_digest",
    "launcher",
    "protocol",
    "concurrency",
    "max_threads",
    "cpu_affinity",
)

StoreLike = str | Path | Store


class Baseline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: str = Field(BASELINE_SCHEMA, alias="schema")
    model: str = Field(pattern=MODEL_NAME_PATTERN)
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
    source: str = Field("record", description="'record', or 'promote' of the runs below")
    source_run_ids: list[str] = Field(default_factory=list)
    memory: list[MemoryRun] = Field(default_factory=list)
    throughput: list[ThroughputRun] = Field(default_factory=list)


# --------------------------------------------------------------------------------------
# Environment keys
# --------------------------------------------------------------------------------------


def env_key(environment: dict[str, str]) -> str:
    """Hash of the hard keys. A key absent and a key recorded empty count as the same."""
    hard = {k: environment.get(k, "") for k in HARD_ENV_KEYS if environment.get(k, "")}
    return hashlib.sha256(json.dumps(hard, sort_keys=True).encode()).hexdigest()[:12]


def env_differences(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return [k for k in HARD_ENV_KEYS if a.get(k, "") != b.get(k, "")]


def env_changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """``"gpu_model: A100 → H100"`` for each differing hard key (``-`` for a missing one)."""
    return [f"{k}: {old.get(k) or '-'} → {new.get(k) or '-'}" for k in env_differences(old, new)]


def env_mismatch_error(location: str, changes: Sequence[str], config: str) -> ConfigError:
    return ConfigError(
        f"baseline {location} was measured in another environment ({'; '.join(changes)})",
        hint=(
            f"record a baseline for this environment (gate baseline record {config}, or "
            "gate baseline promote a run.json measured here), or pass --allow-env-mismatch "
            "to compare anyway (the report flags it)"
        ),
    )


# --------------------------------------------------------------------------------------
# Keys and encoding
# --------------------------------------------------------------------------------------


def current_key(model: str, key: str) -> str:
    return f"{model}/baseline-{key}.json.gz"


def _history_key(model: str, key: str) -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    # the random tail keeps names unique where no lock serialises writers (object stores)
    return f"{model}/history/baseline-{key}-{stamp}-{secrets.token_hex(3)}.json.gz"


def baseline_path(store: StoreLike, model: str, environment: dict[str, str]) -> Path | str:
    """Where the baseline of ``model`` in ``environment`` is (or would be) stored: a Path in
    a folder store, a URL string in an fsspec store (as every location returned here)."""
    return open_store(store).location(current_key(model, env_key(environment)))


def encode(baseline: Baseline) -> bytes:
    payload = baseline.model_dump(mode="json", by_alias=True)
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    doc = {
        "schema": BASELINE_SCHEMA,
        "sha256": hashlib.sha256(body.encode()).hexdigest(),
        "payload": payload,
    }
    return gzip.compress(json.dumps(doc).encode(), mtime=0)


def decode(data: bytes, where: str) -> Baseline:
    """Parse and self-check one baseline file's bytes; every failure names ``where``.

    The messages never quote the file's bytes: a path that is not a baseline (a secret file
    named by a crafted run.json) must not leak into a log through its error.
    """
    hint = "restore an earlier one (gate baseline restore) or record it again"
    try:
        doc = json.loads(gzip.decompress(data))
    except (OSError, EOFError, gzip.BadGzipFile, ValueError, zlib.error) as e:
        why = "not gzip data" if isinstance(e, gzip.BadGzipFile) else type(e).__name__
        raise InputError(
            f"{where}: baseline file is corrupt or truncated ({why})", hint=hint
        ) from None
    if not isinstance(doc, dict):
        raise InputError(f"{where}: not a baseline file", hint=hint)
    if doc.get("schema") != BASELINE_SCHEMA:
        got = doc.get("schema")
        shown = repr(got)[:40] if isinstance(got, str) else type(got).__name__
        raise InputError(
            f"{where}: field 'schema': not a {BASELINE_SCHEMA} file (got {shown})",
            hint="record it again with this version of gate",
        )
    payload = doc.get("payload")
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    if hashlib.sha256(body.encode()).hexdigest() != doc.get("sha256"):
        raise InputError(
            f"{where}: field 'sha256': checksum mismatch, the baseline was modified or damaged",
            hint=hint,
        )
    if not isinstance(payload, dict) or payload.get("schema") != BASELINE_SCHEMA:
        raise InputError(
            f"{where}: field 'payload.schema': not {BASELINE_SCHEMA}",
            hint="record it again with this version of gate",
        )
    try:
        return Baseline.model_validate(payload)
    except ValidationError as e:
        raise validation_message(where, e, Baseline, hint=hint, error=InputError) from None


def check_claims(b: Baseline, key: str, where: str) -> Baseline:
    """``b`` if it is what its place in the store says: the model of its folder and the
    environment of its file name; else an InputError (exit 2). A file copied under another
    model's folder (its checksum recomputed) is never judged against that model."""
    parsed = _parse_key(key)
    if parsed is None:
        return b
    model, ek, _, _ = parsed
    if b.model != model:
        raise InputError(
            f"{where}: field 'model': the baseline is of model '{b.model}' but lies in the "
            f"folder of '{model}'",
            hint="move it back to its model's folder, or record this model's baseline",
        )
    if env_key(b.environment) != ek:
        raise InputError(
            f"{where}: field 'environment': does not match the file name (env {ek})",
            hint="restore an earlier one (gate baseline restore) or record it again",
        )
    return b


def read_baseline(store: StoreLike, key: str) -> Baseline:
    """Read, self-check and check the claims of the baseline at ``key``."""
    s = open_store(store)
    where = s.locate(key)
    try:
        data = s.read_bytes(key)
    except FileNotFoundError:
        raise ConfigError(f"{where}: baseline file not found") from None
    except IsADirectoryError:
        raise InputError(
            f"{where}: is a folder, not a baseline file",
            hint="remove it, or restore the baseline (gate baseline restore)",
        ) from None
    except PermissionError as e:
        raise ConfigError(f"{where}: cannot read: {e.strerror}") from None
    except OSError as e:
        raise InputError(f"{where}: cannot read: {e.strerror or type(e).__name__}") from None
    return check_claims(decode(data, where), key, where)


def _split(parts: list[str]) -> int:
    """How many trailing parts of a location form its store key (model/…/file)."""
    if len(parts) >= 3 and parts[-2] == "history" and is_model_name(parts[-3]):
        return 3
    if len(parts) >= 2 and is_model_name(parts[-2]):
        return 2
    return 1


def load_baseline(path: Path | str) -> Baseline:
    """Read and self-check one baseline file (a local path or an fsspec URL), with its
    claims checked against its place (``<store>/<model>/[history/]baseline-….json.gz``)."""
    text = str(path)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        parts = rest.split("/")
        n = _split(parts)
        return read_baseline(f"{scheme}://{'/'.join(parts[:-n])}", "/".join(parts[-n:]))
    p = Path(path)
    n = max(1, min(_split(list(p.parts)), len(p.parts) - 1))
    root = p.parents[n - 1]
    return read_baseline(LocalStore(root), "/".join(p.parts[-n:]))


def save_baseline(store: StoreLike, baseline: Baseline) -> Path | str:
    """Store ``baseline`` as the current one for its model and environment.

    Under the model's lock: the file it replaces is first copied, byte for byte, to
    ``history/`` (so ``gate baseline restore`` undoes this), then the new one is written
    atomically. Returns the new file's location.
    """
    s = open_store(store)
    key = env_key(baseline.environment)
    cur = current_key(baseline.model, key)
    data = encode(baseline)
    # the layout first (<model>/ and history/ folders, inside the store): a store a person
    # must fix is refused before anything, even the lock file, is written
    s.files(baseline.model)
    s.files(f"{baseline.model}/history")
    with s.lock(baseline.model):
        _supersede(s, baseline.model, key, cur)
        s.write_atomic(cur, data)
    return s.location(cur)


def _supersede(s: Store, model: str, key: str, cur: str) -> str | None:
    try:
        old = s.read_bytes(cur)
    except FileNotFoundError:
        return None
    hist = _history_key(model, key)
    s.write_atomic(hist, old)
    return hist


# --------------------------------------------------------------------------------------
# Finding and choosing
# --------------------------------------------------------------------------------------


def find_baselines(store: StoreLike, model: str) -> list[Path | str]:
    """Locations of the current baselines of ``model`` (one per environment), for
    ``load_baseline``."""
    s = open_store(store)
    return [s.location(k) for k in _current_keys(s, model)]


def current_keys(store: StoreLike, model: str) -> list[str]:
    """Keys of the current baseline files of ``model`` (anything named like one included:
    reading it says what is wrong with it)."""
    return _current_keys(open_store(store), model)


def _current_keys(s: Store, model: str) -> list[str]:
    return sorted(
        e.key
        for e in s.files(model)
        if e.key.rpartition("/")[2].startswith("baseline-") and e.key.endswith(".json.gz")
    )


def select_baseline(
    store: StoreLike, model: str, environment: dict[str, str] | None
) -> tuple[Baseline, Path | str, list[str]]:
    """The baseline recorded in this environment; else the closest one and its differences.

    Closest: fewest differing hard keys, then the newest. Returns (baseline, location,
    differing hard keys). No baseline at all is exit 2; so is any unreadable candidate: a
    damaged file is reported, never skipped.
    """
    s = open_store(store)
    keys = _current_keys(s, model)
    if not keys:
        raise ConfigError(
            f"no baseline for model '{model}' in {s.url}",
            hint="record one first: gate baseline record CONFIG",
        )
    # every current file is read and checked, the exact environment's included: a damaged
    # file beside a good one is an error, never passed over
    loaded = [(read_baseline(s, k), k) for k in keys]
    if environment is not None:
        exact = current_key(model, env_key(environment))
        for b, k in loaded:
            if k == exact:
                return b, s.location(k), []
    env = environment or {}

    def rank(item: tuple[Baseline, str]) -> tuple[int, str]:
        b = item[0]
        return (-len(env_differences(b.environment, env)) if environment else 0, b.recorded_at)

    best, key = max(loaded, key=rank)
    diffs = env_differences(best.environment, environment) if environment is not None else []
    return best, s.location(key), diffs


# --------------------------------------------------------------------------------------
# Lifecycle: promote, list, prune, restore
# --------------------------------------------------------------------------------------


def baseline_from_runs(
    results: Sequence[RunResult], *, force: bool, sources: Sequence[str]
) -> Baseline:
    """Merge the runs of one or more RunResults into a baseline (``gate baseline promote``).

    Each result must be an accepted run (verdict PASS; ``force`` also takes MEASURED,
    BLOCKED or INCONCLUSIVE ones) without an error, carrying the model digest, the traffic
    digest and an environment; all of them must agree on those three, since the judge pairs
    their samples by request index.
    """
    if not results:
        raise ConfigError("no run.json given", hint="gate baseline promote reports/run.json")
    first = results[0]
    for res, src in zip(results, sources, strict=True):
        if res.error is not None:
            raise InputError(
                f"{src}: field 'error': the run failed ({res.error.message})",
                hint="promote a run that finished",
            )
        if res.verdict is not Verdict.PASS and not force:
            raise InputError(
                f"{src}: field 'verdict': {res.verdict.value}; only a PASS run is promoted",
                hint="pass --force to promote it anyway (e.g. a 'gate replay' run)",
            )
        for field, value in (
            ("model", res.model),
            ("traffic", res.traffic),
            ("environment", res.environment or None),
        ):
            if value is None:
                raise InputError(f"{src}: field '{field}': missing", hint="promote a complete run")
        if not res.runs:
            raise InputError(
                f"{src}: field 'runs': no latency samples", hint="promote a complete run"
            )
        assert res.model is not None and res.traffic is not None
        assert first.model is not None and first.traffic is not None
        for what, a, b in (
            ("model.name", res.model.name, first.model.name),
            ("model.digest", res.model.digest, first.model.digest),
            ("traffic.digest", res.traffic.digest, first.traffic.digest),
        ):
            if a != b:
                raise InputError(
                    f"{src}: field '{what}': differs from {sources[0]} ({a[:24]} vs {b[:24]})",
                    hint="promote runs of one model on one traffic together",
                )
        changes = env_changes(first.environment, res.environment)
        if changes:
            raise InputError(
                f"{src}: field 'environment': differs from {sources[0]} ({'; '.join(changes)})",
                hint="promote runs measured in one environment together",
            )
    runs: list[LatencyRun] = []
    for res in results:
        for r in res.runs:
            runs.append(r.model_copy(update={"index": len(runs)}))
    assert first.model is not None and first.traffic is not None
    from gate import __version__
    from gate.result import now_iso

    core: dict[str, Any] = dict(
        model=first.model.name,
        model_digest=first.model.digest,
        model_repository=first.model.repository,
        traffic_digest=first.traffic.digest,
        traffic_requests=first.traffic.requests,
        environment=dict(first.environment),
        recorded_at=now_iso(),
        git_commit=getattr(first, "git_commit", None),
        gate_version=__version__,
        runs=[r.model_dump(mode="json") for r in runs],
        source="promote",
        source_run_ids=[r.run_id for r in results],
    )
    # Samples other stages store in a baseline (accuracy, memory, throughput…) are carried
    # from the same-named RunResult fields: lists are concatenated across the runs, other
    # values come from the first. One that does not fit is an error, never silently dropped.
    for name in Baseline.model_fields:
        if name in core or name == "schema_" or name not in RunResult.model_fields:
            continue
        values = [getattr(r, name) for r in results]
        if all(v is None or v == [] for v in values):
            continue
        if all(isinstance(v, list) for v in values):
            merged: Any = [x for v in values for x in v]
        else:
            merged = values[0]
        core[name] = _jsonable(merged)
    try:
        return Baseline.model_validate(core)
    except ValidationError as e:
        raise InputError(
            f"{sources[0]}: cannot be carried into a baseline: {problem(e, Baseline)}",
            hint="record the baseline with 'gate baseline record' instead",
        ) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class StoredBaseline:
    """One file of the store, current or historical, with its contents or why not."""

    key: str
    location: str
    model: str
    env_key: str
    current: bool
    stamp: str  # recorded_at for current ones; the history stamp for superseded ones
    baseline: Baseline | None
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        b = self.baseline
        out: dict[str, Any] = {
            "model": self.model,
            "env_key": self.env_key,
            "current": self.current,
            "location": self.location,
        }
        if b is None:
            out["error"] = self.error
            return out
        out.update(
            recorded_at=b.recorded_at,
            git_commit=b.git_commit,
            source=b.source,
            runs=len(b.runs),
            requests=b.traffic_requests,
            samples=sum(len(r.latencies_us) for r in b.runs),
            model_digest=b.model_digest,
            traffic_digest=b.traffic_digest,
            environment=b.environment,
        )
        if not self.current:
            out["superseded_at"] = self.stamp
        return out


def _parse_key(key: str) -> tuple[str, str, bool, str] | None:
    """(model, envkey, current, stamp) of a store key, or None if it is not a baseline."""
    parts = key.split("/")
    name = parts[-1]
    if not (name.startswith("baseline-") and name.endswith(".json.gz")):
        return None
    if not is_model_name(parts[0]) or any(p in ("", ".", "..") for p in parts):
        return None
    stem = name[len("baseline-") : -len(".json.gz")]
    if len(parts) == 2:
        return parts[0], stem, True, ""
    if len(parts) == 3 and parts[1] == "history" and "-" in stem:
        ek, _, rest = stem.partition("-")
        return parts[0], ek, False, rest.partition("-")[0]
    return None


def inventory(
    store: StoreLike, model: str | None = None, *, history: bool = True
) -> list[StoredBaseline]:
    """Every baseline in the store (or of one model), loaded and self-checked.

    An unreadable file is listed with its error rather than raising, so ``gate baseline
    list`` shows the damage; the caller decides the exit code.
    """
    s = open_store(store)
    models = [model] if model else s.dirs()
    out: list[StoredBaseline] = []
    for m in models:
        keys = [e.key for e in s.files(m)]
        if history:
            keys += [e.key for e in s.files(f"{m}/history")]
        for k in sorted(keys):
            parsed = _parse_key(k)
            if parsed is None:
                continue
            mod, ek, cur, stamp = parsed
            try:
                b: Baseline | None = read_baseline(s, k)
                err = None
            except ConfigError as e:
                b, err = None, e.message
            out.append(
                StoredBaseline(
                    k, s.locate(k), mod, ek, cur, (b.recorded_at if b and cur else stamp), b, err
                )
            )
    return out


def _stamp_time(stamp: str) -> _dt.datetime | None:
    for fmt in ("%Y%m%dT%H%M%S%fZ",):
        try:
            return _dt.datetime.strptime(stamp, fmt).replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            pass
    try:
        t = _dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def prune(
    store: StoreLike,
    *,
    keep: int | None,
    older_than: _dt.datetime | None,
    model: str | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Delete superseded baselines; the current one of each (model, environment) is kept.

    ``keep`` N: per (model, environment), keep the current one and the newest N−1 in
    history. ``older_than``: delete history entries superseded before that time. Both may be
    given (a file goes if either says so). Returns the locations deleted (or that would be).
    """
    if keep is not None and keep < 1:
        raise ConfigError("--keep must be at least 1 (the current baseline is never pruned)")
    s = open_store(store)
    doomed: list[str] = []
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for m in [model] if model else s.dirs():
        for e in s.files(f"{m}/history"):
            parsed = _parse_key(e.key)
            if parsed is None:
                continue
            mod, ek, _, stamp = parsed
            groups.setdefault((mod, ek), []).append((stamp, e.key))
    for (mod, ek), items in groups.items():
        items.sort(reverse=True)  # stamps sort by time
        has_current = s.exists(current_key(mod, ek))
        for i, (stamp, key) in enumerate(items):
            rank = i + (1 if has_current else 0)  # the current one counts towards keep
            too_many = keep is not None and rank >= keep
            t = _stamp_time(stamp)
            too_old = older_than is not None and t is not None and t < older_than
            if too_many or too_old:
                doomed.append(key)
    if not dry_run:
        with_lock = {k.split("/")[0] for k in doomed}
        for m in sorted(with_lock):
            with s.lock(m):
                for k in doomed:
                    if k.split("/")[0] == m:
                        s.delete(k)
    return [s.locate(k) for k in sorted(doomed)]


def restore(store: StoreLike, key_or_location: str) -> tuple[Path | str, Baseline]:
    """Make a history entry current again (the current one goes to history first)."""
    s = open_store(store)
    key = s.key_of(key_or_location)  # a key, or a location proven inside the store
    parsed = _parse_key(key)
    if parsed is None or parsed[2]:
        raise ConfigError(
            f"{key_or_location}: not a history entry of this store",
            hint="pick one from 'gate baseline list --history'",
        )
    mod, ek, _, _ = parsed
    b = read_baseline(s, key)  # self-check and its claims (model, environment) first
    cur = current_key(mod, ek)
    data = s.read_bytes(key)
    with s.lock(mod):
        _supersede(s, mod, ek, cur)
        s.write_atomic(cur, data)
    return s.location(cur), b


# --------------------------------------------------------------------------------------
# Model digest, git
# --------------------------------------------------------------------------------------


def describe(b: Baseline) -> dict[str, Any]:
    return {
        "model": b.model,
        "recorded_at": b.recorded_at,
        "runs": len(b.runs),
        "requests": b.traffic_requests,
        "model_digest": b.model_digest,
        "traffic_digest": b.traffic_digest,
        "git_commit": b.git_commit,
        "source": b.source,
    }
