"""OpenSSF model signing (``model-signing`` 1.x): one signature over a whole model directory.

The signature is a Sigstore bundle whose DSSE payload is an in-toto statement listing every
file of the model with its digest. Modes: ``key`` (an EC key pair), ``certificate`` (a
signing certificate chained to CA certificates named in the policy) and ``sigstore``
(keyless, identity + OIDC issuer + trusted root, as for bundles). The library checks the
signature and the digests of the files in the manifest; which files of the directory must be
in the manifest is decided by the caller (``verify.py``), so that an extra file that is not
in the manifest can be reported by name.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gate.config.signatures import ModelSigningRule
from gate.signing.interface import Proof, SignatureFailure


def _resolve(p: str, base: Path) -> Path:
    path = Path(p).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def manifest_files(sig_path: Path) -> list[str]:
    """The file names a model-signing signature covers (read from its in-toto statement)."""
    try:
        doc = json.loads(sig_path.read_bytes())
        payload = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
        resources = payload["predicate"]["resources"]
        return [str(r["name"]) for r in resources]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SignatureFailure(
            f"signature {sig_path.name} has no readable model-signing manifest ({type(e).__name__})"
        ) from None


@contextlib.contextmanager
def _key_file(key: str, base: Path) -> Iterator[tuple[Path, str, str]]:
    """A path holding the public key (a temporary file for inline PEM), its id and label."""
    from gate.signing.cosign import key_id, load_public_key

    pub, label = load_public_key(key, base)  # unreadable or malformed → SignatureFailure
    if label != "inline key":
        yield Path(label), key_id(pub), label
        return
    with tempfile.TemporaryDirectory(prefix="gate-key-") as tmp:
        path = Path(tmp) / "key.pub"
        path.write_text(key.strip() + "\n")
        yield path, key_id(pub), label


def _chain(sig_path: Path) -> list[Any]:
    from cryptography import x509

    doc = json.loads(sig_path.read_bytes())
    material = doc.get("verificationMaterial", {})
    certs = material.get("x509CertificateChain", {}).get("certificates", [])
    if not certs and "certificate" in material:
        certs = [material["certificate"]]
    return [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"])) for c in certs]


def check_validity(sig_path: Path, now: _dt.datetime | None = None) -> Any:
    """Every certificate in the signature's chain must be valid now; returns the leaf.

    model-signing checks the chain as of the leaf's own notBefore, so an expired certificate
    (or one not yet valid) would pass there. A certificate-mode signature carries no trusted
    timestamp, so "valid at signing time" cannot be shown: the gate fails closed instead.
    """
    now = now or _dt.datetime.now(_dt.timezone.utc)
    try:
        chain = _chain(sig_path)
    except Exception as e:
        raise SignatureFailure(
            f"signature {sig_path.name}: unreadable certificate chain ({type(e).__name__})"
        ) from None
    if not chain:
        raise SignatureFailure(f"signature {sig_path.name} carries no certificate")
    for cert in chain:
        subject = cert.subject.rfc4514_string()
        if now < cert.not_valid_before_utc:
            raise SignatureFailure(
                f"certificate {subject} in {sig_path.name} is not valid before "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
            )
        if now > cert.not_valid_after_utc:
            raise SignatureFailure(
                f"certificate {subject} in {sig_path.name} expired on "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
            )
    return chain[0]


def _sigstore_verifier(rule: ModelSigningRule, base: Path) -> tuple[Any, str]:
    """model-signing's Sigstore verifier, with our trusted root and identity policy.

    ``use_sigstore_verifier`` only takes an exact identity and a client trust config, and
    fetches Sigstore's root through TUF while being constructed; this builds the same verifier
    from a ``trusted_root.json`` (offline) and the regexp-capable policy of ``bundle.py``.
    """
    from model_signing._signing import sign_sigstore
    from sigstore.verify import Verifier

    from gate.signing.trust import identity_policy, trusted_root

    root, label = trusted_root(rule, base)
    v = sign_sigstore.Verifier.__new__(sign_sigstore.Verifier)
    v._verifier = Verifier(trusted_root=root)
    v._policy = identity_policy(rule)
    return v, label


def verify_model(model_dir: Path, rule: ModelSigningRule, base: Path) -> tuple[Proof, list[str]]:
    """Verify the signature and the digests of every file it lists.

    Returns the proof and the manifest's file names (relative, POSIX); extra files are the
    caller's to judge. Any failure is a ``SignatureFailure`` naming the file.
    """
    from model_signing import verifying

    sig_path = model_dir / rule.signature
    if not sig_path.is_file():
        raise SignatureFailure(f"missing model signature {rule.signature}")
    config = verifying.Config().set_ignore_unsigned_files(True)  # type: ignore[no-untyped-call]
    with contextlib.ExitStack() as stack:
        if rule.mode == "key":
            assert rule.key is not None
            key_path, kid, label = stack.enter_context(_key_file(rule.key, base))
            config.use_elliptic_key_verifier(public_key=key_path)
            proof = Proof(signer=f"key {kid}", trust_root=label)
        elif rule.mode == "certificate":
            chain = [_resolve(c, base) for c in rule.certificate_chain]
            for c in chain:
                if not c.is_file():
                    raise SignatureFailure(f"certificate chain file {c} does not exist")
            try:
                config.use_certificate_verifier(certificate_chain=chain)
            except Exception as e:
                raise SignatureFailure(
                    f"certificate chain {', '.join(map(str, chain))} is unreadable: "
                    f"{type(e).__name__}"
                ) from None
            leaf = check_validity(sig_path)
            proof = Proof(
                signer=f"certificate {leaf.subject.rfc4514_string()}",
                trust_root="CA " + ", ".join(str(c) for c in chain),
            )
        else:
            verifier, label = _sigstore_verifier(rule, base)
            config._verifier = verifier
            config._uses_sigstore = True
            proof = Proof(signer="", trust_root=label)
        try:
            config.verify(model_dir, sig_path)
        except ValueError as e:
            reason, culprit = _explain(str(e), rule.signature)
            raise SignatureFailure(reason, path=culprit) from None
        except Exception as e:
            text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SignatureFailure(
                f"model signature {rule.signature} does not verify: {type(e).__name__}: {text}"
            ) from None
    files = manifest_files(sig_path)
    if rule.mode == "sigstore":
        from gate.signing.trust import certificate_identities

        leaf = _chain(sig_path)[0]
        ids = ", ".join(sorted(certificate_identities(leaf)))
        proof = Proof(signer=f"{ids} (issuer {rule.issuer})", trust_root=proof.trust_root)
    return proof, files


def _explain(msg: str, sig_name: str) -> tuple[str, str | None]:
    """model-signing's ValueError as one line naming the first file that differs."""
    text = " ".join(msg.split())
    m = re.search(r"Hash mismatch for \\?'([^'\\]+)", text)
    if m:
        return f"{m.group(1)} changed after signing (digest differs from {sig_name})", m.group(1)
    m = re.search(r"Missing files in model[^:]*: ([^\]\"]+)", text)
    if m:
        names = m.group(1).strip(" '\\")
        return f"file(s) listed in {sig_name} are missing: {names}", None
    return f"model signature {sig_name} does not verify: {text[:300]}", None
