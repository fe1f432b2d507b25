"""Verify a container image or OCI artifact in its registry, by digest, before it is used.

``verify_oci`` resolves the reference to a digest once (a tag is read once; everything after
uses the digest, so a tag moved after verification changes nothing), then looks for
signatures of that digest in both places tools put them:

* cosign's ``sha256-<hex>.sig`` tag (``cosign_oci.py``: key or keyless);
* OCI 1.1 referrers (or the referrers tag schema) holding a Sigstore bundle
  (``application/vnd.dev.sigstore.bundle…``), verified as any bundle is (``bundle.py``,
  ``keybundle.py``) against the manifest's own bytes: a message signature over the manifest
  digest, or a DSSE in-toto statement naming it.

One signature that verifies under the rule is enough; when none does, the first failure is
the reason (an unsigned digest says so). The result names the pinned reference
``HOST/REPO@sha256:…`` that the caller must use from then on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.config.oci import Reference
from gate.config.signatures import Signer
from gate.signing.interface import SignatureFailure
from gate.signing.registry import OCI_MANIFEST, Registry

BUNDLE_ARTIFACT = "application/vnd.dev.sigstore.bundle"


@dataclass(frozen=True)
class Verified:
    """What ``verify_oci`` established."""

    reference: str  # as configured
    digest: str  # sha256:…
    pinned: str  # HOST/REPO@sha256:…
    manifest: bytes  # the verified manifest's bytes (hash to ``digest``)
    signature: str  # where the accepted signature lives
    signer: str
    trust_root: str


def resolve(reg: Registry, ref: Reference) -> tuple[bytes, str]:
    """The manifest bytes and digest of ``ref`` (digest wins over tag when both given)."""
    target = ref.digest or ref.tag
    assert target is not None  # parse_reference requires one
    got = reg.manifest(target)
    if got is None:
        raise SignatureFailure(f"{ref.short()} does not exist in the registry (nothing to verify)")
    body, _, digest = got
    return body, digest


def verify_oci(
    ref: Reference, rule: Signer, base: Path, *, registry: Registry | None = None
) -> Verified:
    """Verify the signature of ``ref`` under ``rule``; SignatureFailure when not proven."""
    reg = registry or Registry(ref)
    manifest, digest = resolve(reg, ref)
    failures: list[SignatureFailure] = []
    for where, attempt in _candidates(reg, digest, manifest, rule, base):
        try:
            proof = attempt()
        except SignatureFailure as e:
            failures.append(SignatureFailure(f"{e.reason} [{where}]", details=e.details))
            continue
        return Verified(
            reference=str(ref),
            digest=digest,
            pinned=ref.pinned(digest),
            manifest=manifest,
            signature=where,
            signer=proof.signer,
            trust_root=proof.trust_root,
        )
    if not failures:
        raise SignatureFailure(
            f"no signature for {digest[:19]}… in the registry (looked for the cosign tag "
            f"{digest.replace(':', '-')[:14]}….sig and OCI referrers): unsigned"
        )
    first = failures[0]
    more = (
        f" (and {len(failures) - 1} more signature(s) that did not verify)"
        if len(failures) > 1
        else ""
    )
    raise SignatureFailure(first.reason + more, details=first.details)


def _candidates(
    reg: Registry, digest: str, manifest: bytes, rule: Signer, base: Path
) -> list[tuple[str, Any]]:
    """(where, thunk) for every signature of ``digest`` found in the registry."""
    from gate.signing.cosign_oci import SIMPLE_SIGNING, signature_tag, verify_layer

    out: list[tuple[str, Any]] = []
    tag = signature_tag(digest)
    where = f"tag {tag[:19]}….sig"
    got = reg.manifest(tag)
    if got is not None:
        for layer in _layers(got[0]):
            if layer.get("mediaType") != SIMPLE_SIGNING:
                continue
            ann = dict(layer.get("annotations") or {})

            def thunk(layer: dict[str, Any] = layer, ann: dict[str, str] = ann) -> Any:
                return verify_layer(reg.blob(str(layer["digest"])), ann, digest, rule, base)

            out.append((where, thunk))
    for desc in reg.referrers(digest):
        if not str(desc.get("artifactType", "")).startswith(BUNDLE_ARTIFACT):
            continue

        def bundle(desc: dict[str, Any] = desc) -> Any:
            return _verify_referrer(reg, str(desc["digest"]), digest, manifest, rule, base)

        out.append((f"referrer {str(desc.get('digest'))[:19]}…", bundle))
    return out


def _layers(manifest: bytes) -> list[dict[str, Any]]:
    try:
        doc = json.loads(manifest)
        return [dict(x) for x in doc.get("layers") or []]
    except (ValueError, AttributeError, TypeError):
        return []


def _verify_referrer(
    reg: Registry, ref_digest: str, digest: str, manifest: bytes, rule: Signer, base: Path
) -> Any:
    from gate.signing.bundle import parse_bundle_json, verify_bundle_doc
    from gate.signing.keybundle import Digester

    got = reg.manifest(ref_digest)
    if got is None:
        raise SignatureFailure(f"referrer {ref_digest[:19]}… is listed but missing")
    try:
        doc = json.loads(got[0])
        subject = doc.get("subject", {}).get("digest")
        layer = doc["layers"][0]
    except (ValueError, KeyError, IndexError, AttributeError, TypeError):
        raise SignatureFailure(f"referrer {ref_digest[:19]}… is not a bundle manifest") from None
    if subject != digest:
        raise SignatureFailure(f"referrer {ref_digest[:19]}… is for another digest")
    raw = reg.blob(str(layer["digest"]))
    import hashlib

    def digester(name: str) -> bytes:
        return hashlib.new(name, manifest).digest()

    d: Digester = digester
    return verify_bundle_doc(raw, parse_bundle_json(raw, "bundle"), "bundle", d, rule, base)


__all__ = ["OCI_MANIFEST", "Verified", "resolve", "verify_oci"]
