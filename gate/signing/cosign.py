"""Cosign key-based blob signatures (``cosign sign-blob --key cosign.key FILE``).

The signature file holds base64 of an ASN.1 DER ECDSA signature over SHA-256 of the file;
the public key is the PEM ``cosign.pub`` (SubjectPublicKeyInfo). cosign's legacy ``--bundle``
JSON (``{"base64Signature": ...}``) is accepted too: with a key, only its signature matters.
Only ``cryptography`` is needed, imported lazily.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path
from typing import Any

from gate.signing.interface import Proof, SignatureFailure, read_material

_CHUNK = 1 << 20


def _sha256(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.digest()


def load_public_key(key: str, base: Path) -> tuple[Any, str]:
    """The public key object and a label (path or ``inline``) from a path or inline PEM.

    Any problem is a ``SignatureFailure`` (an unreadable key blocks, it never passes).
    """
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if key.lstrip().startswith("-----BEGIN"):
        data, label = key.strip().encode(), "inline key"
    else:
        path = Path(key).expanduser()
        path = path if path.is_absolute() else (base / path).resolve()
        try:
            data = path.read_bytes()
        except OSError as e:
            raise SignatureFailure(f"cannot read public key {path}: {e.strerror}") from None
        label = str(path)
    try:
        pub = load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        first = first.split(". See https://")[0]  # cryptography appends a FAQ link
        raise SignatureFailure(
            f"public key {label} is not a PEM public key: {first[:80]}", details=str(e)
        ) from None
    return pub, label


def key_id(pub: Any) -> str:
    """sha256 of the DER SubjectPublicKeyInfo, shortened: how reports name a key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    der = pub.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()[:16]


def read_signature(sig_path: Path) -> bytes:
    """Raw DER signature bytes from a cosign ``.sig`` (base64) or legacy cosign bundle."""
    raw = read_material(sig_path, "signature")
    text = raw.strip()
    if text.startswith(b"{"):
        try:
            doc = json.loads(text)
            text = doc["base64Signature"].encode()
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SignatureFailure(
                f"{sig_path.name}: JSON without 'base64Signature' is not a cosign signature"
            ) from None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        # cosign --output-signature writes base64; tolerate raw DER (starts with SEQUENCE)
        if raw[:1] == b"\x30":
            return raw
        raise SignatureFailure(f"{sig_path.name}: not a base64 cosign signature") from None


def verify_blob(artifact: Path, sig_path: Path, key: str, base: Path) -> Proof:
    """Verify ``artifact`` against its cosign signature with the trusted public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    pub, label = load_public_key(key, base)
    if not isinstance(pub, ec.EllipticCurvePublicKey):
        raise SignatureFailure(
            f"public key {label}: {type(pub).__name__} is not supported "
            "(cosign keys are ECDSA P-256)"
        )
    sig = read_signature(sig_path)
    try:
        digest = _sha256(artifact)
    except OSError as e:
        raise SignatureFailure(f"cannot read {artifact.name}: {e.strerror}") from None
    try:
        pub.verify(sig, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except InvalidSignature:
        raise SignatureFailure(
            f"signature {sig_path.name} does not verify with key {key_id(pub)} "
            "(file changed after signing, or signed by another key)"
        ) from None
    return Proof(signer=f"key {key_id(pub)}", trust_root=label)
