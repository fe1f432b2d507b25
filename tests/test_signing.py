"""Signature verification with keys and certificates made in the test, signed by the real
libraries: ``cryptography`` for the cosign key format (what ``cosign sign-blob --key``
writes), ``model_signing`` for OpenSSF model signing in key and certificate modes (with a
local CA built with ``cryptography``). One negative test per reason the gate blocks.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, run_gate
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gate.config.signatures import (
    CosignKeyRule,
    ModelSigningRule,
    SignaturePolicy,
    SigstoreBundleRule,
)
from gate.signing.verify import glob_match, verify_model_dir

VECTORS = FIXTURES / "signatures"
BEACON = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
GH_ISSUER = "https://token.actions.githubusercontent.com"


# --------------------------------------------------------------------------------------
# helpers: a model directory, cosign-format signatures, model-signing signatures
# --------------------------------------------------------------------------------------


def _model(tmp: Path) -> Path:
    d = tmp / "repo" / "m"
    (d / "1").mkdir(parents=True)
    (d / "config.pbtxt").write_text('name: "m"\nbackend: "python"\n')
    (d / "1" / "model.py").write_text("class TritonPythonModel:\n    pass\n")
    (d / "1" / "weights.bin").write_bytes(os.urandom(4096))
    return d


def _keypair(tmp: Path, name: str = "cosign") -> tuple[ec.EllipticCurvePrivateKey, Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    priv = tmp / f"{name}.key"
    priv.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pub = tmp / f"{name}.pub"
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, priv, pub


def _cosign_sign(key: ec.EllipticCurvePrivateKey, model_dir: Path) -> None:
    """What ``cosign sign-blob --key`` writes: base64(DER ECDSA-P256 over SHA-256)."""
    for f in sorted(model_dir.rglob("*")):
        if f.is_file() and not f.name.endswith(".sig"):
            der = key.sign(f.read_bytes(), ec.ECDSA(hashes.SHA256()))
            f.with_name(f.name + ".sig").write_text(base64.b64encode(der).decode() + "\n")


def _cosign_policy(pub: Path | str, **kw: object) -> SignaturePolicy:
    rule = CosignKeyRule(method="cosign-key", key=str(pub))
    return SignaturePolicy(rules=(rule,), **kw)  # type: ignore[arg-type]


def _oms_key_sign(model_dir: Path, priv: Path) -> None:
    from model_signing import signing

    signing.Config().use_elliptic_key_signer(private_key=priv).sign(
        model_dir, model_dir / "model.sig"
    )


def _cert(
    subject: str,
    pub: ec.EllipticCurvePublicKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: str,
    *,
    ca: bool,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _oms_cert_sign(
    tmp: Path, model_dir: Path, *, leaf_from: dt.timedelta, leaf_until: dt.timedelta
) -> Path:
    """A local CA, a leaf valid over [now+leaf_from, now+leaf_until]; sign with it."""
    from model_signing import signing

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(
        "test-root-ca",
        ca_key.public_key(),
        ca_key,
        "test-root-ca",
        ca=True,
        not_before=now - dt.timedelta(days=3650),
        not_after=now + dt.timedelta(days=3650),
    )
    leaf_key, leaf_priv, _ = _keypair(tmp, "leaf")
    leaf = _cert(
        "model-signer",
        leaf_key.public_key(),
        ca_key,
        "test-root-ca",
        ca=False,
        not_before=now + leaf_from,
        not_after=now + leaf_until,
    )
    ca_pem = _pem(ca, tmp / "ca.pem")
    signing.Config().use_certificate_signer(
        private_key=leaf_priv,
        signing_certificate=_pem(leaf, tmp / "leaf.pem"),
        certificate_chain=[ca_pem],
    ).sign(model_dir, model_dir / "model.sig")
    return ca_pem


def _blocked(res_reason: str, *words: str) -> None:
    for w in words:
        assert w in res_reason, res_reason


# --------------------------------------------------------------------------------------
# cosign key signatures
# --------------------------------------------------------------------------------------


def test_cosign_signed_model_verifies_with_path_and_inline_key(tmp_path: Path) -> None:
    model = _model(tmp_path)
    key, _, pub = _keypair(tmp_path)
    _cosign_sign(key, model)
    res = verify_model_dir(model, _cosign_policy("cosign.pub"), base=tmp_path)
    assert res.ok, res.reason
    assert [a.path for a in res.artifacts] == ["1/model.py", "1/weights.bin", "config.pbtxt"]
    assert {a.status for a in res.artifacts} == {"verified"}
    assert all(a.signer and a.signer.startswith("key sha256:") for a in res.artifacts)
    inline = verify_model_dir(model, _cosign_policy(pub.read_text()), base=Path("/"))
    assert inline.ok and inline.artifacts[0].trust_root == "inline key"


def test_cosign_tampered_file_blocks_naming_it(tmp_path: Path) -> None:
    model = _model(tmp_path)
    key, _, pub = _keypair(tmp_path)
    _cosign_sign(key, model)
    with (model / "1" / "model.py").open("a") as fh:
        fh.write("import os; os.system('curl evil')\n")
    res = verify_model_dir(model, _cosign_policy(pub), base=tmp_path)
    assert not res.ok
    _blocked(res.reason, "1/model.py", "does not verify")
    assert "\n" not in res.reason


def test_cosign_signed_by_another_key_blocks(tmp_path: Path) -> None:
    model = _model(tmp_path)
    other, _, _ = _keypair(tmp_path, "other")
    _, _, pub = _keypair(tmp_path)
    _cosign_sign(other, model)
    res = verify_model_dir(model, _cosign_policy(pub), base=tmp_path)
    assert not res.ok and {a.status for a in res.artifacts} == {"failed"}


def test_missing_signature_blocks(tmp_path: Path) -> None:
    model = _model(tmp_path)
    key, _, pub = _keypair(tmp_path)
    _cosign_sign(key, model)
    (model / "config.pbtxt.sig").unlink()
    res = verify_model_dir(model, _cosign_policy(pub), base=tmp_path)
    assert not res.ok
    _blocked(res.reason, "config.pbtxt", "missing signature config.pbtxt.sig")


@pytest.mark.parametrize(
    ("key_text", "why"),
    [(None, "cannot read public key"), ("not a key\n", "is not a PEM public key")],
)
def test_unreadable_key_blocks(tmp_path: Path, key_text: str | None, why: str) -> None:
    model = _model(tmp_path)
    key, _, _ = _keypair(tmp_path)
    _cosign_sign(key, model)
    bad = tmp_path / "bad.pub"
    if key_text is not None:
        bad.write_text(key_text)
    res = verify_model_dir(model, _cosign_policy(bad), base=tmp_path)
    assert not res.ok
    _blocked(res.reason, why, "bad.pub")


def test_garbage_signature_blocks(tmp_path: Path) -> None:
    model = _model(tmp_path)
    key, _, pub = _keypair(tmp_path)
    _cosign_sign(key, model)
    (model / "config.pbtxt.sig").write_text("%%% not base64 %%%\n")
    res = verify_model_dir(model, _cosign_policy(pub), base=tmp_path)
    _blocked(res.reason, "config.pbtxt", "not a base64 cosign signature")


def test_default_policy_trusts_no_one(tmp_path: Path) -> None:
    model = _model(tmp_path)
    key, _, _ = _keypair(tmp_path)
    _cosign_sign(key, model)
    res = verify_model_dir(model, SignaturePolicy(), base=tmp_path)
    assert not res.ok and {a.status for a in res.artifacts} == {"unsigned"}
    _blocked(res.reason, "trusts any signer")


def test_unsigned_allowed_only_warns_but_tampered_still_blocks(tmp_path: Path) -> None:
    model = _model(tmp_path)
    key, _, pub = _keypair(tmp_path)
    _cosign_sign(key, model)
    (model / "1" / "extra.txt").write_text("unsigned\n")
    lax = _cosign_policy(pub, required=False)
    res = verify_model_dir(model, lax, base=tmp_path)
    assert res.ok
    assert [a.path for a in res.artifacts if a.status == "unsigned"] == ["1/extra.txt"]
    strict = verify_model_dir(model, _cosign_policy(pub), base=tmp_path)
    _blocked(strict.reason, "1/extra.txt", "missing signature")
    (model / "config.pbtxt").write_text("changed\n")
    assert not verify_model_dir(model, lax, base=tmp_path).ok


def test_ignore_patterns_and_bytecode(tmp_path: Path) -> None:
    model = _model(tmp_path)
    key, _, pub = _keypair(tmp_path)
    _cosign_sign(key, model)
    cache = model / "1" / "__pycache__"
    cache.mkdir()
    (cache / "model.cpython-311.pyc").write_bytes(b"\x00" * 16)
    res = verify_model_dir(model, _cosign_policy(pub), base=tmp_path)
    _blocked(res.reason, "__pycache__/model.cpython-311.pyc", "bytecode", "delete")
    res = verify_model_dir(model, _cosign_policy(pub, ignore=("**/__pycache__/**",)), base=tmp_path)
    assert res.ok and "ignored" in {a.status for a in res.artifacts}


def test_symlink_leaving_the_model_dir_blocks(tmp_path: Path) -> None:
    model = _model(tmp_path)
    key, _, pub = _keypair(tmp_path)
    outside = tmp_path / "outside.py"
    outside.write_text("evil\n")
    _cosign_sign(key, model)
    (model / "1" / "helper.py").symlink_to(outside)
    res = verify_model_dir(model, _cosign_policy(pub), base=tmp_path)
    _blocked(res.reason, "1/helper.py", "symlink leaves the model directory")
    (model / "1" / "helper.py").unlink()
    (model / "data").symlink_to(tmp_path, target_is_directory=True)
    res = verify_model_dir(model, _cosign_policy(pub), base=tmp_path)
    _blocked(res.reason, "data", "symlink leaves")


def test_symlink_inside_the_model_dir_is_verified_as_its_target(tmp_path: Path) -> None:
    model = _model(tmp_path)
    key, _, pub = _keypair(tmp_path)
    (model / "1" / "alias.bin").symlink_to("weights.bin")
    _cosign_sign(key, model)
    res = verify_model_dir(model, _cosign_policy(pub), base=tmp_path)
    assert res.ok, res.reason


def test_first_matching_rule_decides(tmp_path: Path) -> None:
    model = _model(tmp_path)
    key, _, pub = _keypair(tmp_path)
    _, _, other_pub = _keypair(tmp_path, "other")
    _cosign_sign(key, model)
    rules = (
        CosignKeyRule(method="cosign-key", key=str(other_pub), files=("config.pbtxt",)),
        CosignKeyRule(method="cosign-key", key=str(pub)),
    )
    res = verify_model_dir(model, SignaturePolicy(rules=rules), base=tmp_path)
    _blocked(res.reason, "config.pbtxt", "does not verify")
    assert [a.status for a in res.artifacts] == ["verified", "verified", "failed"]


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("**", "1/model.py", True),
        ("*.py", "1/model.py", True),
        ("*", "1/model.py", True),  # no '/': matches the name in any folder
        ("1/*", "1/model.py", True),
        ("1/*", "1/sub/model.py", False),
        ("**/__pycache__/**", "1/__pycache__/m.pyc", True),
        ("config.pbtxt", "1/config.pbtxt", True),
        ("/config.pbtxt".lstrip("/"), "config.pbtxt", True),
        ("1/?odel.py", "1/model.py", True),
        ("2/**", "1/model.py", False),
    ],
)
def test_glob_match(pattern: str, path: str, hit: bool) -> None:
    assert glob_match(pattern, path) is hit


# --------------------------------------------------------------------------------------
# Sigstore bundles inside a model directory (real public bundles)
# --------------------------------------------------------------------------------------


def _bundle_model(tmp: Path, bundle: str = "conf-happy-path-v0.3") -> Path:
    d = tmp / "m"
    d.mkdir()
    shutil.copyfile(VECTORS / "vectors/_shared/conformance-a.txt", d / "a.txt")
    shutil.copyfile(VECTORS / f"vectors/{bundle}/bundle.sigstore.json", d / "a.txt.sigstore.json")
    return d


def _bundle_policy(identity: str = BEACON) -> SignaturePolicy:
    rule = SigstoreBundleRule(
        method="sigstore-bundle",
        identity=identity,
        issuer=GH_ISSUER,
        trusted_root=str(VECTORS / "vectors/_roots/production_trusted_root.json"),
    )
    return SignaturePolicy(rules=(rule,))


def test_sigstore_bundle_in_model_dir_verifies(tmp_path: Path) -> None:
    res = verify_model_dir(_bundle_model(tmp_path), _bundle_policy(), base=tmp_path)
    assert res.ok, res.reason
    (a,) = res.artifacts
    assert a.signer and BEACON in a.signer and "production_trusted_root.json" in str(a.trust_root)


def test_unknown_bundle_version_blocks(tmp_path: Path) -> None:
    model = _bundle_model(tmp_path)
    b = model / "a.txt.sigstore.json"
    doc = json.loads(b.read_text())
    doc["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.9+json"
    b.write_text(json.dumps(doc))
    res = verify_model_dir(model, _bundle_policy(), base=tmp_path)
    _blocked(res.reason, "a.txt", "unknown media type", "v0.9")


def test_legacy_cosign_bundle_is_refused_by_name(tmp_path: Path) -> None:
    model = _bundle_model(tmp_path)
    (model / "a.txt.sigstore.json").write_text('{"base64Signature": "AAAA", "cert": ""}')
    res = verify_model_dir(model, _bundle_policy(), base=tmp_path)
    _blocked(res.reason, "legacy cosign bundle", "--new-bundle-format")


def test_bundle_for_another_artifact_blocks(tmp_path: Path) -> None:
    model = _bundle_model(tmp_path)
    (model / "a.txt").write_text("another artifact\n")
    res = verify_model_dir(model, _bundle_policy(), base=tmp_path)
    _blocked(res.reason, "a.txt", "another artifact")


def test_bundle_wrong_identity_blocks(tmp_path: Path) -> None:
    res = verify_model_dir(
        _bundle_model(tmp_path), _bundle_policy("mallory@example.com"), base=tmp_path
    )
    _blocked(res.reason, "a.txt", "mallory@example.com")


def test_missing_trusted_root_blocks(tmp_path: Path) -> None:
    rule = SigstoreBundleRule(
        method="sigstore-bundle", identity=BEACON, issuer=GH_ISSUER, trusted_root="nope.json"
    )
    res = verify_model_dir(_bundle_model(tmp_path), SignaturePolicy(rules=(rule,)), base=tmp_path)
    _blocked(res.reason, "nope.json", "does not exist")


def test_embedded_production_root_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """instance: production with offline: true uses the root shipped with sigstore-python
    (copied into an empty TUF cache), no network."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    rule = SigstoreBundleRule(
        method="sigstore-bundle", identity=BEACON, issuer=GH_ISSUER, offline=True
    )
    res = verify_model_dir(_bundle_model(tmp_path), SignaturePolicy(rules=(rule,)), base=tmp_path)
    assert res.ok, res.reason
    assert res.artifacts[0].trust_root == "Sigstore production (cached)"


# --------------------------------------------------------------------------------------
# OpenSSF model signing (key and certificate modes, signed here with model_signing)
# --------------------------------------------------------------------------------------


def _oms_policy(**kw: object) -> SignaturePolicy:
    ignore = kw.pop("ignore", ())
    rule = ModelSigningRule(method="model-signing", **kw)  # type: ignore[arg-type]
    return SignaturePolicy(rules=(rule,), ignore=ignore)  # type: ignore[arg-type]


def test_oms_key_mode_verifies_and_detects_tampering(tmp_path: Path) -> None:
    model = _model(tmp_path)
    _, priv, pub = _keypair(tmp_path)
    _oms_key_sign(model, priv)
    pol = _oms_policy(mode="key", key=str(pub))
    res = verify_model_dir(model, pol, base=tmp_path)
    assert res.ok, res.reason
    assert {a.path for a in res.artifacts if a.status == "verified"} == {
        "1/model.py",
        "1/weights.bin",
        "config.pbtxt",
    }
    (model / "1" / "weights.bin").write_bytes(b"tampered")
    res = verify_model_dir(model, pol, base=tmp_path)
    _blocked(res.reason, "1/weights.bin changed after signing")


def test_oms_extra_file_fails_unless_ignored(tmp_path: Path) -> None:
    model = _model(tmp_path)
    _, priv, pub = _keypair(tmp_path)
    _oms_key_sign(model, priv)
    (model / "1" / "sneaky.py").write_text("print('hi')\n")
    res = verify_model_dir(model, _oms_policy(mode="key", key=str(pub)), base=tmp_path)
    _blocked(res.reason, "1/sneaky.py", "extra file not in the model signature")
    # extra files fail even when unsigned files are otherwise allowed
    lax = _oms_policy(mode="key", key=str(pub)).model_copy(update={"required": False})
    assert not verify_model_dir(model, lax, base=tmp_path).ok
    ok = verify_model_dir(
        model, _oms_policy(mode="key", key=str(pub), ignore=("1/sneaky.py",)), base=tmp_path
    )
    assert ok.ok, ok.reason


def test_oms_missing_file_and_missing_signature(tmp_path: Path) -> None:
    model = _model(tmp_path)
    _, priv, pub = _keypair(tmp_path)
    _oms_key_sign(model, priv)
    (model / "1" / "weights.bin").unlink()
    res = verify_model_dir(model, _oms_policy(mode="key", key=str(pub)), base=tmp_path)
    assert not res.ok and "weights.bin" in res.reason
    (model / "model.sig").unlink()
    res = verify_model_dir(model, _oms_policy(mode="key", key=str(pub)), base=tmp_path)
    _blocked(res.reason, "missing model signature model.sig")


def test_oms_wrong_key_blocks(tmp_path: Path) -> None:
    model = _model(tmp_path)
    _, priv, _ = _keypair(tmp_path)
    _, _, other_pub = _keypair(tmp_path, "other")
    _oms_key_sign(model, priv)
    res = verify_model_dir(model, _oms_policy(mode="key", key=str(other_pub)), base=tmp_path)
    assert not res.ok and "does not verify" in res.reason


def test_oms_certificate_mode_with_local_ca(tmp_path: Path) -> None:
    model = _model(tmp_path)
    ca = _oms_cert_sign(
        tmp_path, model, leaf_from=-dt.timedelta(days=1), leaf_until=dt.timedelta(days=30)
    )
    res = verify_model_dir(
        model, _oms_policy(mode="certificate", certificate_chain=(str(ca),)), base=tmp_path
    )
    assert res.ok, res.reason
    assert "model-signer" in str(res.artifacts[0].signer)


@pytest.mark.parametrize(
    ("start", "end", "why"),
    [
        (-dt.timedelta(days=30), -dt.timedelta(days=1), "expired on"),
        (dt.timedelta(days=1), dt.timedelta(days=30), "is not valid before"),
    ],
)
def test_oms_certificate_outside_validity_blocks(
    tmp_path: Path, start: dt.timedelta, end: dt.timedelta, why: str
) -> None:
    """model_signing alone accepts these (it checks the chain at the leaf's notBefore)."""
    model = _model(tmp_path)
    ca = _oms_cert_sign(tmp_path, model, leaf_from=start, leaf_until=end)
    res = verify_model_dir(
        model, _oms_policy(mode="certificate", certificate_chain=(str(ca),)), base=tmp_path
    )
    _blocked(res.reason, "model-signer", why)


def test_oms_certificate_from_another_ca_blocks(tmp_path: Path) -> None:
    model = _model(tmp_path)
    _oms_cert_sign(tmp_path, model, leaf_from=-dt.timedelta(days=1), leaf_until=dt.timedelta(1))
    other = tmp_path / "other"
    other.mkdir()
    stranger = _oms_cert_sign(
        other, _model(other), leaf_from=-dt.timedelta(days=1), leaf_until=dt.timedelta(1)
    )
    res = verify_model_dir(
        model, _oms_policy(mode="certificate", certificate_chain=(str(stranger),)), base=tmp_path
    )
    assert not res.ok and "does not verify" in res.reason


def test_oms_sigstore_mode_refuses_a_key_signature(tmp_path: Path) -> None:
    """No Sigstore instance here to sign an OMS model keylessly; the sigstore-mode path is
    still exercised: a key-signed signature carries no Fulcio certificate and is refused."""
    model = _model(tmp_path)
    _, priv, _ = _keypair(tmp_path)
    _oms_key_sign(model, priv)
    pol = _oms_policy(
        mode="sigstore",
        identity=BEACON,
        issuer=GH_ISSUER,
        trusted_root=str(VECTORS / "vectors/_roots/production_trusted_root.json"),
    )
    res = verify_model_dir(model, pol, base=tmp_path)
    assert not res.ok and "model.sig" in res.reason


# --------------------------------------------------------------------------------------
# CLI: gate verify, malformed policies (exit 2)
# --------------------------------------------------------------------------------------


def test_gate_verify_cli_exit_codes(tmp_path: Path) -> None:
    demo = ROOT / "examples" / "demo" / "gate.yaml"
    res = run_gate("verify", "--config", str(demo), timeout=60)
    assert res.returncode == 0, res.output
    assert "VERIFIED" in res.stdout and "config.pbtxt" in res.stdout
    model = tmp_path / "demo"
    shutil.copytree(FIXTURES / "models" / "v1" / "demo", model)
    with (model / "config.pbtxt").open("a") as fh:
        fh.write("# changed\n")
    res = run_gate("verify", str(model), "--config", str(demo), "--json", timeout=60)
    assert res.returncode == 1, res.output
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and "config.pbtxt" in doc["reason"]
    res = run_gate("verify", str(model), timeout=60)  # built-in default: trusts no one
    assert res.returncode == 1 and "trusts any signer" in res.stdout


@pytest.mark.parametrize(
    ("snippet", "expect"),
    [
        ("signatures:\n  rulez: []\n", "unknown key 'signatures.rulez'"),
        (
            "signatures:\n  rules:\n    - method: cosign-key\n",
            "key",
        ),
        (
            "signatures:\n  rules:\n    - {method: pgp, key: k.pub}\n",
            "signatures.rules[0]",
        ),
        (
            "signatures:\n  rules:\n    - {method: sigstore-bundle, identity: a, "
            "identity_regexp: b, issuer: i}\n",
            "exactly one of 'identity' and 'identity_regexp'",
        ),
        (
            "signatures:\n  rules:\n    - {method: sigstore-bundle, identity_regexp: '(', "
            "issuer: i}\n",
            "does not compile",
        ),
        ("signatures:\n  rules:\n    - {method: model-signing, mode: key}\n", "needs 'key'"),
        ("signatures:\n  ignore: ['../x']\n", "without '..'"),
    ],
)
def test_malformed_signature_policy_is_exit_2(tmp_path: Path, snippet: str, expect: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\n" + snippet)
    res = run_gate("verify", str(FIXTURES / "models" / "v1" / "demo"), "--policy", str(policy))
    assert res.returncode == 2, res.output
    line = res.stderr.strip()
    assert "\n" not in line and str(policy) in line and expect in line, line


def test_oms_sigstore_mode_checks_identity_and_envelope_with_a_real_bundle(
    tmp_path: Path,
) -> None:
    """A real public Sigstore bundle placed as model.sig runs the whole sigstore-mode chain
    (trusted root, certificate, identity policy) offline: a wrong issuer is refused by the
    identity policy; the right identity gets as far as the envelope, which is a plain
    message signature and not a model-signing DSSE statement, and is refused there."""
    model = _model(tmp_path)
    shutil.copyfile(
        VECTORS / "vectors/conf-happy-path-v0.3/bundle.sigstore.json", model / "model.sig"
    )
    root = str(VECTORS / "vectors/_roots/production_trusted_root.json")
    wrong = _oms_policy(mode="sigstore", identity=BEACON, issuer="https://evil", trusted_root=root)
    res = verify_model_dir(model, wrong, base=tmp_path)
    _blocked(res.reason, "OIDCIssuer does not match")
    right = _oms_policy(mode="sigstore", identity=BEACON, issuer=GH_ISSUER, trusted_root=root)
    res = verify_model_dir(model, right, base=tmp_path)
    _blocked(res.reason, "DSSE")


def test_snapshot_is_a_private_copy_without_bytecode(tmp_path: Path) -> None:
    from gate.signing.snapshot import snapshot_repository

    repo = tmp_path / "repo"
    model = _model(tmp_path)
    (model / "1" / "__pycache__").mkdir()
    (model / "1" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\x00")
    snap = snapshot_repository(repo)
    assert snap != repo and snap.name == "repo"
    assert (snap / "m" / "1" / "weights.bin").read_bytes() == (
        model / "1" / "weights.bin"
    ).read_bytes()
    assert not (snap / "m" / "1" / "__pycache__").exists()
    (model / "1" / "late.py").write_text("added after verification\n")
    (snap / "m" / "1" / "__pycache__").mkdir()  # what the server's interpreter would write
    assert not (snap / "m" / "1" / "late.py").exists()
    assert (model / "1" / "__pycache__" / "model.cpython-311.pyc").exists()


def test_cosign_legacy_bundle_json_with_key(tmp_path: Path) -> None:
    """``cosign sign-blob --key --bundle`` (legacy format): its base64Signature is used."""
    model = _model(tmp_path)
    key, _, pub = _keypair(tmp_path)
    _cosign_sign(key, model)
    for sig in model.rglob("*.sig"):
        sig.write_text(json.dumps({"base64Signature": sig.read_text().strip(), "cert": ""}))
    assert verify_model_dir(model, _cosign_policy(pub), base=tmp_path).ok
    (model / "config.pbtxt.sig").write_text('{"rekorBundle": {}}')
    res = verify_model_dir(model, _cosign_policy(pub), base=tmp_path)
    _blocked(res.reason, "config.pbtxt", "without 'base64Signature'")


def test_policy_with_several_mistakes_lists_each_with_its_fix(tmp_path: Path) -> None:
    """Every problem is named with its own fix, and a union's tag is not shown as a key."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nsignatures:\n  rules:\n"
        "    - {method: sigstore-bundle, identity: a, key: k.pub}\n"
        "    - {method: cosign-key, kee: x}\n"
    )
    res = run_gate("verify", str(FIXTURES / "models" / "v1" / "demo"), "--policy", str(policy))
    assert res.returncode == 2, res.output
    line = res.stderr.strip()
    assert "3 problems" in line and "not both" in line
    assert "'signatures.rules[1].key' is missing — add it" in line
    assert "unknown key 'signatures.rules[1].kee'" in line and "allowed here:" in line
    assert "cosign-key." not in line and "sigstore-bundle." not in line
