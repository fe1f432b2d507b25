"""The ``signatures`` stage of ``gate check`` / ``baseline record`` and ``gate verify``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gate.result import CheckResult, CheckStatus, OciSignature, SignaturesResult, SignedArtifact
from gate.signing import effective_policy
from gate.signing.interface import SignaturesBlocked
from gate.signing.verify import verify_model_dir

if TYPE_CHECKING:
    from gate.config.config import GateConfig
    from gate.config.oci import Reference
    from gate.config.policy import Policy
    from gate.config.signatures import Signer
    from gate.signing.oci import Verified

HINT = (
    "sign the model's files with a trusted key or identity (see the signatures: section of "
    "the policy), or restore the signed files"
)


def summary(res: SignaturesResult) -> str:
    """``4 verified, 1 ignored, 0 unsigned, 0 failed`` for stage details and the console."""
    counts = {s: 0 for s in ("verified", "ignored", "unsigned", "failed")}
    for a in res.artifacts:
        counts[a.status] += 1
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def verify_for_run(
    cfg: GateConfig | None,
    config_path: Path | None,
    policy: Policy | None,
    policy_path: Path | None,
    model_dir: Path,
    progress: Callable[[str], None] | None = None,
) -> tuple[SignaturesResult | None, list[str], str]:
    """Verify before anything reads the model: (result, warnings, stage detail).

    Raises ``SignaturesBlocked`` (verdict BLOCKED, exit 1) when the model may not be loaded.
    """
    sp, base, source = effective_policy(cfg, config_path, policy, policy_path)
    if not sp.enabled:
        return (
            None,
            [
                f"signature verification is disabled (signatures.enabled: false in {source}): "
                "the model was loaded without proof of where it came from"
            ],
            "disabled",
        )
    res = verify_model_dir(model_dir, sp, base=base, source=source, progress=progress)
    warnings = []
    unsigned = [a for a in res.artifacts if a.status == "unsigned"]
    if unsigned and not sp.required:
        warnings.append(
            f"{len(unsigned)} unsigned file(s) loaded because signatures.required is false in "
            f"{source}: {', '.join(a.path for a in unsigned[:5])}"
            + (" …" if len(unsigned) > 5 else "")
        )
    detail = f"{summary(res)} (policy: {source})"
    if not res.ok:
        raise SignaturesBlocked(res.reason, hint=HINT, details=detail, result=res)
    return res, warnings, detail


def blocked_check(reason: str) -> CheckResult:
    """The failed critical check that carries a signature block into every report."""
    return CheckResult(
        name="signatures",
        metric="signatures",
        status=CheckStatus.FAIL,
        mode="fail_closed",
        critical=True,
        reason=reason,
    )


# --------------------------------------------------------------------------------------
# OCI: the container image and an oci:// model, by digest
# --------------------------------------------------------------------------------------

_OCI_HINT = (
    "sign it (cosign sign, or a Sigstore bundle as an OCI referrer) with a key or identity "
    "the rule trusts, or point the config at the signed digest"
)


def verify_oci_for_run(
    cfg: GateConfig, config_path: Path, progress: Callable[[str], None] | None = None
) -> tuple[GateConfig, list[OciSignature], list[str]]:
    """Verify the image and an ``oci://`` model before anything is pulled into use.

    Returns the config to run with (``launcher.image`` pinned to the verified digest,
    ``model.repository`` the private folder the verified artifact was unpacked into), what
    was verified, and warnings. Raises ``SignaturesBlocked`` when either is not proven.
    """
    base = config_path.resolve().parent
    done: list[OciSignature] = []
    warnings: list[str] = []
    lc = cfg.launcher
    if lc.kind == "docker" and lc.image_signature is not None:
        ref = _reference(lc.image_ref, config_path, "launcher.image")
        if progress is not None:
            progress(f"image {ref}")
        v = _verify(ref, lc.image_signature, base, "image", done)
        cfg = cfg.model_copy(update={"launcher": lc.model_copy(update={"image": v.pinned})})
    if cfg.model.artifact is not None:
        cfg, warns = _fetch_model(cfg, config_path, base, done, progress)
        warnings += warns
    return cfg, done, warnings


def _reference(text: str, config_path: Path, field: str) -> Reference:
    from gate.config.oci import parse_reference
    from gate.errors import ConfigError

    try:
        return parse_reference(text)
    except ValueError as e:
        raise ConfigError(
            f"{config_path}: field '{field}': {e}",
            hint="write HOST/REPOSITORY:TAG or HOST/REPOSITORY@sha256:DIGEST",
        ) from None


def _blocked(kind: str, ref: Reference, reason: str, done: list[OciSignature]) -> SignaturesBlocked:
    """The verdict for an image or artifact that is not proven: one line naming it."""
    from gate.signing.explain import one_line

    line = one_line(f"{kind} {ref.short()}: {reason}")
    source = "launcher.image_signature" if kind == "image" else "model.signature"
    res = SignaturesResult(ok=False, model_dir="", policy_source=source, reason=line, oci=done)
    return SignaturesBlocked(line, hint=_OCI_HINT, result=res)


def _verify(
    ref: Reference, rule: Signer, base: Path, kind: str, done: list[OciSignature]
) -> Verified:
    from gate.signing.interface import SignatureFailure
    from gate.signing.oci import verify_oci

    try:
        v = verify_oci(ref, rule, base)
    except SignatureFailure as e:
        unsigned = e.reason.startswith("no signature for")
        done.append(
            OciSignature(
                kind=kind,  # type: ignore[arg-type]
                reference=str(ref),
                status="unsigned" if unsigned else "failed",
                reason=e.reason,
                details=e.details or "",
            )
        )
        raise _blocked(kind, ref, e.reason, done) from None
    done.append(
        OciSignature(
            kind=kind,  # type: ignore[arg-type]
            reference=str(ref),
            digest=v.digest,
            pinned=v.pinned,
            status="verified",
            signature=v.signature,
            signer=v.signer,
            trust_root=v.trust_root,
        )
    )
    return v


def _fetch_model(
    cfg: GateConfig,
    config_path: Path,
    base: Path,
    done: list[OciSignature],
    progress: Callable[[str], None] | None,
) -> tuple[GateConfig, list[str]]:
    from gate.signing.artifact import fetch_model
    from gate.signing.interface import SignatureFailure
    from gate.signing.oci import resolve
    from gate.signing.registry import Registry

    assert cfg.model.artifact is not None
    ref = _reference(cfg.model.artifact, config_path, "model.repository")
    if progress is not None:
        progress(f"model artifact {ref}")
    warnings = []
    reg = Registry(ref)
    rule = cfg.model.signature
    if rule is None:
        sp = cfg.signatures
        if sp is None or sp.enabled:
            why = "no rule trusts any signer for it: add model.signature (key, or identity+issuer)"
            done.append(
                OciSignature(kind="model", reference=str(ref), status="unsigned", reason=why)
            )
            raise _blocked("model", ref, why, done)
        try:
            manifest, digest = resolve(reg, ref)
        except SignatureFailure as e:
            raise _blocked("model", ref, e.reason, done) from None
        warnings.append(f"model {ref} was used unverified (signatures.enabled: false)")
        done.append(
            OciSignature(
                kind="model",
                reference=str(ref),
                digest=digest,
                pinned=ref.pinned(digest),
                status="unsigned",
                reason="signatures.enabled: false",
            )
        )
    else:
        v = _verify(ref, rule, base, "model", done)
        manifest = v.manifest
    try:
        repo = fetch_model(reg, manifest, cfg.model.name, label="artifact")
    except SignatureFailure as e:
        entry = done[-1].model_copy(update={"status": "failed", "reason": e.reason})
        done[-1] = entry
        raise _blocked("model", ref, e.reason, done) from None
    model = cfg.model.model_copy(update={"repository": repo})
    return cfg.model_copy(update={"model": model}), warnings


def artifact_result(cfg: GateConfig, model_dir: Path, oci: list[OciSignature]) -> SignaturesResult:
    """The signatures result of an ``oci://`` model: every unpacked file is covered by the
    artifact's signature (its digest is in the verified manifest)."""
    from gate.signing.artifact import layer_files

    model = next((o for o in oci if o.kind == "model"), None)
    ok = model is not None and model.status == "verified"
    arts = [
        SignedArtifact(
            path=f,
            status="verified" if ok else "unsigned",
            method="oci-artifact",
            signature=model.signature if model else None,
            signer=model.signer if model else None,
            trust_root=model.trust_root if model else None,
            reason="" if ok else "the artifact was not verified (signatures.enabled: false)",
        )
        for f in layer_files(model_dir)
    ]
    return SignaturesResult(
        ok=True,
        model_dir=str(model_dir),
        policy_source="model.signature",
        required=cfg.model.signature is not None,
        artifacts=arts,
        oci=oci,
    )


def signatures_for_run(
    cfg: GateConfig,
    config_path: Path,
    policy: Policy | None,
    model_dir: Path | None,
    progress: Callable[[str], None] | None = None,
    *,
    snapshot: bool = True,
) -> tuple[GateConfig, SignaturesResult | None, list[str], str, Path, Path]:
    """The whole signature stage of a run: image and ``oci://`` model by digest, then the
    model's files. Returns (config to run with, result, warnings, stage detail, the folder
    the server reads, the model's folder). ``model_dir`` is None for an ``oci://`` model
    (it exists only once the verified artifact is unpacked)."""
    from gate.config.config import check_model_dir

    cfg, oci, warnings = verify_oci_for_run(cfg, config_path, progress)
    if cfg.model.artifact is not None:
        model_dir = check_model_dir(cfg, config_path)
        res = artifact_result(cfg, model_dir, oci)
        verified = ", ".join(f"{o.kind} {o.pinned}" for o in oci if o.status == "verified")
        return (
            cfg,
            res,
            warnings,
            f"verified by digest: {verified}",
            cfg.model.repository,
            model_dir,
        )
    assert model_dir is not None
    sig, warns, detail = verify_for_run(cfg, config_path, policy, cfg.policy, model_dir, progress)
    served = cfg.model.repository
    if sig is not None and snapshot:
        # the server reads a private copy made now: nothing changed or added after
        # verification reaches it, and its bytecode never lands in the user's repository
        from gate.signing.snapshot import snapshot_repository

        served = snapshot_repository(cfg.model.repository)
    if sig is not None:
        sig = sig.model_copy(update={"oci": oci})
    if oci:
        detail += "; image verified by digest: " + ", ".join(o.pinned for o in oci)
    return cfg, sig, warnings + warns, detail, served, model_dir
