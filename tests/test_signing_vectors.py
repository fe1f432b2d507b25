"""Every case of the public signature vectors (fixtures/signatures/cases.json), offline.

Real artifacts: cosign key signature from the `cosign` CLI, Sigstore bundles v0.1/v0.3 from
the public production and staging instances with their trusted roots, OpenSSF model-signing
signatures in key and certificate modes. See fixtures/signatures/PROVENANCE.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

from gate.config.signatures import ModelSigningRule, SignaturePolicy, SigstoreBundleRule
from gate.signing.bundle import verify_bundle
from gate.signing.cosign import verify_blob
from gate.signing.interface import SignatureFailure
from gate.signing.verify import verify_model_dir

BASE = FIXTURES / "signatures"
CASES: list[dict[str, Any]] = json.loads((BASE / "cases.json").read_text())


def _run(case: dict[str, Any]) -> tuple[bool, str]:
    art = BASE / case["artifact"]
    try:
        if case["kind"] == "sigstore-bundle":
            who = {"key": case["key"]} if case.get("key") else {}
            if not who:
                who = {"identity": case["identity"], "issuer": case["issuer"]}
            rule = SigstoreBundleRule(
                method="sigstore-bundle", trusted_root=case["trusted_root"], **who
            )
            proof = verify_bundle(art, BASE / case["bundle_or_sig"], rule, BASE)
            return True, proof.signer
        if case["kind"] == "cosign-key":
            proof = verify_blob(art, BASE / case["bundle_or_sig"], case["key"], BASE)
            return True, proof.signer
        assert case["kind"] == "model-signing"
        rule = ModelSigningRule(
            method="model-signing",
            mode=case["oms_method"],
            key=case["key"],
            certificate_chain=tuple(case.get("cert_chain", ())),
            signature=Path(case["bundle_or_sig"]).relative_to(case["artifact"]).as_posix(),
        )
        policy = SignaturePolicy(rules=(rule,), ignore=tuple(case.get("ignore_paths", ())))
        res = verify_model_dir(art, policy, base=BASE)
        return res.ok, res.reason
    except SignatureFailure as e:
        return False, e.reason


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_vector(case: dict[str, Any]) -> None:
    ok, why = _run(case)
    assert ok == (case["expect"] == "pass"), f"{case['case']} ({case['why']}): {why}"
    if not ok:
        assert why  # a failure always says why


def test_every_kind_is_covered() -> None:
    kinds = {(c["kind"], c["expect"]) for c in CASES}
    for kind in ("sigstore-bundle", "cosign-key", "model-signing"):
        assert (kind, "pass") in kinds and (kind, "fail") in kinds


def test_wrong_identity_names_the_identity() -> None:
    case = next(c for c in CASES if c["case"] == "conf-happy-path-v0.3-wrong-identity")
    ok, why = _run(case)
    assert not ok and "refs/heads/evil" in why


def test_identity_regexp_accepts_and_rejects() -> None:
    case = next(c for c in CASES if c["case"] == "conf-happy-path-v0.3")
    art, bundle = BASE / case["artifact"], BASE / case["bundle_or_sig"]
    good = SigstoreBundleRule(
        method="sigstore-bundle",
        identity_regexp=r"https://github\.com/sigstore-conformance/.*@refs/heads/main",
        issuer=case["issuer"],
        trusted_root=case["trusted_root"],
    )
    assert "refs/heads/main" in verify_bundle(art, bundle, good, BASE).signer
    bad = good.model_copy(update={"identity_regexp": r"https://github\.com/evil/.*"})
    with pytest.raises(SignatureFailure, match=r"not by https://github\\.com/evil"):
        verify_bundle(art, bundle, bad, BASE)
    wrong_issuer = good.model_copy(update={"issuer": "https://accounts.google.com"})
    with pytest.raises(SignatureFailure):
        verify_bundle(art, bundle, wrong_issuer, BASE)


def test_staging_bundle_against_production_root_fails() -> None:
    case = next(c for c in CASES if c["case"] == "spy-bundle-v3-staging")
    rule = SigstoreBundleRule(
        method="sigstore-bundle",
        identity=case["identity"],
        issuer=case["issuer"],
        trusted_root="vectors/_roots/production_trusted_root.json",
    )
    with pytest.raises(SignatureFailure):
        verify_bundle(BASE / case["artifact"], BASE / case["bundle_or_sig"], rule, BASE)
