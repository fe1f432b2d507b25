"""The policy (built in: ``gate/data/policy.yaml``; others: ``policies/*.yaml``): which checks
run, their tolerances, alpha and power.

Strict like every config file: an unknown key is an error, so a misspelt tolerance never
turns into a gate that never blocks.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, WithJsonSchema, field_validator, model_validator

from gate.config.signatures import SignaturePolicy
from gate.config.yaml import Strict, read_yaml, validation_message


class Mode(str, Enum):
    """How a check decides.

    ``regression``: block only on demonstrated harm beyond the tolerance (H0: change <= tol).
    ``non_inferiority``: block unless the data show the change is within the tolerance
    (H0: change >= tol); a short or noisy run then blocks rather than passes.
    """

    REGRESSION = "regression"
    NON_INFERIORITY = "non_inferiority"


_MODE = (
    "regression: block only on harm shown beyond the tolerance; non_inferiority: block "
    "unless shown within it"
)


class CheckFlags(Strict):
    """How a check's outcome feeds the verdict (see ``gate.judge.decide``).

    ``blocking`` (default): a failure blocks. ``blocking: false`` makes the check advisory:
    it is judged and reported (a failure is a warning), but never changes the verdict.
    ``critical``: a failure blocks whatever else happened in the run (even when another
    check errored, and even with ``blocking: false``), and being inconclusive blocks even
    under ``inconclusive: pass``. Other checks' policy classes inherit these two keys.
    """

    critical: bool = Field(False, description="a failure blocks whatever else happened")
    blocking: bool = Field(True, description="false: advisory, reported but never blocks")


class ShiftCheck(CheckFlags):
    """The paired shift of the typical (median-like) per-request latency."""

    enabled: bool = Field(True, description="judge the shift at all")
    tolerance: float = Field(0.05, gt=0, lt=10, description="relative slowdown allowed")
    mode: Mode = Field(Mode.REGRESSION, description=_MODE)


#: What editors may accept for a percentile: the validator below also takes ``p99``.
_PERCENTILE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
        {"type": "string", "pattern": "^[pP][0-9]+(\\.[0-9]+)?$"},
    ]
}


class TailCheck(CheckFlags):
    """A latency percentile: candidate/baseline ratio with a paired bootstrap CI."""

    percentile: Annotated[float, WithJsonSchema(_PERCENTILE_SCHEMA)] = Field(
        gt=0, lt=100, description="e.g. 50, 90, 99 or 'p99'"
    )
    tolerance: float = Field(0.10, gt=0, lt=10, description="relative slowdown allowed")
    mode: Mode = Field(Mode.REGRESSION, description=_MODE)
    enabled: bool = Field(True, description="judge this percentile at all")

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


class LatencyPolicy(Strict):
    shift: ShiftCheck = ShiftCheck()
    tails: tuple[TailCheck, ...] = (TailCheck(percentile=95, tolerance=0.10),)
    bootstrap_resamples: int = Field(
        2000, ge=200, le=100_000, description="resamples of the tail bootstrap (seeded)"
    )
    min_requests: int = Field(50, ge=10, description="fewer measured requests is an error")
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

    metric: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="top1, top5 (any topK), mae, mse, or a custom metric's name",
    )
    tolerance: float = Field(
        gt=0, lt=1, description="top1/topK: drop in points (0.01 = 1 pt); others: relative"
    )
    mode: Mode = Field(Mode.NON_INFERIORITY, description=_MODE)
    enabled: bool = Field(True, description="judge this metric at all")


class AccuracyPolicy(Strict):
    """Accuracy checks; they run when ``accuracy.eval_set`` is set in gate.yaml."""

    enabled: bool = Field(True, description="judge accuracy when an eval set is configured")
    checks: tuple[AccuracyCheck, ...] | None = Field(
        None,
        description="default: top1 (tolerance 0.01) for class labels, mae (0.05) for targets",
    )
    min_accuracy: float | None = Field(
        None, gt=0, lt=1, description="absolute floor on top-1 accuracy (needs no baseline)"
    )
    min_samples: int = Field(200, ge=10, description="smaller eval sets are an error")
    allow_non_finite: bool = Field(
        False,
        description="accept NaN/inf input values in the eval set (refused by default: "
        "usually a broken export, not a test of the model)",
    )

    @field_validator("checks")
    @classmethod
    def _unique_metrics(
        cls, v: tuple[AccuracyCheck, ...] | None
    ) -> tuple[AccuracyCheck, ...] | None:
        names = [c.metric for c in v or ()]
        if len(names) != len(set(names)):
            raise ValueError("each metric may appear once")
        return v


class AgreementPolicy(Strict):
    """Output agreement with the baseline model, for "same model, faster engine" changes."""

    enabled: bool = Field(False, description="compare outputs with the baseline model's")
    min_top1: float | None = Field(
        0.99, gt=0, le=1, description="share of samples whose top-1 class is unchanged"
    )
    max_abs_diff: float | None = Field(None, gt=0, description="largest |Δ| of any output value")
    p99_abs_diff: float | None = Field(None, gt=0, description="99th percentile of |Δ|")
    mode: Mode = Field(Mode.NON_INFERIORITY, description=_MODE)


class SloPolicy(Strict):
    """Absolute service-level objectives, judged with their own CI; no baseline needed.

    Each objective is ``"METRIC <= LIMIT"`` or ``"METRIC >= LIMIT"``, e.g.
    ``latency.p95_ms <= 82``, ``accuracy.top1 >= 0.943``, ``memory.host_mb <= 1200``
    (short forms ``p95_ms`` and ``accuracy`` also work). ``non_inferiority`` (default)
    passes only when the CI shows the objective met; ``regression`` blocks only when the CI
    shows it broken.
    """

    mode: Mode = Field(Mode.NON_INFERIORITY, description=_MODE)
    objectives: tuple[str, ...] = Field(
        (), description='e.g. "latency.p95_ms <= 82", "accuracy.top1 >= 0.943"'
    )

    @field_validator("objectives")
    @classmethod
    def _parse(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from gate.config.slo import parse_objective

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

    enabled: bool = Field(True, description="judge memory at all")
    sources: tuple[Literal["host", "gpu"], ...] = Field(
        ("host", "gpu"),
        description="host: RSS of the server's process tree; gpu: Triton's GPU memory metric",
    )
    tolerance: float = Field(0.10, ge=0, lt=10, description="relative growth allowed")
    slack_mib: float = Field(32, ge=0, le=1_048_576, description="absolute growth allowed on top")
    mode: Mode = Field(Mode.REGRESSION, description=_MODE)
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

    enabled: bool = Field(True, description="measure and judge throughput at all")
    concurrency: tuple[int, ...] = Field((1, 4), description="closed-loop concurrency levels")
    tolerance: float = Field(0.10, gt=0, lt=1, description="relative drop allowed")
    mode: Mode = Field(Mode.REGRESSION, description=_MODE)
    windows: int = Field(5, ge=2, le=1000, description="measurement windows per level and run")
    window_requests: int = Field(200, ge=10, le=1_000_000, description="completions per window")
    warmup_requests: int = Field(50, ge=0, le=1_000_000, description="per level, not measured")

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


class ABPolicy(Strict):
    """How a check samples until the evidence decides, and the fixed-sample live A/B judge.

    ``gate check`` measures in rounds and looks at the evidence after each
    (``gate.judge.sequential``): a check stops as soon as its interval is wholly within or
    beyond its tolerance, the run when every gating check has stopped (or one failed). The
    budget is ``max_duration_s`` of measuring and ``max_requests`` requests per arm, whichever
    runs out first; a check still undecided then is INCONCLUSIVE. ``rho`` shapes how the error
    rate is spread over the budget (``alpha · t^rho`` spent by the share ``t``).

    ``test`` and ``batch`` configure the fixed-sample live A/B judge (``gate.judge.live_ab``,
    used by ``gate calibrate`` and the benchmarks to compare with).

    ``test`` picks the paired shift test. ``batch+block`` (default) blocks only when both
    of these agree (intersection-union, p = the larger): ``batch``, Wilcoxon on means of
    ``batch`` consecutive log ratios (precise, and robust to the server's short-range
    autocorrelation), and ``block``, a t-test on the per-block median log ratios (robust to
    load that changes between blocks, which on a shared machine is large: measured here,
    ``batch`` alone false-alarmed in 4 of 10 real A/A runs, benchmarks/README.md).
    ``request`` (each request's log ratio) is kept for comparison only: it is not
    level-alpha under autocorrelated noise.
    """

    test: Literal["batch+block", "batch", "request", "block"] = Field(
        "batch+block", description="the paired shift test (batch+block: both must agree)"
    )

    batch: int = Field(
        10,
        ge=1,
        le=10_000,
        description="consecutive requests averaged into one unit of the paired test, so that "
        "short-range autocorrelation of the server's noise does not inflate the evidence",
    )
    max_duration_s: float = Field(
        120,
        gt=0,
        le=86_400,
        description="measuring time a check may use before an undecided check is INCONCLUSIVE",
    )
    max_requests: int = Field(
        200_000, ge=100, le=100_000_000, description="requests per arm the rounds may send"
    )
    rho: float = Field(
        1.0,
        gt=0,
        le=10,
        description="spending shape: alpha·t^rho of the error rate is spent by the share t of "
        "the budget (1: evenly; larger keeps more for the end)",
    )


class Policy(Strict):
    """Tolerances and error rates: what counts as a regression, and how sure we must be."""

    version: Literal[1] = Field(1, description="format version of this file")
    alpha: float = Field(
        0.05, gt=0, lt=0.5, description="family-wise false-alarm rate across the checks of a run"
    )
    seed: int = Field(
        20261128,
        ge=0,
        le=2**63 - 1,
        description="seed of every resampling, so verdicts reproduce",
    )
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


#: The built-in policy inside the package (``gate policy show`` prints it).
DEFAULT_POLICY_RESOURCE = "data/policy.yaml"


def default_policy_path() -> Path:
    """The packaged default policy file: used when ``gate.yaml`` names no ``policy:``.

    It ships inside the wheel (``gate/data/``), so a run outside the repository checkout
    needs no policy file of its own; ``tests/test_packaging.py`` checks that it equals the
    models' defaults (``Policy()``).
    """
    from importlib.resources import files

    return Path(str(files("gate").joinpath(DEFAULT_POLICY_RESOURCE)))


def load_policy(path: Path | None) -> Policy:
    """Load a policy file; ``None`` gives the built-in policy (``gate/data/policy.yaml``)."""
    if path is None:
        path = default_policy_path()
    data = read_yaml(path, "policy", allow_empty=False)
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        raise validation_message(path, e, Policy) from None
