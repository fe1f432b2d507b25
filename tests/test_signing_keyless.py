"""Keyless signing end to end against the local Sigstore (tests/sigstore_fixture.py):
sigstore-python signs through the local Fulcio, Rekor and timestamp authority, and the gate
verifies with the matching trusted_root.json — Sigstore bundles next to files, and OpenSSF
model signing in Sigstore mode. Each failure is one line ≤ 200 characters in the user's
terms, with the library's full text kept in ``details``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, run_gate
from sigstore_fixture import GH_ISSUER, WORKFLOW, LocalSigstore, start_local_sigstore

from gate.config.signatures import ModelSigningRule, SignaturePolicy, SigstoreBundleRule
from gate.signing.verify import verify_model_dir

PROD_ROOT = FIXTURES / "signatures/vectors/_roots/production_trusted_root.json"

local_sigstore = pytest.fixture(scope="module")(start_local_sigstore)


def _model(tmp: Path) -> Path:
    d = tmp / "repo" / "m"
    (d / "1").mkdir(parents=True)
    (d / "config.pbtxt").write_text('name: "m"\nbackend: "python"\n')
    (d / "1" / "model.py").write_text("class TritonPythonModel:\n    pass\n")
    return d


def _sign_files(sig: LocalSigstore, model: Path, **kw: object) -> None:
    for f in sorted(p for p in model.rglob("*") if p.is_file()):
        bundle = sig.sign(f.read_bytes(), **kw)  # type: ignore[arg-type]
        f.with_name(f.name + ".sigstore.json").write_text(bundle)


def _policy(root: Path | str, **who: str) -> SignaturePolicy:
    who = who or {"identity": WORKFLOW, "issuer": GH_ISSUER}
    rule = SigstoreBundleRule(method="sigstore-bundle", trusted_root=str(root), **who)
    return SignaturePolicy(rules=(rule,))


def _blocked(model: Path, policy: SignaturePolicy, *words: str) -> str:
    res = verify_model_dir(model, policy, base=model)
    assert not res.ok
    assert "\n" not in res.reason and len(res.reason) <= 200, res.reason
    for w in words:
        assert w in res.reason, res.reason
    return res.reason


def test_keyless_bundles_verify_and_name_each_failure(
    local_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    model = _model(tmp_path)
    _sign_files(local_sigstore, model)
    root = local_sigstore.trusted_root
    res = verify_model_dir(model, _policy(root), base=tmp_path)
    assert res.ok, res.reason
    assert {a.signer for a in res.artifacts} == {f"{WORKFLOW} (issuer {GH_ISSUER})"}
    regexp = _policy(root, identity_regexp=r"https://github\.com/acme/.*", issuer=GH_ISSUER)
    assert verify_model_dir(model, regexp, base=tmp_path).ok
    other = WORKFLOW.replace("heads/main", "heads/evil")
    _blocked(model, _policy(root, identity=other, issuer=GH_ISSUER), "signed by", "heads/evil")
    _blocked(
        model,
        _policy(root, identity=WORKFLOW, issuer="https://accounts.google.com"),
        "OIDC issuer is https://token.actions.githubusercontent.com",
    )
    _blocked(model, _policy(PROD_ROOT), "not issued under", "another Sigstore instance")
    (model / "1" / "model.py").write_text("import os\n")
    _blocked(model, _policy(root), "m/1/model.py", "changed after signing")


def test_corrupted_inclusion_proof_is_one_short_line(
    local_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    model = _model(tmp_path)
    _sign_files(local_sigstore, model)
    b = model / "config.pbtxt.sigstore.json"
    doc = json.loads(b.read_text())
    doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["rootHash"] = "AQ" * 22
    b.write_text(json.dumps(doc))
    res = verify_model_dir(model, _policy(local_sigstore.trusted_root), base=tmp_path)
    (bad,) = [a for a in res.artifacts if a.status == "failed"]
    assert bad.reason.endswith("inclusion proof does not match the log (entry or proof altered)")
    assert "inclusion proof contains invalid root hash" in bad.details  # the library's text
    assert len(res.reason) <= 200


def test_log_time_in_the_future(local_sigstore: LocalSigstore, tmp_path: Path) -> None:
    model = _model(tmp_path)
    _sign_files(local_sigstore, model, future=True)
    _blocked(model, _policy(local_sigstore.trusted_root), "log entry time is in the future")


def test_dsse_statement_for_another_subject(local_sigstore: LocalSigstore, tmp_path: Path) -> None:
    import hashlib

    model = _model(tmp_path)
    for f in (model / "config.pbtxt", model / "1" / "model.py"):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        if f.name == "model.py":
            digest = hashlib.sha256(b"another file").hexdigest()
        bundle = local_sigstore.sign_statement({f.name: digest})
        f.with_name(f.name + ".sigstore.json").write_text(bundle)
    _blocked(
        model, _policy(local_sigstore.trusted_root), "m/1/model.py", "signed for another artifact"
    )


def test_model_signing_sigstore_mode(local_sigstore: LocalSigstore, tmp_path: Path) -> None:
    from model_signing import signing

    model = _model(tmp_path)
    signing.Config().use_sigstore_signer(
        identity_token=local_sigstore.token(),
        trust_config=local_sigstore.trust_config,
    ).sign(model, model / "model.sig")
    root = str(local_sigstore.trusted_root)

    def rule(**kw: str) -> SignaturePolicy:
        who = kw or {"identity": WORKFLOW, "issuer": GH_ISSUER}
        r = ModelSigningRule(method="model-signing", mode="sigstore", trusted_root=root, **who)
        return SignaturePolicy(rules=(r,))

    res = verify_model_dir(model, rule(), base=tmp_path)
    assert res.ok, res.reason
    assert {a.signer for a in res.artifacts} == {f"{WORKFLOW} (issuer {GH_ISSUER})"}
    _blocked(model, rule(identity="https://evil.example/x", issuer=GH_ISSUER), "model.sig")
    (model / "1" / "model.py").write_text("import os\n")
    _blocked(model, rule(), "model.py", "changed after signing")


@pytest.mark.parametrize("tamper", [False, True])
def test_gate_verify_cli_with_a_keyless_policy(
    local_sigstore: LocalSigstore, tmp_path: Path, tamper: bool
) -> None:
    model = _model(tmp_path)
    _sign_files(local_sigstore, model)
    if tamper:
        (model / "config.pbtxt").write_text('name: "evil"\n')
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nsignatures:\n  rules:\n    - method: sigstore-bundle\n"
        f"      identity: {WORKFLOW}\n      issuer: {GH_ISSUER}\n"
        f"      trusted_root: {local_sigstore.trusted_root}\n"
    )
    res = run_gate("verify", str(model), "--policy", str(policy), timeout=120)
    assert res.returncode == (1 if tamper else 0), res.output
    if tamper:
        reason = next(ln for ln in res.stdout.splitlines() if ln.startswith("reason: "))
        assert "m/config.pbtxt" in reason and len(reason) <= 200 + len("reason: ")
