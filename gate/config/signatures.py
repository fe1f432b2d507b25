"""The ``signatures:`` section: which files of a model directory must be signed, and by whom.

It may appear in a policy file (beside the tolerances) or in ``gate.yaml``; the one in
``gate.yaml`` wins, because trust (which keys and identities a team accepts) belongs to a
repository while tolerance profiles such as ``policies/strict.yaml`` are shared between
repositories. Without any ``signatures:`` section the gate fails closed: nothing is trusted,
so every model is BLOCKED as unsigned until a rule names a trusted signer.

Strict like the rest of the configuration: an unknown key or a rule that cannot be checked
(no key, no identity, an identity regexp that does not compile) is exit 2, naming the field.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Method(str, Enum):
    """How an artifact is signed."""

    COSIGN_KEY = "cosign-key"
    SIGSTORE_BUNDLE = "sigstore-bundle"
    MODEL_SIGNING = "model-signing"


class Instance(str, Enum):
    """A public Sigstore instance whose trusted root (via TUF) anchors bundle verification."""

    PRODUCTION = "production"
    STAGING = "staging"


def _check_patterns(v: tuple[str, ...]) -> tuple[str, ...]:
    for p in v:
        if not p or p.startswith("/") or ".." in PurePosixPath(p).parts:
            raise ValueError(f"pattern {p!r} must be relative to the model directory, without '..'")
    return v


def identity_problems(
    identity: str | None, identity_regexp: str | None, issuer: str | None
) -> list[str]:
    """Every mistake in a keyless identity, each with its fix (all at once, not the first)."""
    out = []
    if not issuer:
        out.append("give 'issuer' (the OIDC issuer the signer's identity comes from)")
    if (identity is None) == (identity_regexp is None):
        out.append("give exactly one of 'identity' and 'identity_regexp'")
    if identity_regexp is not None:
        try:
            re.compile(identity_regexp)
        except re.error as e:
            out.append(f"identity_regexp does not compile: {e}")
    return out


def signer_problems(
    key: str | None, identity: str | None, identity_regexp: str | None, issuer: str | None
) -> list[str]:
    """What is wrong with "who must have signed": a key, or a keyless identity + issuer."""
    keyless = identity is not None or identity_regexp is not None or issuer is not None
    if key is not None and keyless:
        return [
            "give either 'key' (key-signed) or 'identity'/'identity_regexp' + 'issuer' "
            "(keyless), not both"
        ]
    if key is not None:
        return [] if key.strip() else ["'key' is empty: give a public key path or inline PEM"]
    if not keyless:
        return [
            "give 'key' (the signer's public key) or 'identity' + 'issuer' (a keyless "
            "Sigstore signer)"
        ]
    return identity_problems(identity, identity_regexp, issuer)


Patterns = Annotated[tuple[str, ...], Field(description="glob patterns relative to the model dir")]


class _Rule(_Strict):
    files: Patterns = Field(
        ("**",),
        description="which files this rule covers (globs relative to the model directory; "
        "'**' matches across folders); a file is covered by the first rule that matches",
    )

    @field_validator("files")
    @classmethod
    def _files(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("list at least one pattern (e.g. '**' for every file)")
        return _check_patterns(v)


class _Identity(_Strict):
    """Who must have signed, keyless: a Fulcio certificate's identity (SAN) and its OIDC
    issuer, and the trusted root that anchors certificates, log entries and timestamps."""

    identity: str | None = Field(None, description="exact identity (email or workflow URI)")
    identity_regexp: str | None = Field(None, description="identity as a full-match regexp")
    issuer: str | None = Field(
        None, description="OIDC issuer, e.g. https://token.actions.githubusercontent.com"
    )
    trusted_root: str | None = Field(
        None, description="trusted_root.json (offline); else the instance's root via TUF"
    )
    instance: Instance = Instance.PRODUCTION
    offline: bool = Field(
        False, description="with no trusted_root: use the cached/embedded root, no TUF refresh"
    )


class Signer(_Identity):
    """Who must have signed: a public key (``key``), or a keyless identity + issuer.

    The same grammar for a Sigstore bundle next to a file, a container image and an OCI
    model artifact. With ``key``, transparency-log entries and timestamps that the signature
    carries are verified against the trusted root when present; ``require_tlog`` makes a
    log entry mandatory (keyless signatures always have one).
    """

    key: str | None = Field(
        None, description="public key path (relative to this file) or inline PEM (key-signed)"
    )
    require_tlog: bool = Field(
        False, description="key-signed: refuse a signature without a transparency-log entry"
    )

    @model_validator(mode="after")
    def _who(self) -> Signer:
        problems = signer_problems(self.key, self.identity, self.identity_regexp, self.issuer)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def keyless(self) -> bool:
        return self.key is None


class CosignKeyRule(_Rule):
    """``cosign sign-blob --key``: FILE + ``signature_suffix`` holds a base64 ECDSA signature."""

    method: Literal["cosign-key"]
    key: str = Field(
        min_length=1, description="cosign.pub path (relative to this file) or inline PEM"
    )
    signature_suffix: str = Field(".sig", min_length=1)


class SigstoreBundleRule(_Rule, Signer):
    """``cosign sign-blob --bundle`` / ``sigstore sign``: FILE + ``bundle_suffix``, keyless
    (identity + issuer) or key-signed (``key``; the bundle carries a public-key hint)."""

    method: Literal["sigstore-bundle"]
    bundle_suffix: str = Field(".sigstore.json", min_length=1)


class ModelSigningRule(_Rule, _Identity):
    """OpenSSF model signing: one signature over the whole model directory (mode sigstore:
    signed keyless by the identity and issuer given here)."""

    method: Literal["model-signing"]
    mode: Literal["key", "certificate", "sigstore"]
    signature: str = Field("model.sig", description="path relative to the model directory")
    key: str | None = Field(None, description="mode key: public key path or inline PEM")
    certificate_chain: tuple[str, ...] = Field(
        (), description="mode certificate: CA certificates (PEM files) that anchor the chain"
    )

    @model_validator(mode="after")
    def _mode_fields(self) -> ModelSigningRule:
        if self.mode == "key" and not self.key:
            raise ValueError("mode 'key' needs 'key' (the signer's public key)")
        if self.mode == "certificate" and not self.certificate_chain:
            raise ValueError("mode 'certificate' needs 'certificate_chain' (your CA certificates)")
        if self.mode == "sigstore":
            problems = identity_problems(self.identity, self.identity_regexp, self.issuer)
            if problems:
                raise ValueError(f"mode 'sigstore': {'; '.join(problems)}")
        return self


Rule = Annotated[
    CosignKeyRule | SigstoreBundleRule | ModelSigningRule, Field(discriminator="method")
]


class SignaturePolicy(_Strict):
    """``signatures:``. The default (no section anywhere) trusts no one: every model blocks."""

    enabled: bool = Field(
        True, description="false skips verification entirely (logged as a warning on every run)"
    )
    required: bool = Field(
        True,
        description="an unsigned file blocks; false only warns about unsigned files "
        "(a signature that is present but does not verify still blocks)",
    )
    rules: tuple[Rule, ...] = ()
    ignore: Patterns = Field(
        (), description="files that need no signature (globs); nothing is ignored by default"
    )

    @field_validator("ignore")
    @classmethod
    def _ignore(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _check_patterns(v)
