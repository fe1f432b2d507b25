"""Sigstore bundles (``*.sigstore.json``; ``cosign sign-blob --bundle --new-bundle-format``).

Verified with sigstore-python (imported lazily) against an identity policy: the Fulcio
certificate's identity (exact, or a full-match regexp) and its OIDC issuer, chained to a
trusted root that is either a ``trusted_root.json`` named in the policy (offline: no network
on the runner) or a public instance's root fetched through TUF. Bundle media types v0.1,
v0.2 and v0.3 are accepted; anything else is refused by name before parsing.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.errors import InfraError
from gate.signing.interface import Proof, SignatureFailure

if TYPE_CHECKING:
    from gate.config.signatures import _Identity

KNOWN_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
)

_OTHERNAME_OID = "1.3.6.1.4.1.57264.1.7"


def certificate_identities(cert: Any) -> set[str]:
    """Every identity a Fulcio certificate carries (email, URI, Sigstore other-name SANs)."""
    from cryptography.x509 import (
        ExtensionNotFound,
        ObjectIdentifier,
        OtherName,
        RFC822Name,
        SubjectAlternativeName,
        UniformResourceIdentifier,
    )

    try:
        san = cert.extensions.get_extension_for_class(SubjectAlternativeName).value
    except ExtensionNotFound:
        return set()
    out: set[str] = set(san.get_values_for_type(RFC822Name))
    out.update(san.get_values_for_type(UniformResourceIdentifier))
    oid = ObjectIdentifier(_OTHERNAME_OID)
    for on in san.get_values_for_type(OtherName):
        if on.type_id == oid:
            out.add(on.value.decode(errors="replace"))
    return out


class RegexpIdentity:
    """A sigstore ``VerificationPolicy``: the issuer matches exactly and some SAN full-matches."""

    def __init__(self, *, pattern: str, issuer: str) -> None:
        from sigstore.verify.policy import OIDCIssuer

        self._re = re.compile(pattern)
        self._pattern = pattern
        self._issuer = OIDCIssuer(issuer)

    def verify(self, cert: Any) -> None:
        from sigstore.errors import VerificationError

        self._issuer.verify(cert)
        sans = certificate_identities(cert)
        if not any(self._re.fullmatch(s) for s in sans):
            raise VerificationError(
                f"no certificate identity matches {self._pattern!r} (identities: "
                f"{', '.join(sorted(sans)) or 'none'})"
            )


def identity_policy(ident: _Identity) -> Any:
    """The sigstore ``VerificationPolicy`` for a rule's identity and issuer."""
    from sigstore.verify.policy import Identity

    if ident.identity_regexp is not None:
        return RegexpIdentity(pattern=ident.identity_regexp, issuer=ident.issuer)
    assert ident.identity is not None
    return Identity(identity=ident.identity, issuer=ident.issuer)


def trusted_root(ident: _Identity, base: Path) -> tuple[Any, str]:
    """The sigstore ``TrustedRoot`` and a label naming it (file path or instance)."""
    from sigstore.models import ClientTrustConfig, TrustedRoot

    if ident.trusted_root is not None:
        path = Path(ident.trusted_root).expanduser()
        path = path if path.is_absolute() else (base / path).resolve()
        try:
            return TrustedRoot.from_file(str(path)), f"trusted root {path}"
        except FileNotFoundError:
            raise SignatureFailure(f"trusted root {path} does not exist") from None
        except Exception as e:  # any parse error: the trust anchor is unusable → blocked
            raise SignatureFailure(
                f"trusted root {path} is not a Sigstore trusted_root.json: {_first_line(e)}"
            ) from None
    try:
        if ident.instance.value == "staging":
            cfg = ClientTrustConfig.staging(offline=ident.offline)
        else:
            cfg = ClientTrustConfig.production(offline=ident.offline)
    except Exception as e:
        raise InfraError(
            f"cannot get the Sigstore {ident.instance.value} trusted root via TUF: "
            f"{_first_line(e)}",
            hint="give signatures.rules[].trusted_root (a trusted_root.json file) to verify "
            "offline, or set offline: true to use the cached root",
        ) from None
    how = "cached" if ident.offline else "TUF"
    return cfg.trusted_root, f"Sigstore {ident.instance.value} ({how})"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def load_bundle(path: Path) -> Any:
    """Parse a bundle file, refusing unknown media types by name."""
    from sigstore.models import Bundle

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SignatureFailure(f"missing bundle {path.name}") from None
    except OSError as e:
        raise SignatureFailure(f"cannot read bundle {path.name}: {e.strerror}") from None
    try:
        doc = json.loads(raw)
    except ValueError:
        raise SignatureFailure(f"bundle {path.name} is not JSON") from None
    if not isinstance(doc, dict):
        raise SignatureFailure(f"bundle {path.name} is not a JSON object")
    media = doc.get("mediaType")
    if media is None and "base64Signature" in doc:
        raise SignatureFailure(
            f"bundle {path.name} is a legacy cosign bundle; sign with "
            "'cosign sign-blob --new-bundle-format --bundle' to get a Sigstore bundle"
        )
    if media not in KNOWN_MEDIA_TYPES:
        raise SignatureFailure(
            f"bundle {path.name} has unknown media type {media!r} "
            "(supported: Sigstore bundle v0.1, v0.2, v0.3)"
        )
    try:
        return Bundle.from_json(raw)
    except Exception as e:
        raise SignatureFailure(f"bundle {path.name} is malformed: {_first_line(e)}") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _verify_dsse_subject(payload_type: str, payload: bytes, artifact: Path, name: str) -> None:
    if payload_type != "application/vnd.in-toto+json":
        raise SignatureFailure(f"bundle {name}: DSSE payload type {payload_type!r} is not in-toto")
    try:
        statement = json.loads(payload)
        digests = {s["digest"].get("sha256") for s in statement["subject"]}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SignatureFailure(f"bundle {name}: in-toto statement without subjects") from None
    if _sha256(artifact) not in digests:
        raise SignatureFailure(f"bundle {name} is for another artifact (no subject digest matches)")


def verify_bundle(artifact: Path, bundle_path: Path, ident: _Identity, base: Path) -> Proof:
    """Verify ``artifact`` against a Sigstore bundle and the rule's identity policy."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.verify import Verifier

    bundle = load_bundle(bundle_path)
    root, root_label = trusted_root(ident, base)
    policy = identity_policy(ident)
    name = bundle_path.name
    try:
        verifier = Verifier(trusted_root=root)
        if bundle._dsse_envelope is not None:
            ptype, payload = verifier.verify_dsse(bundle, policy)
            _verify_dsse_subject(ptype, payload, artifact, name)
        else:
            verifier.verify_artifact(artifact.read_bytes(), bundle, policy)
    except SignatureFailure:
        raise
    except SigstoreError as e:
        raise SignatureFailure(f"bundle {name}: {_explain(_first_line(e))}") from None
    except OSError as e:
        raise SignatureFailure(f"cannot read {artifact.name}: {e.strerror}") from None
    except Exception as e:  # malformed inner material surfaces as assorted errors
        raise SignatureFailure(f"bundle {name}: {type(e).__name__}: {_first_line(e)}") from None
    sans = sorted(certificate_identities(bundle.signing_certificate))
    return Proof(signer=f"{', '.join(sans)} (issuer {ident.issuer})", trust_root=root_label)


def _explain(msg: str) -> str:
    """sigstore's message plus what it means for the gate, for the common cases."""
    low = msg.lower()
    if "invalid for input" in low or "digest mismatch" in low:
        return f"{msg} — the bundle is for another artifact, or the file changed after signing"
    if "san" in low and "match" in low:
        return f"{msg} — signed by an identity the policy does not trust"
    return msg
