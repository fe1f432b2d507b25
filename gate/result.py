"""``RunResult``: the one canonical record of a gate run, and the values inside it.

Every stage writes into it; every report is a pure function of it; a crash mid-run still
leaves one with the stages that finished and the error that stopped the rest. It is plain
pydantic so it round-trips through JSON exactly (``gate report run.json`` re-renders later).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import os
import re
from enum import Enum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from gate.evidence import (
    ABInfo,
    AccuracyRecord,
    LatencyRun,
    MemoryRun,
    Sampling,
    ThroughputRun,
)
from gate.redact import redact

RUN_SCHEMA: Final = "gate-run/1"

#: A model name, as Triton's repository folders and the baseline store use it: a single path
#: component (no ``/``, no ``\\``), never ``.`` or ``..`` nor hidden (no leading dot). It is
#: a key in the store and a folder in the repository, so it is checked wherever it enters:
#: gate.yaml, a run.json, a traffic header, a baseline payload, a store listing.
MODEL_NAME_PATTERN: Final = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$"
_MODEL_NAME = re.compile(MODEL_NAME_PATTERN)

#: The environment variable holding the key a run's record is signed with (a CI secret).
RUN_KEY_ENV: Final = "GATE_RUN_KEY"


def is_model_name(name: object) -> bool:
    """Whether ``name`` is a model name the gate accepts (see ``MODEL_NAME_PATTERN``)."""
    return isinstance(name, str) and _MODEL_NAME.fullmatch(name) is not None


class Verdict(str, Enum):
    """The outcome of a run. Only PASS exits 0: the gate fails closed."""

    PASS = "PASS"
    BLOCKED = "BLOCKED"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"
    MEASURED = "MEASURED"  # replay / baseline record: samples taken, nothing judged
    #: passed under the base branch's rules, but the change edits those rules (signatures,
    #: policy, baseline store, tools): a person must review it; never merged automatically
    NEEDS_REVIEW = "NEEDS_REVIEW"


class CheckStatus(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"
    #: did not fail, but too noisy to detect a 2x-tolerance change at the policy's power
    INCONCLUSIVE = "inconclusive"


class StageStatus(str, Enum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StageResult(_Model):
    name: str
    status: StageStatus
    seconds: float
    detail: str = ""


class ErrorInfo(_Model):
    kind: str
    message: str
    hint: str | None = None
    details: str | None = None
    exit_code: int


class CheckResult(_Model):
    """One judged check: the effect with its CI, and why it passed or failed, in one line."""

    name: str
    metric: str
    status: CheckStatus
    mode: str
    critical: bool = False
    blocking: bool = Field(
        True, description="false: advisory, reported but never changes the verdict"
    )
    tolerance: float | None = None
    effect: float | None = Field(None, description="relative change, e.g. 0.12 for +12%")
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    n: int | None = None
    baseline_runs: int | None = None
    candidate_runs: int | None = None
    mde: float | None = Field(
        None,
        description="smallest relative change detectable at the policy's power, tolerance "
        "included (a true change of this size is caught with that power); the verdict calls "
        "a check inconclusive when mde - tolerance > tolerance",
    )
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class ModelInfo(_Model):
    name: str = Field(pattern=MODEL_NAME_PATTERN)
    repository: str
    version: str | None = None
    digest: str = ""
    artifact: str | None = Field(None, description="oci:// reference as configured")
    artifact_digest: str | None = Field(None, description="HOST/REPO@sha256:… that was served")


class TrafficInfo(_Model):
    path: str
    digest: str
    requests: int
    duration_s: float


class BaselineRef(_Model):
    path: str
    recorded_at: str
    runs: int
    model_digest: str
    traffic_digest: str
    git_commit: str | None = None


class PercentileRatio(_Model):
    """One latency percentile, candidate over baseline, with a paired bootstrap CI."""

    percentile: float
    baseline_us: float
    candidate_us: float
    ratio: float
    ci_low: float
    ci_high: float


class ClassChange(_Model):
    """One class of a labelled eval set: samples of that label whose top-1 correctness
    changed between baseline and candidate (the label is known for exactly these)."""

    label: int
    newly_wrong: int
    newly_right: int


class Comparison(_Model):
    """What the HTML report needs of the baseline, so ``run.json`` re-renders without a store.

    ``baseline_latencies_us[k][j]`` is baseline run ``k``'s latency of request
    ``indices[j]`` (``indices`` empty: every request, in order). Large traffic is thinned to
    evenly spaced request indices (pairing kept), so the record stays bounded; the
    ``percentiles`` were computed on every request before thinning.
    """

    requests: int
    indices: list[int] = Field(default_factory=list)
    baseline_latencies_us: list[list[float]] = Field(default_factory=list)
    percentiles: list[PercentileRatio] = Field(default_factory=list)
    confidence: float = 0.95
    resamples: int = 0
    seed: int = 0
    accuracy_deltas: dict[str, list[float]] = Field(
        default_factory=dict,
        description="per eval sample, candidate minus baseline score, by metric (thinned)",
    )
    accuracy_classes: list[ClassChange] = Field(
        default_factory=list, description="top-1 changes per class (labelled eval sets)"
    )


class SignedArtifact(_Model):
    """One file of the model directory and what signature verification found for it."""

    path: str = Field(description="relative to the model directory")
    status: Literal["verified", "failed", "unsigned", "ignored"]
    method: str | None = None
    signature: str | None = Field(None, description="signature or bundle file, model-relative")
    signer: str | None = Field(None, description="identity, certificate subject or key id")
    trust_root: str | None = Field(None, description="key, CA chain or Sigstore trusted root")
    reason: str = Field("", description="one line, in the user's terms")
    details: str = Field("", description="the verifying library's full text, when it said more")


class OciSignature(_Model):
    """A container image or OCI model artifact verified in its registry, by digest."""

    kind: Literal["image", "model"]
    reference: str = Field(description="as configured (a tag, a digest or both)")
    digest: str = Field("", description="the manifest digest the reference resolved to")
    pinned: str = Field("", description="HOST/REPO@sha256:…: what was pulled and used")
    status: Literal["verified", "failed", "unsigned"]
    signature: str | None = Field(None, description="where the accepted signature was found")
    signer: str | None = None
    trust_root: str | None = None
    reason: str = ""
    details: str = ""


class SignaturesResult(_Model):
    """The ``signatures`` stage: verified before any server started."""

    ok: bool
    model_dir: str
    policy_source: str = Field("", description="the file whose signatures: section applied")
    required: bool = True
    reason: str = Field("", description="one line naming the first file that blocked")
    artifacts: list[SignedArtifact] = Field(default_factory=list)
    oci: list[OciSignature] = Field(
        default_factory=list, description="images and OCI model artifacts, verified by digest"
    )


class TrustInfo(_Model):
    """Where the trust-bearing parts of the config came from (``--trusted-config-from``)."""

    ref: str = Field(description="the ref given, e.g. the pull request's base commit")
    commit: str = Field(description="the commit it named, whose rules the run applied")
    changes: list[str] = Field(
        default_factory=list,
        description="what the change under test edits in those rules, one line each; any "
        "entry makes a PASS into NEEDS_REVIEW",
    )


class Integrity(_Model):
    """What makes an edited ``run.json`` detectable (``gate baseline promote`` checks it).

    ``evidence_sha256`` is the sha256 of the record's canonical JSON (every field but this
    one and ``reports``, which says where the sibling files went): a careless edit breaks
    it. Anyone can recompute a digest, so where ``GATE_RUN_KEY`` is set (a CI secret the PR
    jobs cannot read) ``hmac_sha256`` is an HMAC-SHA256 of the digest under that key: an
    edit without the key cannot produce it.
    """

    evidence_sha256: str
    hmac_sha256: str | None = None


class RunResult(_Model):
    schema_: Literal["gate-run/1"] = Field(RUN_SCHEMA, alias="schema")
    run_id: str
    command: str
    gate_version: str
    started_at: str
    finished_at: str | None = None
    config_path: str | None = None
    model: ModelInfo | None = None
    traffic: TrafficInfo | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    baseline: BaselineRef | None = None
    stages: list[StageResult] = Field(default_factory=list)
    runs: list[LatencyRun] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    memory: list[MemoryRun] = Field(default_factory=list, description="one per replay")
    throughput: list[ThroughputRun] = Field(default_factory=list, description="one per replay")
    alpha: float | None = None
    verdict: Verdict = Verdict.ERROR
    error: ErrorInfo | None = None
    warnings: list[str] = Field(default_factory=list)
    server_log_tail: str = ""
    reports: dict[str, str] = Field(default_factory=dict)
    accuracy: AccuracyRecord | None = Field(
        None, description="per-sample scores of the eval set (see gate.measure.accuracy)"
    )
    slo: dict[str, float] = Field(
        default_factory=dict, description="measured value per SLO objective"
    )
    comparison: Comparison | None = Field(
        None, description="baseline samples (thinned) and percentile ratios for the HTML report"
    )
    git_commit: str | None = Field(
        None, description="commit of the config's repository; a promoted baseline keeps it"
    )
    baseline_env_mismatch: list[str] = Field(
        default_factory=list,
        description="hard environment keys that differ from the baseline's ('key: old → new'), "
        "compared anyway under --allow-env-mismatch",
    )
    signatures: SignaturesResult | None = None
    ab: ABInfo | None = None
    sampling: Sampling | None = Field(
        None, description="the sequential sampling: budget, looks, and why it stopped"
    )
    trust: TrustInfo | None = None
    integrity: Integrity | None = Field(
        None, description="digest (and HMAC under GATE_RUN_KEY) of this record, see Integrity"
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    #: False for a record read back whose integrity did not verify: writing it again keeps
    #: its old (failing) integrity instead of blessing the edit with a fresh one.
    _sealable: bool = PrivateAttr(default=True)

    def to_json(self, fallback: Any = None) -> str:
        """The canonical JSON document: secrets redacted (``gate.redact``), then sealed (see
        ``Integrity``) unless it was read back with an integrity that did not verify.

        ``fallback`` converts values pydantic cannot serialise (see gate.report.json).
        """
        text = self.model_dump_json(by_alias=True, exclude={"integrity"}, fallback=fallback)
        clean = redact(text)
        out = self if clean == text else RunResult.model_validate_json(clean)
        if self._sealable:
            out.integrity = seal(out, run_key(), fallback=fallback)
        else:
            out.integrity = self.integrity
        return out.model_dump_json(by_alias=True, indent=2, fallback=fallback)

    @classmethod
    def from_json(cls, text: str | bytes) -> RunResult:
        result = cls.model_validate_json(text)
        result._sealable = not verify_integrity(result, run_key())
        return result

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        return {
            Verdict.PASS: 0,
            Verdict.MEASURED: 0,
            Verdict.BLOCKED: 1,
            Verdict.INCONCLUSIVE: 1,
            Verdict.NEEDS_REVIEW: 4,
        }.get(self.verdict, 3)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------
# Integrity of a saved run
# --------------------------------------------------------------------------------------


def run_key() -> bytes | None:
    """The run-signing key from ``GATE_RUN_KEY``, or None when unset or empty."""
    value = os.environ.get(RUN_KEY_ENV, "")
    return value.encode() if value else None


def evidence_digest(result: RunResult, *, fallback: Any = None) -> str:
    """``sha256:`` of the record's canonical JSON, ``integrity`` and ``reports`` left out.

    Computed from the JSON text pydantic writes (then parsed and re-dumped with sorted keys),
    so a record read back from its file digests to the same value as when it was written.
    """
    text = result.model_dump_json(
        by_alias=True, exclude={"integrity", "reports"}, fallback=fallback
    )
    canonical = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def seal(result: RunResult, key: bytes | None, *, fallback: Any = None) -> Integrity:
    """The integrity block of ``result`` as it is now: its digest, and its HMAC under ``key``."""
    digest = evidence_digest(result, fallback=fallback)
    return Integrity(evidence_sha256=digest, hmac_sha256=_mac(key, digest) if key else None)


def verify_integrity(result: RunResult, key: bytes | None) -> list[str]:
    """What does not match in a record read back (empty: it is what gate wrote).

    Without ``key`` only the digest can be checked, and a record signed with a key cannot
    be verified (listed as a problem: fail closed). With ``key`` an unsigned record, or one
    whose HMAC differs, is a problem too.
    """
    got = result.integrity
    if got is None:
        return [
            "field 'integrity': missing (written by an older gate, or removed): the run "
            "cannot be shown to be unedited"
        ]
    problems: list[str] = []
    digest = evidence_digest(result)
    if not hmac.compare_digest(digest, got.evidence_sha256):
        problems.append(
            "field 'integrity.evidence_sha256': does not match the run's contents (the file "
            "was edited after the run)"
        )
    if key is None:
        if got.hmac_sha256 is not None:
            problems.append(
                f"field 'integrity.hmac_sha256': the run is signed but {RUN_KEY_ENV} is not "
                "set here, so the signature cannot be checked"
            )
    elif got.hmac_sha256 is None:
        problems.append(
            f"field 'integrity.hmac_sha256': missing, but {RUN_KEY_ENV} is set: the run was "
            "not signed with the key"
        )
    elif not hmac.compare_digest(_mac(key, got.evidence_sha256), got.hmac_sha256):
        problems.append(
            f"field 'integrity.hmac_sha256': does not match {RUN_KEY_ENV} (edited after the "
            "run, or signed with another key)"
        )
    return problems
