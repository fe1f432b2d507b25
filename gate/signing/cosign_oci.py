"""cosign's signature of an image or artifact in a registry: the ``sha256-<hex>.sig`` tag.

The tag holds a manifest whose layers are simple-signing payloads
(``application/vnd.dev.cosign.simplesigning.v1+json``): JSON naming the signed manifest's
digest under ``critical.image.docker-manifest-digest``; each layer's annotations carry the
signature (``dev.cosignproject.cosign/signature``, base64 over the payload bytes) and, for
keyless signatures, the Fulcio certificate (``dev.sigstore.cosign/certificate``) and the
Rekor entry's signed timestamp (``dev.sigstore.cosign/bundle``).

Checked: the payload names this digest (a signature copied from another digest fails by
name); the signature verifies with the policy's key, or with the certificate, which must
chain to the trusted root's Fulcio at the log's time, carry a valid SCT and match the
identity policy; the Rekor entry's signed timestamp verifies with the trusted root's log
key and its body records this signature, this key or certificate and this payload.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any

from gate.config.signatures import Signer
from gate.signing.interface import Proof, SignatureFailure

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
ANN_SIGNATURE = "dev.cosignproject.cosign/signature"
ANN_CERT = "dev.sigstore.cosign/certificate"
ANN_BUNDLE = "dev.sigstore.cosign/bundle"


def signature_tag(digest: str) -> str:
    """cosign's tag for the signatures of ``digest``."""
    return digest.replace(":", "-") + ".sig"


def payload_digest(payload: bytes) -> str:
    """The manifest digest a simple-signing payload names ('' when it names none)."""
    try:
        doc = json.loads(payload)
        return str(doc["critical"]["image"]["docker-manifest-digest"])
    except (ValueError, KeyError, TypeError):
        return ""


def verify_layer(
    payload: bytes, annotations: dict[str, str], digest: str, rule: Signer, base: Path
) -> Proof:
    """Verify one simple-signing layer of the ``.sig`` manifest for ``digest``."""
    named = payload_digest(payload)
    if not named:
        raise SignatureFailure("cosign signature payload names no image digest (malformed)")
    if named != digest:
        raise SignatureFailure(
            f"cosign signature is for another digest ({named[:19]}…), not {digest[:19]}…"
        )
    try:
        sig = base64.b64decode(annotations.get(ANN_SIGNATURE, ""), validate=True)
    except ValueError:
        sig = b""
    if not sig:
        raise SignatureFailure("cosign signature layer without a signature annotation")
    if rule.key is not None:
        return _with_key(payload, sig, annotations, rule, base)
    return _keyless(payload, sig, annotations, rule, base)


def _with_key(
    payload: bytes, sig: bytes, annotations: dict[str, str], rule: Signer, base: Path
) -> Proof:
    from gate.signing.cosign import key_id, load_public_key
    from gate.signing.keybundle import _verify_sig

    assert rule.key is not None
    pub, label = load_public_key(rule.key, base)
    digest = hashlib.sha256(payload).digest()
    if not _verify_sig(pub, sig, data=None, digest=digest, hash_name="sha256"):
        raise SignatureFailure(
            f"cosign signature does not verify with key {key_id(pub)} (signed by another key)"
        )
    trust = label
    if ANN_BUNDLE in annotations or rule.require_tlog:
        trust += (
            "; log: " + _check_set(annotations, rule, base, pub=pub, sig=sig, payload=payload)[1]
        )
    return Proof(signer=f"key {key_id(pub)}", trust_root=trust)


def _check_set(
    annotations: dict[str, str], rule: Signer, base: Path, *, pub: Any, sig: bytes, payload: bytes
) -> tuple[_dt.datetime, str]:
    """Verify the Rekor signed entry timestamp; (integrated time, trusted root label)."""
    from sigstore._internal.trust import KeyringPurpose
    from sigstore.errors import VerificationError
    from sigstore.models import TransparencyLogEntry
    from sigstore_models.common.v1 import LogId
    from sigstore_models.rekor.v1 import InclusionPromise, KindVersion
    from sigstore_models.rekor.v1 import TransparencyLogEntry as _Entry

    from gate.signing.keybundle import FUTURE_SLACK_S, check_entry_body
    from gate.signing.trust import trusted_root

    raw = annotations.get(ANN_BUNDLE)
    if not raw:
        raise SignatureFailure(
            "cosign signature has no transparency-log entry and the rule requires one "
            "(require_tlog: true)"
        )
    try:
        doc = json.loads(raw)
        p = doc["Payload"]
        # constructed, not validated: cosign keeps no inclusion proof, only the SET
        inner = _Entry.model_construct(
            log_index=int(p["logIndex"]),
            log_id=LogId(key_id=base64.b64encode(bytes.fromhex(p["logID"]))),
            kind_version=KindVersion(kind="hashedrekord", version="0.0.1"),
            integrated_time=int(p["integratedTime"]),
            inclusion_promise=InclusionPromise(signed_entry_timestamp=doc["SignedEntryTimestamp"]),
            inclusion_proof=None,  # type: ignore[arg-type]
            canonicalized_body=base64.b64decode(p["body"]),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise SignatureFailure(
            "cosign log entry annotation is malformed", details=repr(e)
        ) from None
    root, label = trusted_root(rule, base)
    entry = TransparencyLogEntry.__new__(TransparencyLogEntry)
    entry._inner = inner
    try:
        entry._verify_set(root.rekor_keyring(KeyringPurpose.VERIFY))
    except VerificationError as e:
        raise SignatureFailure(
            f"log entry's signed timestamp is not from a log of {label}", details=str(e)
        ) from None
    when = _dt.datetime.fromtimestamp(int(p["integratedTime"]), tz=_dt.timezone.utc)
    if (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds() > FUTURE_SLACK_S:
        raise SignatureFailure(f"log entry time is in the future ({when:%Y-%m-%d %H:%M} UTC)")
    digest = hashlib.sha256(payload).digest()
    check_entry_body(inner, "cosign signature", pub=pub, sig=sig, digest=("sha256", digest, None))
    return when, label


def _keyless(
    payload: bytes, sig: bytes, annotations: dict[str, str], rule: Signer, base: Path
) -> Proof:
    from cryptography import x509
    from sigstore._internal.sct import verify_sct
    from sigstore._internal.timestamp import TimestampSource, TimestampVerificationResult
    from sigstore._internal.trust import KeyringPurpose
    from sigstore.errors import VerificationError
    from sigstore.verify import Verifier

    from gate.signing.explain import explain, wrong_identity
    from gate.signing.keybundle import _verify_sig
    from gate.signing.trust import certificate_identities, identity_policy, trusted_root

    pem = annotations.get(ANN_CERT, "")
    if not pem:
        raise SignatureFailure(
            "cosign signature carries no certificate (key-signed?): give the rule 'key:'"
        )
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise SignatureFailure("cosign signature certificate does not parse (malformed)") from None
    pub = cert.public_key()
    if not _verify_sig(
        pub, sig, data=None, digest=hashlib.sha256(payload).digest(), hash_name="sha256"
    ):
        raise SignatureFailure("cosign signature does not verify with its certificate")
    when, label = _check_set(annotations, rule, base, pub=pub, sig=sig, payload=payload)
    root, _ = trusted_root(rule, base)
    verifier = Verifier(trusted_root=root)
    try:
        vts = TimestampVerificationResult(source=TimestampSource.TRANSPARENCY_SERVICE, time=when)
        chain = verifier._verify_chain_at_time(cert, vts)
        verify_sct(cert, chain, root.ct_keyring(KeyringPurpose.VERIFY))
        identity_policy(rule).verify(cert)
    except VerificationError as e:
        text = str(e)
        sans = sorted(certificate_identities(cert))
        if "SANs do not match" in text or "no certificate identity matches" in text:
            reason = wrong_identity(sans, rule.identity or rule.identity_regexp or "")
        else:
            reason = explain(text, root_label=label)
        raise SignatureFailure(reason, details=text) from None
    sans = sorted(certificate_identities(cert))
    return Proof(signer=f"{', '.join(sans)} (issuer {rule.issuer})", trust_root=label)
