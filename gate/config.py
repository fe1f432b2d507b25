"""Gate config (``gate.yaml``) and policy (``policies/*.yaml``): validated, typed, strict.

Unknown keys are errors, never silently ignored (Kayenta's pitfall of falling back to
defaults on a typo): a misspelt tolerance must not turn into a gate that never blocks.
Every error is one line naming the file, the field and the fix, and maps to exit code 2.
Relative paths in a config file are resolved against the folder of that file, so a config
works the same whatever directory CI runs it from.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gate.errors import ConfigError
from gate.signing.policy import SignaturePolicy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------


class Mode(str, Enum):
    """How a check decides.

    ``regression``: block only on demonstrated harm beyond the tolerance (H0: change <= tol).
    ``non_inferiority``: block unless the data show the change is within the tolerance
    (H0: change >= tol); a short or noisy run then blocks rather than passes.
    """

    REGRESSION = "regression"
    NON_INFERIORITY = "non_inferiority"


class CheckFlags(_Strict):
    """How a check's outcome feeds the verdict (see ``gate.judge.decide``).

    ``blocking`` (default): a failure blocks. ``blocking: false`` makes the check advisory:
    it is judged and reported (a failure is a warning), but never changes the verdict.
    ``critical``: a failure blocks whatever else happened in the run (even when another
    check errored, and even with ``blocking: false``), and being inconclusive blocks even
    under ``inconclusive: pass``. Other checks' policy classes inherit these two keys.
    """

    critical: bool = False
    blocking: bool = True


class ShiftCheck(CheckFlags):
    """The paired shift of the typical (median-like) per-request latency."""

    enabled: bool = True
    tolerance: float = Field(0.05, gt=0, lt=10, description="relative slowdown allowed")
    mode: Mode = Mode.REGRESSION


class TailCheck(CheckFlags):
    """A latency percentile: candidate/baseline ratio with a paired bootstrap CI."""

    percentile: float = Field(gt=0, lt=100, description="e.g. 50, 90, 99 or 'p99'")
    tolerance: float = Field(0.10, gt=0, lt=10)
    mode: Mode = Mode.REGRESSION
    enabled: bool = True

    @field_validator("percentile", mode="before")
    @classmethod
    def _p_prefix(cls, v: Any) -> Any:
        """Accept the names people use: ``p99``, ``P99.9`` as well as ``99``."""
        if isinstance(v, str) and v[:1] in "pP":
            try:
                return float(v[1:])
            except ValueError:
                return v
        return v


class LatencyPolicy(_Strict):
    shift: ShiftCheck = ShiftCheck()
    tails: tuple[TailCheck, ...] = (TailCheck(percentile=95, tolerance=0.10),)
    bootstrap_resamples: int = Field(2000, ge=200, le=100_000)
    min_requests: int = Field(50, ge=10)
    min_baseline_runs: int = Field(
        2, ge=2, description="runs needed to estimate run-to-run drift; fewer is an error"
    )

    @field_validator("tails")
    @classmethod
    def _unique_percentiles(cls, v: tuple[TailCheck, ...]) -> tuple[TailCheck, ...]:
        seen = [t.percentile for t in v]
        if len(seen) != len(set(seen)):
            raise ValueError("each percentile may appear once")
        return v


class AccuracyCheck(CheckFlags):
    """One accuracy metric judged paired per sample against the baseline's stored scores.

    ``tolerance``: for proportions (top1, topK) the largest acceptable **drop in absolute
    terms** (0.01 = one percentage point); for continuous scores (mae, mse, user metrics) the
    largest acceptable relative worsening of the mean (0.05 = 5%).
    """

    metric: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    tolerance: float = Field(gt=0, lt=1)
    mode: Mode = Mode.NON_INFERIORITY
    enabled: bool = True


class AccuracyPolicy(_Strict):
    """Accuracy checks; they run when ``accuracy.eval_set`` is set in gate.yaml."""

    enabled: bool = True
    checks: tuple[AccuracyCheck, ...] | None = Field(
        None,
        description="default: top1 (tolerance 0.01) for class labels, mae (0.05) for targets",
    )
    min_accuracy: float | None = Field(
        None, gt=0, lt=1, description="absolute floor on top-1 accuracy (needs no baseline)"
    )
    min_samples: int = Field(200, ge=10, description="smaller eval sets are an error")

    @field_validator("checks")
    @classmethod
    def _unique_metrics(
        cls, v: tuple[AccuracyCheck, ...] | None
    ) -> tuple[AccuracyCheck, ...] | None:
        names = [c.metric for c in v or ()]
        if len(names) != len(set(names)):
            raise ValueError("each metric may appear once")
        return v


class AgreementPolicy(_Strict):
    """Output agreement with the baseline model, for "same model, faster engine" changes."""

    enabled: bool = False
    min_top1: float | None = Field(
        0.99, gt=0, le=1, description="share of samples whose top-1 class is unchanged"
    )
    max_abs_diff: float | None = Field(None, gt=0, description="largest |Δ| of any output value")
    p99_abs_diff: float | None = Field(None, gt=0, description="99th percentile of |Δ|")
    mode: Mode = Mode.NON_INFERIORITY


class SloPolicy(_Strict):
    """Absolute service-level objectives, judged with their own CI; no baseline needed.

    Each objective is ``"METRIC <= LIMIT"`` or ``"METRIC >= LIMIT"``, e.g.
    ``latency.p95_ms <= 82``, ``accuracy.top1 >= 0.943``, ``memory.host_mb <= 1200``
    (short forms ``p95_ms`` and ``accuracy`` also work). ``non_inferiority`` (default)
    passes only when the CI shows the objective met; ``regression`` blocks only when the CI
    shows it broken.
    """

    mode: Mode = Mode.NON_INFERIORITY
    objectives: tuple[str, ...] = ()

    @field_validator("objectives")
    @classmethod
    def _parse(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from gate.checks.slo import parse_objective

        for text in v:
            parse_objective(text)  # ValueError names what is wrong
        return v


class MemoryPolicy(CheckFlags):
    """Memory attributable to the model, sampled while the traffic replays.

    Per run: the server's memory before the model is loaded (explicit model control), after
    it is loaded, and a series sampled every ``interval_ms`` during the replay; the judged
    series is each sample minus the before-load level. A candidate blocks (regression mode)
    when it is shown to use more than ``(1 + tolerance) * baseline + slack_mib``.
    """

    enabled: bool = True
    sources: tuple[Literal["host", "gpu"], ...] = Field(
        ("host", "gpu"),
        description="host: RSS of the server's process tree; gpu: Triton's GPU memory metric",
    )
    tolerance: float = Field(0.10, ge=0, lt=10, description="relative growth allowed")
    slack_mib: float = Field(32, ge=0, le=1_048_576, description="absolute growth allowed on top")
    mode: Mode = Mode.REGRESSION
    peak: bool = Field(False, description="also judge the per-run peak (run-level test only)")
    interval_ms: int = Field(100, ge=10, le=10_000, description="sampling interval")
    settle_ms: int = Field(300, ge=0, le=60_000, description="sampling before/after the load")
    max_samples: int = Field(20_000, ge=100, le=1_000_000, description="per run and source")

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) != len(set(v)):
            raise ValueError("each source may appear once")
        return v


class ThroughputPolicy(CheckFlags):
    """Inferences/s at fixed concurrency levels, over repeated measurement windows.

    Each level runs perf_analyzer closed-loop with the recorded payloads (cycled) for
    ``warmup_requests + windows * window_requests`` requests plus a short cool-down; a window
    is ``window_requests`` consecutive completions. Regression mode blocks a drop shown to be
    larger than ``tolerance`` (0.10 = 10% fewer inferences/s allowed).
    """

    enabled: bool = True
    concurrency: tuple[int, ...] = Field((1, 4), description="closed-loop concurrency levels")
    tolerance: float = Field(0.10, gt=0, lt=1, description="relative drop allowed")
    mode: Mode = Mode.REGRESSION
    windows: int = Field(5, ge=2, le=1000)
    window_requests: int = Field(200, ge=10, le=1_000_000)
    warmup_requests: int = Field(50, ge=0, le=1_000_000)

    @field_validator("concurrency")
    @classmethod
    def _levels(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(c < 1 or c > 1024 for c in v):
            raise ValueError("each concurrency level must be between 1 and 1024")
        if len(v) != len(set(v)):
            raise ValueError("each concurrency level may appear once")
        return tuple(sorted(v))

    @model_validator(mode="after")
    def _levels_when_enabled(self) -> ThroughputPolicy:
        if self.enabled and not self.concurrency:
            raise ValueError("throughput.concurrency is empty: name levels or set enabled: false")
        return self


class ABPolicy(_Strict):
    """Statistics of the live A/B latency judge (``gate.ab``).

    ``test`` picks the paired shift test. ``batch+block`` (default) blocks only when both
    of these agree (intersection-union, p = the larger): ``batch``, Wilcoxon on means of
    ``batch`` consecutive log ratios (precise, and robust to the server's short-range
    autocorrelation), and ``block``, a t-test on the per-block median log ratios (robust to
    load that changes between blocks, which on a shared machine is large: measured here,
    ``batch`` alone false-alarmed in 4 of 10 real A/A runs, benchmarks/README.md).
    ``request`` (each request's log ratio) is kept for comparison only: it is not
    level-alpha under autocorrelated noise.
    """

    test: Literal["batch+block", "batch", "request", "block"] = "batch+block"

    batch: int = Field(
        10,
        ge=1,
        le=10_000,
        description="consecutive requests averaged into one unit of the paired test, so that "
        "short-range autocorrelation of the server's noise does not inflate the evidence",
    )


class Policy(_Strict):
    """Tolerances and error rates: what counts as a regression, and how sure we must be."""

    version: Literal[1] = 1
    alpha: float = Field(
        0.05, gt=0, lt=0.5, description="family-wise false-alarm rate across the checks of a run"
    )
    seed: int = Field(20261128, description="seed of every resampling, so verdicts reproduce")
    power: float = Field(0.8, gt=0.5, lt=1, description="power used for minimum detectable effects")
    latency: LatencyPolicy = LatencyPolicy()
    accuracy: AccuracyPolicy = AccuracyPolicy()
    agreement: AgreementPolicy = AgreementPolicy()
    slo: SloPolicy = SloPolicy()
    signatures: SignaturePolicy | None = Field(
        None, description="who must have signed the model's files (gate.yaml's section wins)"
    )
    memory: MemoryPolicy = MemoryPolicy()
    throughput: ThroughputPolicy = ThroughputPolicy()
    inconclusive: Literal["block", "pass"] = Field(
        "block",
        description="what an INCONCLUSIVE verdict (a check too noisy to detect a 2x-tolerance "
        "change at the policy's power) does: block (exit 1) or pass (exit 0 with a warning)",
    )
    ab: ABPolicy = ABPolicy()


# --------------------------------------------------------------------------------------
# Gate config
# --------------------------------------------------------------------------------------


class ModelConfig(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    repository: Path = Field(description="Triton model repository holding the model's folder")
    version: str | None = Field(None, pattern=r"^[0-9]+$")


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
    ),
    "remote": ("url",),
}


class LauncherConfig(_Strict):
    """Where the Triton server comes from: ``local`` (a child process), ``docker`` (a
    throwaway container, the production path on GPU runners) or ``remote`` (a server that
    already runs; nothing is started or stopped)."""

    kind: Literal["local", "docker", "remote"] = "local"
    tritonserver: Path | None = Field(None, description="local: explicit tritonserver binary")
    startup_timeout_s: float = Field(60, gt=0, le=3600)
    load_timeout_s: float = Field(180, gt=0, le=3600)
    stop_timeout_s: float = Field(15, gt=0, le=600)
    extra_args: tuple[str, ...] = ()
    image: str | None = Field(
        None,
        min_length=1,
        description="docker: image to run; default nvcr.io/nvidia/tritonserver:<triton_tag>-py3",
    )
    triton_tag: str = Field(DEFAULT_TRITON_TAG, pattern=r"^[0-9]{2}\.[0-9]{2}$")
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


class TrafficConfig(_Strict):
    path: Path
    warmup_requests: int = Field(50, ge=0, le=100_000)


class MeasureConfig(_Strict):
    perf_analyzer: Path | None = Field(None, description="explicit perf_analyzer binary")
    protocol: Literal["http", "grpc"] = "http"
    timeout_s: float = Field(300, gt=0, le=86_400, description="per perf_analyzer run")
    retries: int = Field(2, ge=0, le=10, description="extra attempts after a hang or crash")
    max_threads: int = Field(4, ge=1, le=256)
    runs: int = Field(1, ge=1, le=50, description="candidate replays per gate check")


class LoadConfig(_Strict):
    """How the replay sends the recorded payloads.

    ``recorded`` (default): the recorded arrival times. ``rate``: ``rate_rps`` requests/s for
    ``duration_s`` (constant gaps, or seeded exponential gaps for ``arrival: poisson``).
    ``concurrency``: closed loop with ``concurrency`` requests in flight, ``requests`` of them
    (default: as many as recorded). Payloads are the recorded ones, cycled in order, so a
    baseline and a candidate replayed in the same mode pair by request index.
    """

    mode: Literal["recorded", "rate", "concurrency"] = "recorded"
    rate_rps: float | None = Field(None, gt=0, le=1_000_000)
    duration_s: float | None = Field(None, gt=0, le=86_400)
    arrival: Literal["constant", "poisson"] | None = None
    seed: int | None = Field(None, description="seed of the poisson arrivals")
    concurrency: int | None = Field(None, ge=1, le=1024)
    requests: int | None = Field(None, ge=1, le=10_000_000)

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


class BaselineConfig(_Strict):
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
    ab_block_size: int = Field(
        100, ge=10, le=100_000, description="requests per interleaved A/B block"
    )
    ab_block_warmup: int = Field(
        5, ge=0, le=10_000, description="warm-up requests before each A/B block (discarded)"
    )


class AccuracyConfig(_Strict):
    """How to evaluate the eval set (what to judge is in the policy's ``accuracy:``)."""

    eval_set: Path = Field(description="gate-eval/1 JSONL(.gz) or .npz, see gate.evalset")
    output: str | None = Field(None, description="output to score; default the model's first")
    batch_size: int | None = Field(None, ge=1, description="default: the model's max_batch_size")
    concurrency: int = Field(4, ge=1, le=64, description="requests in flight")
    protocol: Literal["http", "grpc"] | None = Field(None, description="default measure.protocol")
    timeout_s: float = Field(300, gt=0, le=86_400)
    max_output_mb: float = Field(16, ge=0, description="bound on the outputs kept per run")
    custom_metrics: dict[str, str] = Field(
        default_factory=dict, description="name: module:function (per-sample score)"
    )


class ReportsConfig(_Strict):
    dir: Path = Path("reports")
    history: Path | None = Field(
        None, description="JSON-lines file each gate check appends its summary to (trends)"
    )


NotifyEvent = Literal["blocked", "inconclusive", "error", "recovery"]
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class NotifyConfig(_Strict):
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


class GateConfig(_Strict):
    """The contents of ``gate.yaml``."""

    version: Literal[1] = 1
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


_FIXES: dict[str, str] = {
    "extra_forbidden": "remove it or correct its spelling",
    "missing": "add it",
}


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<top level>"


def _validation_message(path: Path, exc: ValidationError, model: type[BaseModel]) -> ConfigError:
    err = exc.errors()[0]
    field = _format_loc(tuple(err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = f"{path}: unknown key '{field}'"
        fix = _FIXES[kind]
        allowed = _allowed_keys(model, tuple(err["loc"])[:-1])
        if allowed:
            fix += f" (allowed here: {', '.join(allowed)})"
    elif kind == "missing":
        msg = f"{path}: required field '{field}' is missing"
        fix = "add it"
    elif kind == "launcher_kind":
        msg = f"{path}: field '{field}': {err['msg']}"
        fix = "remove the key or change launcher.kind (see README: Launchers)"
    elif kind == "launcher_url":
        msg = f"{path}: field '{field}': {err['msg']}"
        fix = "add launcher.url, e.g. url: http://127.0.0.1:8000"
    else:
        got = err.get("input")
        got_s = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        msg = f"{path}: field '{field}': {err['msg']} (got {got_s})"
        fix = "correct the value"
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(msg, hint=fix)


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        ann = fields[part].annotation
        current = _model_in(ann)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def _model_in(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def read_yaml(path: Path, what: str) -> dict[str, Any]:
    """Read a YAML mapping, turning every failure into a one-line ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: {what} file not found", hint="check the path or create the file"
        ) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what} file: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(
            f"{path}: not valid YAML{where}: {problem}", hint="fix the YAML syntax"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: {what} must be a YAML mapping, got {type(data).__name__}",
            hint="write 'key: value' pairs at the top level",
        )
    return data


def load_policy(path: Path | None) -> Policy:
    """Load a policy file; ``None`` gives the built-in defaults (same as policies/default.yaml)."""
    if path is None:
        return Policy()
    data = read_yaml(path, "policy")
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        raise _validation_message(path, e, Policy) from None


def _resolve(base: Path, p: Path | None) -> Path | None:
    if p is None:
        return None
    p = p.expanduser()
    return (p if p.is_absolute() else (base / p)).resolve()


def _reject_webhook_urls(path: Path, data: dict[str, Any]) -> None:
    """Refuse a URL anywhere in ``notify:`` without echoing it (it is a leaked secret)."""
    section = data.get("notify")
    if not isinstance(section, dict):
        return
    for key, value in section.items():
        if isinstance(value, str) and ("://" in value or "/" in value):
            raise ConfigError(
                f"{path}: field 'notify.{key}' holds a URL (not shown); webhook URLs are "
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
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
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
        raise _validation_message(where, e, GateConfig) from None
    base = path.resolve().parent
    cfg = cfg.model_copy(
        update={
            "model": cfg.model.model_copy(
                update={"repository": _resolve(base, cfg.model.repository)}
            ),
            "traffic": cfg.traffic.model_copy(update={"path": _resolve(base, cfg.traffic.path)}),
            "baseline": cfg.baseline.model_copy(
                update={
                    "store": cfg.baseline.store
                    if "://" in cfg.baseline.store
                    else str(_resolve(base, Path(cfg.baseline.store))),
                    "model_dir": _resolve(base, cfg.baseline.model_dir),
                }
            ),
            "reports": cfg.reports.model_copy(update={"dir": _resolve(base, cfg.reports.dir)}),
            "policy": _resolve(base, cfg.policy),
            "launcher": cfg.launcher.model_copy(
                update={"tritonserver": _resolve(base, cfg.launcher.tritonserver)}
            ),
            "measure": cfg.measure.model_copy(
                update={"perf_analyzer": _resolve(base, cfg.measure.perf_analyzer)}
            ),
        }
    )
    if cfg.accuracy is not None:
        cfg = cfg.model_copy(
            update={
                "accuracy": cfg.accuracy.model_copy(
                    update={"eval_set": _resolve(base, cfg.accuracy.eval_set)}
                )
            }
        )
    if cfg.reports.history is not None:
        history = _resolve(base, cfg.reports.history)
        reports = cfg.reports.model_copy(update={"history": history})
        cfg = cfg.model_copy(update={"reports": reports})
    return cfg


def check_model_dir(cfg: GateConfig, config_path: Path) -> Path:
    """The model's own folder inside the repository, or a ConfigError saying what is missing."""
    repo = cfg.model.repository
    if not repo.is_dir():
        raise ConfigError(
            f"{config_path}: field 'model.repository': folder {repo} does not exist",
            hint="point it at the Triton model repository that holds the model's folder",
        )
    model_dir = repo / cfg.model.name
    if not (model_dir / "config.pbtxt").is_file() and not model_dir.is_dir():
        raise ConfigError(
            f"{config_path}: field 'model.name': no folder '{cfg.model.name}' in {repo}",
            hint="the repository must contain <name>/config.pbtxt and a version folder",
        )
    return model_dir
