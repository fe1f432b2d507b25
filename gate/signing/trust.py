"""Trust anchors shared by every Sigstore verification: the trusted root (a
``trusted_root.json`` named in the policy, or a public instance's root via TUF), the identity
policy of a keyless rule, and the identities a Fulcio certificate carries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.errors import InfraError
from gate.signing.explain import first_line as _first_line
from gate.signing.interface import SignatureFailure

if TYPE_CHECKING:
    from gate.config.signatures import _Identity

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
