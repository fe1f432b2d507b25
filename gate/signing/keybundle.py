"""Key-signed Sigstore bundles (``cosign sign-blob --key K --bundle F`` with the new bundle
format, the default from cosign 3): the verification material is a public-key hint, not a
certificate, so sigstore-python refuses the bundle ("expected certificate in bundle").

What is checked, in order (every step fails closed):

1. the signature, with the key the policy trusts (the hint is unauthenticated and only used
   to say which key the signer meant): a message signature over the artifact's digest, or a
   DSSE envelope whose in-toto statement names the artifact's sha256 as a subject;
2. each transparency-log entry the bundle carries, against the logs of the trusted root:
   inclusion proof and its signed checkpoint, the signed entry timestamp (inclusion
   promise), an integrated time that is not in the future, and the entry's body, which must
   record this signature, this key and this digest (a log entry for something else is
   worth nothing); ``require_tlog: true`` makes at least one entry mandatory;
3. RFC 3161 timestamps, when present: at least one must be signed by a timestamp authority
   of the trusted root.

sigstore-python's parts do the cryptography of steps 2–3 (Merkle proof, checkpoint, SET,
timestamp); this module decides what they are applied to.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gate.signing.interface import Proof, SignatureFailure

if TYPE_CHECKING:
    from pathlib import Path

    from gate.config.signatures import Signer

#: hash name (hashlib) → the artifact's digest with it
Digester = Callable[[str], bytes]

_HASHES = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}
FUTURE_SLACK_S = 300  # clocks differ a little; a log entry minutes ahead is still "now"


def key_hint(pub: Any) -> str:
    """cosign's public-key hint: base64 of sha256 over the DER SubjectPublicKeyInfo."""
    return base64.b64encode(hashlib.sha256(_spki(pub)).digest()).decode()


def _spki(pub: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return bytes(pub.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _verify_sig(pub: Any, sig: bytes, *, data: bytes | None, digest: bytes, hash_name: str) -> bool:
    """Whether ``sig`` verifies: over ``data`` when given, else over the prehashed digest."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

    algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[
        hash_name
    ]
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey):
            if data is not None:
                pub.verify(sig, data, ec.ECDSA(algo))
            else:
                pub.verify(sig, digest, ec.ECDSA(utils.Prehashed(algo)))
        elif isinstance(pub, rsa.RSAPublicKey):
            if data is not None:
                pub.verify(sig, data, padding.PKCS1v15(), algo)
            else:
                pub.verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(algo))
        elif isinstance(pub, ed25519.Ed25519PublicKey) and data is not None:
            pub.verify(sig, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature covers."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def statement_digests(payload_type: str, payload: bytes, name: str) -> set[str]:
    """The sha256 subject digests of an in-toto statement (DSSE payload)."""
    if payload_type != "application/vnd.in-toto+json":
        raise SignatureFailure(f"bundle {name}: DSSE payload type {payload_type!r} is not in-toto")
    try:
        statement = json.loads(payload)
        return {str(s["digest"].get("sha256")) for s in statement["subject"]}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SignatureFailure(f"bundle {name}: in-toto statement without subjects") from None


def verify_key_bundle(inner: Any, name: str, digester: Digester, rule: Signer, base: Path) -> Proof:
    """Verify a parsed key-signed bundle (``sigstore_models`` Bundle) for one artifact."""
    from gate.signing.cosign import key_id, load_public_key

    assert rule.key is not None
    pub, label = load_public_key(rule.key, base)
    hint = inner.verification_material.public_key.hint
    other_key = hint and hint != key_hint(pub)
    signed = _check_signature(inner, name, digester, pub)
    if not signed:
        why = f"bundle {name} does not verify with key {key_id(pub)}"
        raise SignatureFailure(
            why
            + (
                " (the bundle names another key: signed by a key the policy does not trust)"
                if other_key
                else " (file changed after signing, or signed by another key)"
            )
        )
    sig, data_digest = signed
    root_label = _check_log_and_time(inner, name, rule, base, pub=pub, sig=sig, digest=data_digest)
    trust = label if root_label is None else f"{label}; log/time: {root_label}"
    return Proof(signer=f"key {key_id(pub)}", trust_root=trust)


def _check_signature(
    inner: Any, name: str, digester: Digester, pub: Any
) -> tuple[bytes, tuple[str, bytes, bytes | None]] | None:
    """(signature, what the log must record) when the signature verifies, else None.

    What the log records: (hash name, digest, DSSE payload or None)."""
    ms, env = inner.message_signature, inner.dsse_envelope
    if env is not None:
        if len(env.signatures) != 1:
            raise SignatureFailure(f"bundle {name}: DSSE envelope must hold exactly one signature")
        sig = bytes(env.signatures[0].sig)
        payload = bytes(env.payload)
        body = pae(env.payload_type, payload)
        if not _verify_sig(pub, sig, data=body, digest=b"", hash_name="sha256"):
            return None
        subjects = statement_digests(env.payload_type, payload, name)
        if digester("sha256").hex() not in subjects:
            raise SignatureFailure(
                f"bundle {name} is signed for another artifact (no in-toto subject has its digest)"
            )
        return sig, ("sha256", hashlib.sha256(body).digest(), payload)
    if ms is None:
        raise SignatureFailure(f"bundle {name} holds neither a message signature nor DSSE")
    hash_name = "sha256"
    if ms.message_digest is not None:
        algo = getattr(ms.message_digest.algorithm, "name", str(ms.message_digest.algorithm))
        if algo not in _HASHES:
            raise SignatureFailure(f"bundle {name}: unsupported digest algorithm {algo}")
        hash_name = _HASHES[algo]
    digest = digester(hash_name)
    if ms.message_digest is not None and bytes(ms.message_digest.digest) != digest:
        raise SignatureFailure(
            f"bundle {name} is for another artifact, or the file changed after signing "
            "(digest differs)"
        )
    sig = bytes(ms.signature)
    if not _verify_sig(pub, sig, data=None, digest=digest, hash_name=hash_name):
        return None
    return sig, (hash_name, digest, None)


def _check_log_and_time(
    inner: Any,
    name: str,
    rule: Signer,
    base: Path,
    *,
    pub: Any,
    sig: bytes,
    digest: tuple[str, bytes, bytes | None],
) -> str | None:
    """Verify log entries and timestamps present (or required); the root's label, if used."""
    entries = list(inner.verification_material.tlog_entries or [])
    tsd = inner.verification_material.timestamp_verification_data
    stamps = list(tsd.rfc3161_timestamps or []) if tsd is not None else []
    if not entries and rule.require_tlog:
        raise SignatureFailure(
            f"bundle {name} has no transparency-log entry and the rule requires one "
            "(require_tlog: true): sign with the log enabled"
        )
    if not entries and not stamps:
        return None
    from gate.signing.trust import trusted_root

    root, label = trusted_root(rule, base)
    v01 = inner.media_type.endswith("version=0.1")
    for entry in entries:
        _check_entry(entry, name, root, label, v01=v01)
        check_entry_body(entry, name, pub=pub, sig=sig, digest=digest)
    if stamps:
        _check_timestamps(stamps, sig, name, root, label)
    return label


def _check_entry(entry: Any, name: str, root: Any, label: str, *, v01: bool) -> None:
    from sigstore._internal.merkle import verify_merkle_inclusion
    from sigstore._internal.rekor.checkpoint import verify_checkpoint
    from sigstore._internal.trust import KeyringPurpose
    from sigstore.errors import VerificationError
    from sigstore.models import TransparencyLogEntry

    from gate.signing.explain import explain

    log = TransparencyLogEntry.__new__(TransparencyLogEntry)
    log._inner = entry  # not the constructor: it insists on a checkpoint, v0.1 may lack one
    keyring = root.rekor_keyring(KeyringPurpose.VERIFY)
    proof = entry.inclusion_proof
    has_proof = proof is not None and proof.checkpoint is not None
    has_promise = entry.inclusion_promise is not None and entry.integrated_time
    if not has_proof and not (v01 and has_promise):
        raise SignatureFailure(f"bundle {name}: log entry without an inclusion proof")
    try:
        if has_proof:
            verify_merkle_inclusion(log)
            verify_checkpoint(keyring, log)
        if has_promise:
            log._verify_set(keyring)
    except VerificationError as e:
        raise SignatureFailure(explain(str(e), root_label=label), details=str(e)) from None
    if entry.integrated_time:
        when = _dt.datetime.fromtimestamp(int(entry.integrated_time), tz=_dt.timezone.utc)
        now = _dt.datetime.now(_dt.timezone.utc)
        if (when - now).total_seconds() > FUTURE_SLACK_S:
            raise SignatureFailure(
                f"bundle {name}: log entry time is in the future ({when:%Y-%m-%d %H:%M} UTC)"
            )


def check_entry_body(
    entry: Any, name: str, *, pub: Any, sig: bytes, digest: tuple[str, bytes, bytes | None]
) -> None:
    """The log entry must record this signature by this key over this digest."""
    hash_name, value, payload = digest
    try:
        body = json.loads(bytes(entry.canonicalized_body))
        kind, version = body["kind"], body["apiVersion"]
        spec = body["spec"]
        if kind == "hashedrekord" and version == "0.0.1":
            ok = (
                spec["data"]["hash"]["algorithm"] == hash_name
                and spec["data"]["hash"]["value"] == value.hex()
                and base64.b64decode(spec["signature"]["content"]) == sig
                and _same_key(base64.b64decode(spec["signature"]["publicKey"]["content"]), pub)
            )
        elif kind == "dsse" and version == "0.0.1" and payload is not None:
            ok = spec["payloadHash"]["value"] == hashlib.sha256(payload).hexdigest() and any(
                base64.b64decode(s["signature"]) == sig
                and _same_key(base64.b64decode(s["verifier"]), pub)
                for s in spec["signatures"]
            )
        elif kind == "hashedrekord" and version == "0.0.2":
            v2 = spec["hashedRekordV002"]
            ok = (
                base64.b64decode(v2["data"]["digest"]) == value
                and base64.b64decode(v2["signature"]["content"]) == sig
                and base64.b64decode(v2["signature"]["verifier"]["publicKey"]["rawBytes"])
                == _spki(pub)
            )
        else:
            raise SignatureFailure(f"bundle {name}: log entry kind {kind}/{version} not supported")
    except (ValueError, KeyError, TypeError) as e:
        raise SignatureFailure(
            f"bundle {name}: log entry body is unreadable", details=repr(e)
        ) from None
    if not ok:
        raise SignatureFailure(
            f"bundle {name}: the log entry records another signature, key or digest"
        )


def _same_key(pem: bytes, pub: Any) -> bool:
    """Whether the PEM (a public key, or a certificate for keyless entries) holds ``pub``."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        if b"CERTIFICATE" in pem[:40]:
            return _spki(x509.load_pem_x509_certificate(pem).public_key()) == _spki(pub)
        return _spki(load_pem_public_key(pem)) == _spki(pub)
    except (ValueError, TypeError):
        return False


def _check_timestamps(stamps: list[Any], sig: bytes, name: str, root: Any, label: str) -> None:
    from rfc3161_client import decode_timestamp_response
    from sigstore.verify import Verifier

    verifier = Verifier(trusted_root=root)
    for stamp in stamps:
        try:
            tsr = decode_timestamp_response(bytes(stamp.signed_timestamp))
        except ValueError:
            raise SignatureFailure(f"bundle {name}: a timestamp does not parse") from None
        if verifier._verify_signed_timestamp(tsr, sig) is not None:
            return
    raise SignatureFailure(
        f"bundle {name}: timestamp not signed by a timestamp authority of {label}"
    )
