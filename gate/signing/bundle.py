"""Sigstore bundles (``*.sigstore.json``; ``cosign sign-blob --bundle --new-bundle-format``).

Key-signed bundles (a public-key hint instead of a certificate) go to ``keybundle.py``.
Keyless ones are verified with sigstore-python (imported lazily) against an identity
policy: the Fulcio certificate's identity (exact, or a full-match regexp) and its OIDC
issuer, chained to a trusted root (``trust.py``). Bundle media types v0.1,
v0.2 and v0.3 are accepted; anything else is refused by name before parsing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.signing.explain import explain, first_line, one_line, wrong_identity
from gate.signing.interface import Proof, SignatureFailure, read_material
from gate.signing.trust import certificate_identities, identity_policy, trusted_root

if TYPE_CHECKING:
    from gate.config.signatures import Signer, _Identity
    from gate.signing.keybundle import Digester

KNOWN_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
)


def _first_line(e: BaseException) -> str:
    return first_line(e)


def read_bundle(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The bytes and JSON of a bundle file, refusing what is not a Sigstore bundle by name."""
    raw = read_material(path, "bundle")
    return raw, parse_bundle_json(raw, path.name)


def parse_bundle_json(raw: bytes, name: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        raise SignatureFailure(f"bundle {name} is malformed: not JSON") from None
    if not isinstance(doc, dict):
        raise SignatureFailure(f"bundle {name} is malformed: not a JSON object")
    media = doc.get("mediaType")
    if media is None and "base64Signature" in doc:
        raise SignatureFailure(
            f"bundle {name} is a legacy cosign bundle, not a Sigstore bundle: use a cosign-key "
            "rule (signature_suffix: .sigstore.json) or sign with --new-bundle-format"
        )
    if media not in KNOWN_MEDIA_TYPES:
        raise SignatureFailure(
            f"bundle {name} has unknown media type {str(media)[:60]!r} "
            "(supported: Sigstore bundle v0.1, v0.2, v0.3)"
        )
    return doc


def load_bundle(path: Path) -> Any:
    """Parse a keyless bundle file with sigstore-python (unknown media types refused)."""
    raw, doc = read_bundle(path)
    return sigstore_bundle(raw, doc, path.name)


def sigstore_bundle(raw: bytes, doc: dict[str, Any], name: str) -> Any:
    from sigstore.models import Bundle, InvalidBundle

    if "publicKey" in (doc.get("verificationMaterial") or {}):
        raise SignatureFailure(
            f"bundle {name} is key-signed (a public-key hint, no certificate): give the rule "
            "'key:' with the signer's public key instead of identity/issuer"
        )
    try:
        return Bundle.from_json(raw)
    except InvalidBundle as e:
        text = str(e).removeprefix("failed to load bundle: ")
        if str(e).startswith("failed to load bundle"):
            raise SignatureFailure(
                f"bundle {name} is malformed: {one_line(text, 100)}", details=str(e)
            ) from None
        raise SignatureFailure(
            f"bundle {name} cannot be verified: {one_line(text, 100)}", details=str(e)
        ) from None


def key_bundle(raw: bytes, doc: dict[str, Any], name: str) -> Any:
    """Parse a key-signed bundle (sigstore_models; sigstore-python's Bundle wants a cert)."""
    from sigstore_models.bundle.v1 import Bundle as _Bundle

    material = doc.get("verificationMaterial") or {}
    if "publicKey" not in material:
        raise SignatureFailure(
            f"bundle {name} carries a certificate (keyless): give the rule 'identity' + "
            "'issuer' instead of 'key'"
        )
    if "tlogEntries" not in material:  # protobuf JSON leaves out an empty list
        doc = {**doc, "verificationMaterial": {**material, "tlogEntries": []}}
        raw = json.dumps(doc).encode()
    try:
        return _Bundle.from_json(raw)
    except ValueError as e:
        raise SignatureFailure(
            f"bundle {name} is malformed: {one_line(_parse_error(e), 100)}", details=str(e)
        ) from None


def _parse_error(e: ValueError) -> str:
    """The first problem pydantic found, as ``field: message`` (not its headline)."""
    errors = getattr(e, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg', '')}"
    return first_line(e)


def file_digester(path: Path) -> Digester:
    """The file's digest per hash name, computed once per name while streaming the file."""
    cache: dict[str, bytes] = {}

    def digest(name: str) -> bytes:
        if name not in cache:
            h = hashlib.new(name)
            try:
                with path.open("rb") as fh:
                    while chunk := fh.read(1 << 20):
                        h.update(chunk)
            except OSError as e:
                raise SignatureFailure(f"cannot read {path.name}: {e.strerror}") from None
            cache[name] = h.digest()
        return cache[name]

    return digest


def verify_bundle(artifact: Path, bundle_path: Path, rule: Signer, base: Path) -> Proof:
    """Verify ``artifact`` against a Sigstore bundle: key-signed with ``rule.key``, else
    keyless against the rule's identity policy."""
    raw, doc = read_bundle(bundle_path)
    return verify_bundle_doc(raw, doc, bundle_path.name, file_digester(artifact), rule, base)


def verify_bundle_doc(
    raw: bytes, doc: dict[str, Any], name: str, digester: Digester, rule: Signer, base: Path
) -> Proof:
    """Verify a parsed bundle for the artifact whose digests ``digester`` gives."""
    if rule.key is not None:
        from gate.signing.keybundle import verify_key_bundle

        return verify_key_bundle(key_bundle(raw, doc, name), name, digester, rule, base)
    return verify_keyless(sigstore_bundle(raw, doc, name), name, digester, rule, base)


def _not_in_future(bundle: Any, name: str) -> None:
    """A log time ahead of now is refused by name (sigstore reports it as an expired
    certificate, or a chain it cannot build, which would send the reader the wrong way)."""
    import datetime as dt

    from gate.signing.keybundle import FUTURE_SLACK_S

    t = bundle.log_entry._inner.integrated_time
    if t:
        when = dt.datetime.fromtimestamp(int(t), tz=dt.timezone.utc)
        if (when - dt.datetime.now(dt.timezone.utc)).total_seconds() > FUTURE_SLACK_S:
            raise SignatureFailure(
                f"bundle {name}: log entry time is in the future ({when:%Y-%m-%d %H:%M} UTC)"
            )


def verify_keyless(
    bundle: Any, name: str, digester: Digester, ident: _Identity, base: Path
) -> Proof:
    from sigstore.errors import Error as SigstoreError
    from sigstore.hashes import Hashed
    from sigstore.verify import Verifier
    from sigstore_models.common.v1 import HashAlgorithm

    root, root_label = trusted_root(ident, base)
    policy = identity_policy(ident)
    _not_in_future(bundle, name)
    try:
        verifier = Verifier(trusted_root=root)
        if bundle._dsse_envelope is not None:
            ptype, payload = verifier.verify_dsse(bundle, policy)
            from gate.signing.keybundle import statement_digests

            if digester("sha256").hex() not in statement_digests(ptype, payload, name):
                raise SignatureFailure(
                    f"bundle {name} is signed for another artifact "
                    "(no in-toto subject has its digest)"
                )
        else:
            hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digester("sha256"))
            verifier.verify_artifact(hashed, bundle, policy)
    except SignatureFailure:
        raise
    except SigstoreError as e:
        text = str(e)
        if "SANs do not match" in text or "no certificate identity matches" in text:
            sans = sorted(certificate_identities(bundle.signing_certificate))
            reason = wrong_identity(sans, ident.identity or ident.identity_regexp or "")
        else:
            reason = explain(text, root_label=root_label)
        raise SignatureFailure(reason, details=text) from None
    except Exception as e:  # malformed inner material surfaces as assorted errors
        raise SignatureFailure(
            f"bundle {name} cannot be verified: {type(e).__name__}: {one_line(first_line(e), 80)}",
            details=f"{type(e).__name__}: {e}",
        ) from None
    sans = sorted(certificate_identities(bundle.signing_certificate))
    return Proof(signer=f"{', '.join(sans)} (issuer {ident.issuer})", trust_root=root_label)
