"""Sigstore bundles (``*.sigstore.json``; ``cosign sign-blob --bundle --new-bundle-format``).

Key-signed bundles (a public-key hint instead of a certificate) go to ``keybundle.py``.
Keyless ones are verified with sigstore-python (imported lazily) against an identity policy: the Fulcio
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
from gate.signing.explain import explain, first_line, one_line, wrong_identity
from gate.signing.interface import Proof, SignatureFailure

if TYPE_CHECKING:
    from gate.config.signatures import Signer, _Identity
    from gate.signing.keybundle import Digester

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

    assert ident.issuer is not None  # the rule's validator guarantees it for keyless rules
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
            return TrustedRoot.from_file(str(path)), f"trusted root {ident.trusted_root}"
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
    return first_line(e)


def read_bundle(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The bytes and JSON of a bundle file, refusing what is not a Sigstore bundle by name."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SignatureFailure(f"missing bundle {path.name}") from None
    except OSError as e:
        raise SignatureFailure(f"cannot read bundle {path.name}: {e.strerror}") from None
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


def verify_keyless(bundle: Any, name: str, digester: Digester, ident: _Identity, base: Path) -> Proof:
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
