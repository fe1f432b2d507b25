"""Gate config (``gate.yaml``): validated, typed, strict.

Unknown keys are errors, never silently ignored (Kayenta's pitfall of falling back to
defaults on a typo): a misspelt tolerance must not turn into a gate that never blocks.
Every error is one line naming the file, the field and the fix, and maps to exit code 2.
Relative paths in a config file are resolved against the folder of that file, so a config
works the same whatever directory CI runs it from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gate.config.loader import DuplicateKeyError, TooManyAliasesError, load_yaml
from gate.config.signatures import SignaturePolicy, Signer
from gate.config.yaml import Strict, read_yaml, validation_message
from gate.errors import ConfigError
from gate.result import MODEL_NAME_PATTERN, is_model_name

# --------------------------------------------------------------------------------------
# Gate config
# --------------------------------------------------------------------------------------

NAME_RULE = (
    "must be one folder name: letters, digits, '_', '.' and '-', not starting with '.', "
    "at most 200 characters (no '/', no '..')"
)


class ModelConfig(Strict):
    name: str = Field(
        min_length=1,
        # checked by _one_folder (for a message that says the rule); the schema still shows it
        json_schema_extra={"pattern": MODEL_NAME_PATTERN},
        description="the model's name: its folder in the repository, its config.pbtxt name and "
        "its key in the baseline store (letters, digits, '_', '.', '-', not starting with '.')",
    )
    repository: Path = Field(
        description="Triton model repository holding the model's folder, or "
        "oci://HOST/REPO@sha256:… (or :tag) for a model published as an OCI artifact"
    )
    version: str | None = Field(
        None, pattern=r"^[0-9]+$", description="version folder to serve; default Triton's policy"
    )
    artifact: str | None = Field(
        None, description="set from an oci:// repository: the artifact's reference"
    )
    signature: Signer | None = Field(
        None, description="oci:// models: who must have signed the artifact (key or identity)"
    )

    @field_validator("name")
    @classmethod
    def _one_folder(cls, v: str) -> str:
        """The name is a folder of the repository and a key of the store: never a path."""
        if not is_model_name(v):
            raise ValueError(NAME_RULE)
        return v

    @model_validator(mode="before")
    @classmethod
    def _oci(cls, data: Any) -> Any:
        """``repository: oci://…`` becomes ``artifact``; the repository is then the private
        folder the verified artifact is unpacked into (set by the signature stage)."""
        if isinstance(data, dict) and str(data.get("repository", "")).startswith("oci://"):
            from gate.config.oci import parse_reference

            ref = str(data["repository"])
            try:
                parse_reference(ref)
            except ValueError as e:
                raise PydanticCustomError("oci_reference", str(e), {}) from None
            return {**data, "artifact": ref, "repository": OCI_PLACEHOLDER}
        return data

    @model_validator(mode="after")
    def _signature_needs_artifact(self) -> ModelConfig:
        if self.signature is not None and self.artifact is None:
            raise PydanticCustomError(
                "oci_signature",
                "'signature' applies to oci:// models only (files are checked by signatures:)",
                {},
            )
        return self


#: ``model.repository`` of an ``oci://`` model until the artifact is unpacked.
OCI_PLACEHOLDER = Path("/nonexistent/oci-artifact-not-yet-unpacked")


#: NGC image tag of Triton 2.51, the release the embedded (nvidia-pytriton 0.7) server matches.
DEFAULT_TRITON_TAG = "24.10"

#: Launcher keys that only one kind uses: setting one under another kind is a mistake.
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "local": ("tritonserver",),
    "docker": (
        "image",
        "triton_tag",
        "pull",
        "gpus",
        "shm_size",
        "docker_host",
        "http_port",
        "grpc_port",
        "metrics_port",
        "image_signature",
    ),
    "remote": ("url",),
}


class LauncherConfig(Strict):
    """Where the Triton server comes from: ``local`` (a child process), ``docker`` (a
    throwaway container, the production path on GPU runners) or ``remote`` (a server that
    already runs; nothing is started or stopped)."""

    kind: Literal["local", "docker", "remote"] = Field(
        "local", description="local: a child process; docker: a container; remote: a running server"
    )
    tritonserver: Path | None = Field(None, description="local: explicit tritonserver binary")
    startup_timeout_s: float = Field(60, gt=0, le=3600, description="until the server is ready")
    load_timeout_s: float = Field(180, gt=0, le=3600, description="until the model is ready")
    stop_timeout_s: float = Field(15, gt=0, le=600, description="before the server is killed")
    extra_args: tuple[str, ...] = Field((), description="more tritonserver arguments")
    image: str | None = Field(
        None,
        min_length=1,
        description="docker: image to run; default nvcr.io/nvidia/tritonserver:<triton_tag>-py3",
    )
    triton_tag: str = Field(
        DEFAULT_TRITON_TAG,
        pattern=r"^[0-9]{2}\.[0-9]{2}$",
        description="docker: NGC release of the default image (24.10 = Triton 2.51)",
    )
    pull: Literal["missing", "always", "never"] = Field(
        "missing", description="docker: pull the image when missing locally, always, or never"
    )
    gpus: (
        Literal["auto", "all", "none"] | Annotated[int, Field(ge=1, le=64)] | tuple[str | int, ...]
    ) = Field(
        "auto",
        description="docker: 'all', 'none', a count, or device ids/UUIDs; 'auto' = all GPUs "
        "nvidia-smi sees, none on CPU-only hosts",
    )
    shm_size: str = Field(
        "256m", pattern=r"^[0-9]+[bkmg]?$", description="docker: /dev/shm for the python backend"
    )
    docker_host: str | None = Field(None, description="docker: daemon URL; default DOCKER_HOST")
    http_port: int | None = Field(None, ge=1, le=65535, description="docker: fixed port")
    grpc_port: int | None = Field(None, ge=1, le=65535, description="docker: fixed port")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="docker: fixed port")
    image_signature: Signer | None = Field(
        None,
        description="docker: who must have signed the image (key, or identity + issuer); the "
        "image is then resolved to a digest, verified in its registry and run by that digest",
    )
    url: str | None = Field(
        None,
        pattern=r"^(http|grpc)://[^/:\s]+:[0-9]{1,5}/?$",
        description="remote: the server, e.g. http://triton:8000 or grpc://triton:8001",
    )

    @model_validator(mode="after")
    def _keys_match_kind(self) -> LauncherConfig:
        for kind, keys in _KIND_KEYS.items():
            if kind == self.kind:
                continue
            for key in keys:
                if key in self.model_fields_set and getattr(self, key) is not None:
                    raise PydanticCustomError(
                        "launcher_kind",
                        "'{key}' applies to launcher.kind {owner} only (kind is {kind})",
                        {"key": key, "owner": kind, "kind": self.kind},
                    )
        if self.kind == "remote" and self.url is None:
            raise PydanticCustomError(
                "launcher_url", "launcher.kind remote needs 'url' (http://HOST:PORT)", {}
            )
        return self

    @property
    def image_ref(self) -> str:
        """The docker image to run."""
        return self.image or f"nvcr.io/nvidia/tritonserver:{self.triton_tag}-py3"


class TrafficConfig(Strict):
    """The recorded requests to replay (``gate-traffic/1``: ``gate traffic import`` makes it
    from Triton traces or perf_analyzer JSON; ``gate traffic synth`` invents some)."""

    path: Path = Field(description="gate-traffic/1 JSONL, optionally gzip")
    warmup_requests: int = Field(
        50, ge=0, le=100_000, description="requests sent first and not measured"
    )


class MeasureConfig(Strict):
    perf_analyzer: Path | None = Field(None, description="explicit perf_analyzer binary")
    protocol: Literal["http", "grpc"] = Field("http", description="how perf_analyzer sends")
    timeout_s: float = Field(
        300,
        gt=0,
        le=86_400,
        description="the most one perf_analyzer attempt may run (the last attempt gets all of "
        "it; earlier ones 3x their work, at least 10 s)",
    )
    retries: int = Field(2, ge=0, le=10, description="extra attempts after a hang or crash")
    max_threads: int = Field(4, ge=1, le=256, description="perf_analyzer's sending threads")
    runs: int = Field(1, ge=1, le=50, description="candidate replays per gate check")
    confirm_runs: int = Field(
        1,
        ge=0,
        le=10,
        description="when a check against the stored baseline fails, replay the candidate "
        "this many more times on fresh servers and judge all its runs before blocking (0: "
        "block on the first runs)",
    )
    cpu_affinity: Literal["auto", "on", "off"] = Field(
        "auto",
        description="tritonserver and perf_analyzer on disjoint cores (local and docker "
        "launchers): on = whenever there are 2 cores or more, auto = from 4 (on 2 cores the "
        "A/A latency spread grew) and on 2-3 cores only while throughput is measured (there "
        "the split quieted it), off = never",
    )

    @field_validator("cpu_affinity", mode="before")
    @classmethod
    def _yaml_switch(cls, value: Any) -> Any:
        """YAML reads a bare ``on``/``off`` as a boolean: take it as the word written."""
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class LoadConfig(Strict):
    """How the replay sends the recorded payloads.

    ``recorded`` (default): the recorded arrival times. ``rate``: ``rate_rps`` requests/s for
    ``duration_s`` (constant gaps, or seeded exponential gaps for ``arrival: poisson``).
    ``concurrency``: closed loop with ``concurrency`` requests in flight, ``requests`` of them
    (default: as many as recorded). Payloads are the recorded ones, cycled in order, so a
    baseline and a candidate replayed in the same mode pair by request index.
    """

    mode: Literal["recorded", "rate", "concurrency"] = Field(
        "recorded", description="recorded arrival times, a fixed rate, or a closed loop"
    )
    rate_rps: float | None = Field(None, gt=0, le=1_000_000, description="rate: requests/s")
    duration_s: float | None = Field(None, gt=0, le=86_400, description="rate: seconds sent")
    arrival: Literal["constant", "poisson"] | None = Field(
        None, description="rate: constant gaps (default) or seeded exponential gaps"
    )
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="seed of the poisson arrivals")
    concurrency: int | None = Field(None, ge=1, le=1024, description="concurrency: in flight")
    requests: int | None = Field(
        None, ge=1, le=10_000_000, description="concurrency: how many (default: as recorded)"
    )

    @model_validator(mode="after")
    def _fields_of_mode(self) -> LoadConfig:
        keys = ("rate_rps", "duration_s", "arrival", "seed", "concurrency", "requests")
        given = {k for k in keys if getattr(self, k) is not None}
        allowed = {
            "recorded": set(),
            "rate": {"rate_rps", "duration_s", "arrival", "seed"},
            "concurrency": {"concurrency", "requests"},
        }[self.mode]
        extra = sorted(given - allowed)
        if extra:
            raise ValueError(
                f"load.mode '{self.mode}' does not use {', '.join(extra)}: remove "
                f"{'it' if len(extra) == 1 else 'them'} or change the mode"
            )
        if self.mode == "rate":
            missing = [k for k in ("rate_rps", "duration_s") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"load.mode 'rate' needs {' and '.join(missing)}")
            assert self.rate_rps is not None and self.duration_s is not None
            n = round(self.rate_rps * self.duration_s)
            if not 1 <= n <= 10_000_000:
                raise ValueError(
                    f"load.rate_rps x load.duration_s = {n} requests; it must be 1..10000000"
                )
            if self.seed is not None and self.arrival != "poisson":
                raise ValueError("load.seed is only used with arrival: poisson")
        if self.mode == "concurrency" and self.concurrency is None:
            raise ValueError("load.mode 'concurrency' needs concurrency (requests in flight)")
        return self

    def describe(self) -> str:
        """A short stable label, stored with the samples: a baseline pairs only with a run
        replayed the same way."""
        if self.mode == "rate":
            arrival = self.arrival or "constant"
            seed = f":seed={self.seed or 0}" if arrival == "poisson" else ""
            return f"rate:{self.rate_rps:g}rps:{self.duration_s:g}s:{arrival}{seed}"
        if self.mode == "concurrency":
            return f"concurrency:{self.concurrency}:{self.requests or 'recorded'}"
        return "recorded"


class BaselineConfig(Strict):
    store: str = Field(
        ".gate/baselines",
        min_length=1,
        description="a local folder, or an fsspec URL such as s3://bucket/prefix",
    )
    runs: int = Field(3, ge=2, le=50, description="replays, each on a fresh server")
    model_dir: Path | None = Field(
        None,
        description="the baseline model's folder (holding config.pbtxt), or a repository "
        "holding <model.name>/: when set, latency is judged by live A/B in one server",
    )
    ab_from_store: bool = Field(
        False,
        description="without model_dir: use the folder the stored baseline was recorded from "
        "as the baseline model, if its files still hash to the stored model digest",
    )
    ab_block_size: int | None = Field(
        None,
        ge=10,
        le=100_000,
        description="requests per interleaved A/B block; default: about 0.2 s of the recorded "
        "traffic (10 to 100 requests), or 100 when the traffic is untimed",
    )
    ab_block_warmup: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description="warm-up requests before each A/B block (discarded); default: 2 for "
        "timed traffic, 5 for untimed (each block is then a perf_analyzer process of its own)",
    )
    ab_together: bool = Field(
        False,
        description="timed traffic: replay both arms at the same moment (the same requests "
        "on the same schedule, one perf_analyzer per arm) instead of in alternating time "
        "slots; both requests of a pair meet the same machine load, but also each other",
    )
    ab_throughput_together: list[Annotated[int, Field(ge=1)]] = Field(
        [1],
        max_length=32,
        description="throughput levels (concurrency) whose window pairs are measured with "
        "both arms at the same moment (a closed-loop perf_analyzer per arm, windows cut on "
        "one clock) instead of one arm after the other: both arms meet the same machine "
        "speed, so a pair decides sooner, but each shares the server with the other's load. "
        "Default: concurrency 1, where the arms do not saturate the server (measured on 2 "
        "cores: 5x less variance per second at c=1, 1.6x more at c=4); [] for none",
    )
    ab_throughput_slot_s: float = Field(
        0.25,
        ge=0,
        le=5,
        description="the other throughput levels: each arm's closed loop in interleaved time "
        "slots of this many seconds (one perf_analyzer per arm and round, both started "
        "together), so a pair's two measurements are a fraction of a second apart instead of "
        "one one-second run after the other (measured on 2 cores at c=4: 3-10x less "
        "variance per second); 0: one run per arm, one after the other",
    )


class AccuracyConfig(Strict):
    """How to evaluate the eval set (what to judge is in the policy's ``accuracy:``)."""

    eval_set: Path = Field(description="gate-eval/1 JSONL(.gz) or .npz, see gate.inputs.evalset")
    output: str | None = Field(None, description="output to score; default the model's first")
    batch_size: int | None = Field(None, ge=1, description="default: the model's max_batch_size")
    concurrency: int = Field(4, ge=1, le=64, description="requests in flight")
    protocol: Literal["http", "grpc"] | None = Field(None, description="default measure.protocol")
    timeout_s: float = Field(300, gt=0, le=86_400, description="for the whole eval set")
    max_output_mb: float = Field(16, ge=0, description="bound on the outputs kept per run")
    custom_metrics: dict[str, str] = Field(
        default_factory=dict, description="name: module:function (per-sample score)"
    )


class ReportsConfig(Strict):
    dir: Path = Field(
        Path("reports"), description="run.json, junit.xml, summary.md, report.html and logs/"
    )
    history: Path | None = Field(
        None, description="JSON-lines file each gate check appends its summary to (trends)"
    )


NotifyEvent = Literal["blocked", "inconclusive", "error", "recovery"]
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class NotifyConfig(Strict):
    """Who hears about a verdict (``gate check --notify``, ``gate notify``).

    Webhook URLs are secrets: the config names the environment variable that holds one
    (set from a CI secret), never the URL itself; a URL here is refused (exit 2).
    """

    events: tuple[NotifyEvent, ...] = Field(
        ("blocked", "error"),
        description="which outcomes notify: blocked, inconclusive, error, recovery (to PASS)",
    )
    slack_webhook_env: str | None = Field(
        "GATE_SLACK_WEBHOOK", pattern=_ENV_NAME, description="variable holding a Slack webhook"
    )
    webhook_env: str | None = Field(
        "GATE_WEBHOOK_URL", pattern=_ENV_NAME, description="variable holding a JSON webhook URL"
    )
    timeout_s: float = Field(10, gt=0, le=60, description="per attempt")
    retries: int = Field(2, ge=0, le=5, description="extra attempts after a timeout or 5xx")


class GateConfig(Strict):
    """The contents of ``gate.yaml``."""

    version: Literal[1] = Field(1, description="format version of this file")
    model: ModelConfig
    launcher: LauncherConfig = LauncherConfig()
    traffic: TrafficConfig
    measure: MeasureConfig = MeasureConfig()
    baseline: BaselineConfig = BaselineConfig()
    load: LoadConfig = LoadConfig()
    policy: Path | None = Field(None, description="policy YAML; the built-in default if unset")
    reports: ReportsConfig = ReportsConfig()
    notify: NotifyConfig = NotifyConfig()
    accuracy: AccuracyConfig | None = None
    signatures: SignaturePolicy | None = Field(
        None, description="trusted signers; overrides the policy's signatures: section"
    )


def _resolve(
    base: Path, p: Path | None, field: str = "", source: Path | None = None
) -> Path | None:
    """``p`` made absolute against ``base`` with symlinks resolved; a symlink loop or an
    unresolvable path is a ConfigError naming the field (never a RuntimeError)."""
    if p is None:
        return None
    try:
        p = p.expanduser()
        return (p if p.is_absolute() else (base / p)).resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop (Python < 3.13)
        where = f"{source}: field '{field}'" if source and field else str(p)
        raise ConfigError(
            f"{where}: cannot resolve {p} ({e})",
            hint="fix the path (a symlink that points at itself or a loop of symlinks?)",
        ) from None


def _strings(value: Any, where: str) -> list[tuple[str, str]]:
    """Every string inside ``value`` (lists and mappings walked) with its dotted field."""
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _strings(v, f"{where}.{k}")]
    if isinstance(value, list | tuple):
        return [x for i, v in enumerate(value) for x in _strings(v, f"{where}[{i}]")]
    return []


def _reject_webhook_urls(path: Path, data: dict[str, Any]) -> None:
    """Refuse a URL anywhere in ``notify:`` (nested in a list too) without echoing it: it is
    a leaked secret."""
    section = data.get("notify")
    if not isinstance(section, dict):
        return
    for field, value in _strings(section, "notify"):
        if "://" in value or "/" in value:
            raise ConfigError(
                f"{path}: field '{field}' holds a URL (not shown); webhook URLs are "
                "secrets and must not be in the repository",
                hint="store it as a CI secret exported in an environment variable and set "
                "notify.slack_webhook_env / notify.webhook_env to the variable's name "
                "(and rotate the webhook: it was committed)",
            )


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``data`` with ``KEY.SUB=VALUE`` overrides applied (``gate check --set``).

    The value is read as YAML (``3`` is a number, ``[a, b]`` a list, ``null`` unsets), so an
    override is exactly what the same line in ``gate.yaml`` would be; relative paths are
    then resolved against the config file's folder like every other path.
    """
    out: dict[str, Any] = dict(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(
                f"--set {item!r}: expected KEY=VALUE", hint="e.g. --set launcher.kind=docker"
            )
        try:
            value = load_yaml(raw) if raw.strip() else ""
        except (DuplicateKeyError, TooManyAliasesError) as e:
            raise ConfigError(
                f"--set {key.strip()}: {getattr(e, 'problem', e)}",
                hint="give each key once (YAML would silently keep only the last)",
            ) from None
        except (yaml.YAMLError, RecursionError):
            value = raw  # not YAML: the plain string, as the same line in gate.yaml reads
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def load_config(path: Path, overrides: Sequence[str] = ()) -> GateConfig:
    """Load ``gate.yaml``; relative paths become relative to the config file's folder.

    ``overrides`` are ``KEY.SUB=VALUE`` strings applied on top (see ``apply_overrides``).
    """
    data = read_yaml(path, "config")
    _reject_webhook_urls(path, data)
    if overrides:
        data = apply_overrides(data, overrides)
        _reject_webhook_urls(Path(f"{path} (with --set)"), data)
    try:
        cfg = GateConfig.model_validate(data)
    except ValidationError as e:
        where = Path(f"{path} (with --set)") if overrides else path
        raise validation_message(where, e, GateConfig) from None
    try:
        base = path.resolve().parent
    except (OSError, RuntimeError) as e:
        raise ConfigError(f"{path}: cannot resolve the config file's folder ({e})") from None
    cfg = cfg.model_copy(
        update={
            "model": cfg.model.model_copy(
                update={
                    "repository": cfg.model.repository
                    if cfg.model.artifact
                    else _resolve(base, cfg.model.repository, "model.repository", path)
                }
            ),
            "traffic": cfg.traffic.model_copy(
                update={"path": _resolve(base, cfg.traffic.path, "traffic.path", path)}
            ),
            "baseline": cfg.baseline.model_copy(
                update={
                    "store": cfg.baseline.store
                    if "://" in cfg.baseline.store
                    else str(_resolve(base, Path(cfg.baseline.store), "baseline.store", path)),
                    "model_dir": _resolve(base, cfg.baseline.model_dir, "baseline.model_dir", path),
                }
            ),
            "reports": cfg.reports.model_copy(
                update={"dir": _resolve(base, cfg.reports.dir, "reports.dir", path)}
            ),
            "policy": _resolve(base, cfg.policy, "policy", path),
            "launcher": cfg.launcher.model_copy(
                update={
                    "tritonserver": _resolve(
                        base, cfg.launcher.tritonserver, "launcher.tritonserver", path
                    )
                }
            ),
            "measure": cfg.measure.model_copy(
                update={
                    "perf_analyzer": _resolve(
                        base, cfg.measure.perf_analyzer, "measure.perf_analyzer", path
                    )
                }
            ),
        }
    )
    if cfg.accuracy is not None:
        cfg = cfg.model_copy(
            update={
                "accuracy": cfg.accuracy.model_copy(
                    update={
                        "eval_set": _resolve(base, cfg.accuracy.eval_set, "accuracy.eval_set", path)
                    }
                )
            }
        )
    if cfg.reports.history is not None:
        history = _resolve(base, cfg.reports.history, "reports.history", path)
        reports = cfg.reports.model_copy(update={"history": history})
        cfg = cfg.model_copy(update={"reports": reports})
    return cfg


def check_model_dir(cfg: GateConfig, config_path: Path, *, from_option: str = "") -> Path:
    """The model's own folder inside the repository, or a ConfigError saying what is missing.

    ``from_option`` names the command-line option the repository came from (e.g.
    ``--model-repository``), so the error blames it rather than the config file's field.
    """
    repo = cfg.model.repository
    source = from_option or f"{config_path}: field 'model.repository'"
    if not repo.is_dir():
        what = "is not a folder" if repo.exists() else "does not exist"
        raise ConfigError(
            f"{source}: {repo} {what}",
            hint="point it at the Triton model repository that holds the model's folder",
        )
    model_dir = repo / cfg.model.name
    if not model_dir.is_dir():
        raise ConfigError(
            f"{config_path}: field 'model.name': no folder '{cfg.model.name}' in {repo}"
            + (f" ({from_option})" if from_option else ""),
            hint="the repository must contain <name>/config.pbtxt and a version folder",
        )
    return model_dir
