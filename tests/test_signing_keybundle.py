"""Key-signed Sigstore bundles (the public-key hint form ``cosign sign-blob --key --bundle``
writes from cosign 3), made here with ``cryptography`` in every bundle version (v0.1, v0.2,
v0.3) and both envelopes (message signature, DSSE), with log entries put into the local
Rekor (tests/sigstore_fixture.py). Real ones from public instances are in
fixtures/signatures (``conf-managed-key-*`` cases, tests/test_signing_vectors.py).

The matrix is the keyless one: good, tampered, wrong key, wrong digest, DSSE payload for
another subject; then what the log adds: required entry missing, proof altered, entry from
another log, entry for another signature, entry time in the future.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore_fixture import LocalSigstore, start_local_sigstore

from gate.config.signatures import SigstoreBundleRule
from gate.signing.bundle import verify_bundle
from gate.signing.interface import SignatureFailure
from gate.signing.keybundle import key_hint, pae

MEDIA = {
    "v0.1": "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "v0.2": "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "v0.3": "application/vnd.dev.sigstore.bundle.v0.3+json",
}
INTOTO = "application/vnd.in-toto+json"

local_sigstore = pytest.fixture(scope="module")(start_local_sigstore)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


class Signer:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def write_pub(self, path: Path) -> Path:
        path.write_bytes(self.pem)
        return path

    def message(self, data: bytes, media: str = MEDIA["v0.3"]) -> dict[str, Any]:
        sig = self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        return {
            "mediaType": media,
            "verificationMaterial": {"publicKey": {"hint": key_hint(self.key.public_key())}},
            "messageSignature": {
                "messageDigest": {
                    "algorithm": "SHA2_256",
                    "digest": _b64(hashlib.sha256(data).digest()),
                },
                "signature": _b64(sig),
            },
        }

    def dsse(self, subject_sha256: str, media: str = MEDIA["v0.3"]) -> dict[str, Any]:
        stmt = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "a.bin", "digest": {"sha256": subject_sha256}}],
            "predicateType": "https://example.com/test",
            "predicate": {},
        }
        payload = json.dumps(stmt).encode()
        sig = self.key.sign(pae(INTOTO, payload), ec.ECDSA(hashes.SHA256()))
        return {
            "mediaType": media,
            "verificationMaterial": {"publicKey": {"hint": key_hint(self.key.public_key())}},
            "dsseEnvelope": {
                "payload": _b64(payload),
                "payloadType": INTOTO,
                "signatures": [{"sig": _b64(sig), "keyid": ""}],
            },
        }

    def hashedrekord(self, bundle: dict[str, Any]) -> dict[str, Any]:
        ms = bundle["messageSignature"]
        return {
            "kind": "hashedrekord",
            "apiVersion": "0.0.1",
            "spec": {
                "data": {
                    "hash": {
                        "algorithm": "sha256",
                        "value": base64.b64decode(ms["messageDigest"]["digest"]).hex(),
                    }
                },
                "signature": {"content": ms["signature"], "publicKey": {"content": _b64(self.pem)}},
            },
        }

    def dsse_entry(self, bundle: dict[str, Any]) -> dict[str, Any]:
        env = bundle["dsseEnvelope"]
        payload = base64.b64decode(env["payload"])
        return {
            "kind": "dsse",
            "apiVersion": "0.0.1",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": "00" * 32},
                "payloadHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(payload).hexdigest(),
                },
                "signatures": [
                    {"signature": env["signatures"][0]["sig"], "verifier": _b64(self.pem)}
                ],
            },
        }


def _rule(pub: Path | str, **kw: Any) -> SigstoreBundleRule:
    return SigstoreBundleRule(method="sigstore-bundle", key=str(pub), **kw)


def _write(tmp: Path, data: bytes, bundle: dict[str, Any]) -> tuple[Path, Path]:
    art = tmp / "a.bin"
    art.write_bytes(data)
    b = tmp / "a.bin.sigstore.json"
    b.write_text(json.dumps(bundle))
    return art, b


def _fails(art: Path, b: Path, rule: SigstoreBundleRule, *words: str) -> str:
    with pytest.raises(SignatureFailure) as ei:
        verify_bundle(art, b, rule, art.parent)
    reason = ei.value.reason
    assert "\n" not in reason and len(reason) <= 200, reason
    for w in words:
        assert w in reason, reason
    return reason


@pytest.mark.parametrize("version", sorted(MEDIA))
@pytest.mark.parametrize("envelope", ["message", "dsse"])
def test_key_signed_bundle_matrix(tmp_path: Path, version: str, envelope: str) -> None:
    data = b"weights" * 100
    s, other = Signer(), Signer()
    pub, wrong = s.write_pub(tmp_path / "k.pub"), other.write_pub(tmp_path / "o.pub")
    good = (
        s.message(data, MEDIA[version])
        if envelope == "message"
        else s.dsse(hashlib.sha256(data).hexdigest(), MEDIA[version])
    )
    art, b = _write(tmp_path, data, good)
    proof = verify_bundle(art, b, _rule(pub), tmp_path)
    assert proof.signer.startswith("key sha256:") and str(pub) in proof.trust_root
    # tampered file
    art.write_bytes(data + b"!")
    _fails(art, b, _rule(pub), "bundle a.bin.sigstore.json")
    art.write_bytes(data)
    # wrong key: the hint names another key
    _fails(art, b, _rule(wrong), "does not verify with key", "another key")
    # the signature itself altered
    doc = json.loads(b.read_text())
    holder = doc.get("messageSignature") or doc["dsseEnvelope"]["signatures"][0]
    field = "signature" if "signature" in holder else "sig"
    raw = bytearray(base64.b64decode(holder[field]))
    raw[-1] ^= 1
    holder[field] = _b64(bytes(raw))
    b.write_text(json.dumps(doc))
    _fails(art, b, _rule(pub), "does not verify")


def test_wrong_digest_and_other_subject(tmp_path: Path) -> None:
    s = Signer()
    pub = s.write_pub(tmp_path / "k.pub")
    # a message-signature bundle whose digest is another file's
    art, b = _write(tmp_path, b"mine", s.message(b"theirs"))
    _fails(art, b, _rule(pub), "another artifact")
    # a correctly signed DSSE statement about another subject
    art, b = _write(tmp_path, b"mine", s.dsse(hashlib.sha256(b"theirs").hexdigest()))
    _fails(art, b, _rule(pub), "another artifact", "in-toto subject")


def test_keyless_rule_on_key_bundle_and_key_rule_on_keyless_bundle(tmp_path: Path) -> None:
    s = Signer()
    pub = s.write_pub(tmp_path / "k.pub")
    art, b = _write(tmp_path, b"x", s.message(b"x"))
    keyless = SigstoreBundleRule(
        method="sigstore-bundle", identity="me@example.com", issuer="https://issuer"
    )
    reason = _fails(art, b, keyless, "key-signed", "'key:'")
    assert "malformed" not in reason
    conf = Path(__file__).parent.parent / "fixtures/signatures/vectors"
    keyless_bundle = conf / "conf-happy-path-v0.3/bundle.sigstore.json"
    _fails(conf / "_shared/conformance-a.txt", keyless_bundle, _rule(pub), "certificate", "issuer")


def test_require_tlog(tmp_path: Path) -> None:
    s = Signer()
    pub = s.write_pub(tmp_path / "k.pub")
    art, b = _write(tmp_path, b"x", s.message(b"x"))
    verify_bundle(art, b, _rule(pub), tmp_path)  # no entry, none required
    _fails(art, b, _rule(pub, require_tlog=True), "no transparency-log entry", "require_tlog")


def test_inline_pem_key(tmp_path: Path) -> None:
    s = Signer()
    art, b = _write(tmp_path, b"x", s.message(b"x"))
    assert verify_bundle(art, b, _rule(s.pem.decode()), tmp_path).trust_root == "inline key"


# --------------------------------------------------------------------------------------
# with log entries from the local Rekor
# --------------------------------------------------------------------------------------


def _logged(
    sig: LocalSigstore, tmp: Path, *, dsse: bool = False, future: bool = False
) -> tuple[Signer, Path, Path, SigstoreBundleRule]:
    s = Signer()
    data = b"model weights\n"
    doc = s.dsse(hashlib.sha256(data).hexdigest()) if dsse else s.message(data)
    body = s.dsse_entry(doc) if dsse else s.hashedrekord(doc)
    doc["verificationMaterial"]["tlogEntries"] = [sig.log_entry(body, future=future)]
    art, b = _write(tmp, data, doc)
    rule = _rule(s.write_pub(tmp / "k.pub"), trusted_root=str(sig.trusted_root))
    return s, art, b, rule


@pytest.mark.parametrize("dsse", [False, True], ids=["hashedrekord", "dsse"])
def test_log_entry_verified_against_the_trusted_root(
    local_sigstore: LocalSigstore, tmp_path: Path, dsse: bool
) -> None:
    _, art, b, rule = _logged(local_sigstore, tmp_path, dsse=dsse)
    proof = verify_bundle(art, b, rule.model_copy(update={"require_tlog": True}), tmp_path)
    assert "log/time" in proof.trust_root and "trusted_root.json" in proof.trust_root
    # the same entry judged against another root (the public production one)
    prod = Path(__file__).parent.parent / "fixtures/signatures/vectors/_roots"
    other = rule.model_copy(update={"trusted_root": str(prod / "production_trusted_root.json")})
    _fails(art, b, other, "not signed by a log of trusted root")


def test_log_entry_tampering_is_named(local_sigstore: LocalSigstore, tmp_path: Path) -> None:
    _, art, b, rule = _logged(local_sigstore, tmp_path)
    doc = json.loads(b.read_text())
    entry = doc["verificationMaterial"]["tlogEntries"][0]
    entry["inclusionProof"]["rootHash"] = _b64(b"\x01" * 32)
    b.write_text(json.dumps(doc))
    _fails(art, b, rule, "inclusion proof does not match the log")


def test_log_entry_for_another_signature(local_sigstore: LocalSigstore, tmp_path: Path) -> None:
    """A genuine log entry, but it records another signature (CVE-2022-36056's shape)."""
    s, art, b, rule = _logged(local_sigstore, tmp_path)
    other = s.message(b"something else")
    entry = local_sigstore.log_entry(s.hashedrekord(other))
    doc = json.loads(b.read_text())
    doc["verificationMaterial"]["tlogEntries"] = [entry]
    b.write_text(json.dumps(doc))
    _fails(art, b, rule, "log entry records another signature, key or digest")


def test_log_entry_time_in_the_future(local_sigstore: LocalSigstore, tmp_path: Path) -> None:
    _, art, b, rule = _logged(local_sigstore, tmp_path, future=True)
    _fails(art, b, rule, "log entry time is in the future")
