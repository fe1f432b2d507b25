"""Images and model artifacts verified by digest in a real registry (tests/registry_fixture.py:
Debian's docker-registry on 127.0.0.1), signed in cosign's formats with the libraries and,
keyless, through the local Sigstore (tests/sigstore_fixture.py).

Every negative case ends before anything reads the model or starts a server: ``gate check``
is BLOCKED (exit 1) at the signatures stage, no tritonserver or perf_analyzer process is
started (checked by executable name: the gate may run short helpers such as ``git``), and
the docker launcher never contacts its daemon (it points at a socket that does not exist, so
reaching it would be exit 3, not 1).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import test_docker
from conftest import FIXTURES, run_gate, write_config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from registry_fixture import LocalRegistry, start_registry
from sigstore_fixture import GH_ISSUER, WORKFLOW, LocalSigstore, start_local_sigstore

from gate.config.oci import parse_reference
from gate.config.signatures import Signer
from gate.errors import InfraError
from gate.signing.interface import SignatureFailure
from gate.signing.oci import verify_oci

registry = pytest.fixture(scope="module")(start_registry)
local_sigstore = pytest.fixture(scope="module")(start_local_sigstore)

SERVERS = {"tritonserver", "perf_analyzer", "triton_python_backend_stub"}


def _key(tmp: Path, name: str = "cosign") -> tuple[ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    pub = tmp / f"{name}.pub"
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, pub


def _verify(reg: LocalRegistry, ref: str, rule: Signer, base: Path) -> Any:
    return verify_oci(parse_reference(f"{reg.host}/{ref}"), rule, base)


def _fails(reg: LocalRegistry, ref: str, rule: Signer, base: Path, *words: str) -> str:
    with pytest.raises(SignatureFailure) as ei:
        _verify(reg, ref, rule, base)
    reason = ei.value.reason
    assert "\n" not in reason and len(reason) <= 200, reason
    for w in words:
        assert w in reason, reason
    return reason


# --------------------------------------------------------------------------------------
# images: cosign's .sig tag, referrers, every way it must fail
# --------------------------------------------------------------------------------------


def test_image_cosign_key_signature(registry: LocalRegistry, tmp_path: Path) -> None:
    key, pub = _key(tmp_path)
    _, wrong = _key(tmp_path, "other")
    digest = registry.push_image("triton/a", "v1", b"image a")
    registry.cosign_sign_key("triton/a", digest, key)
    v = _verify(registry, "triton/a:v1", Signer(key=str(pub)), tmp_path)
    assert v.digest == digest and v.pinned == f"{registry.host}/triton/a@{digest}"
    assert v.signature.startswith("tag sha256-") and v.signer.startswith("key sha256:")
    _verify(registry, f"triton/a@{digest}", Signer(key=str(pub)), tmp_path)  # by digest
    _fails(registry, "triton/a:v1", Signer(key=str(wrong)), tmp_path, "does not verify with key")


def test_signature_copied_from_another_digest(registry: LocalRegistry, tmp_path: Path) -> None:
    key, pub = _key(tmp_path)
    a = registry.push_image("triton/b", "a", b"image a")
    b = registry.push_image("triton/b", "b", b"image b")
    registry.cosign_sign_key("triton/b", b, key, payload_for=a)  # A's signed payload at B
    _fails(registry, "triton/b:b", Signer(key=str(pub)), tmp_path, "for another digest")


def test_tag_moved_after_signing_and_missing_signature(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    key, pub = _key(tmp_path)
    signed = registry.push_image("triton/c", "prod", b"signed")
    registry.cosign_sign_key("triton/c", signed, key)
    assert _verify(registry, "triton/c:prod", Signer(key=str(pub)), tmp_path).digest == signed
    registry.push_image("triton/c", "prod", b"swapped in later")  # the tag now moves
    _fails(registry, "triton/c:prod", Signer(key=str(pub)), tmp_path, "no signature", "unsigned")
    # the signed digest itself still verifies: pinning by digest is immune to the move
    _verify(registry, f"triton/c@{signed}", Signer(key=str(pub)), tmp_path)


def test_image_keyless_cosign_and_referrer_bundles(
    registry: LocalRegistry, local_sigstore: LocalSigstore, tmp_path: Path
) -> None:
    keyless = Signer(
        identity=WORKFLOW, issuer=GH_ISSUER, trusted_root=str(local_sigstore.trusted_root)
    )
    # cosign's .sig tag, keyless: certificate + Rekor SET in the annotations
    d1 = registry.push_image("triton/k", "one", b"one")
    registry.cosign_sign_keyless("triton/k", d1, local_sigstore)
    v = _verify(registry, "triton/k:one", keyless, tmp_path)
    assert WORKFLOW in v.signer and "trusted_root.json" in v.trust_root
    evil = keyless.model_copy(update={"identity": WORKFLOW.replace("main", "evil")})
    _fails(registry, "triton/k:one", evil, tmp_path, "signed by", "evil")
    prod = FIXTURES / "signatures/vectors/_roots/production_trusted_root.json"
    _fails(
        registry,
        "triton/k:one",
        keyless.model_copy(update={"trusted_root": str(prod)}),
        tmp_path,
        "not from a log of",
    )
    # a Sigstore bundle (DSSE in-toto statement naming the digest) as an OCI referrer
    d2 = registry.push_image("triton/k", "two", b"two")
    registry.attach_bundle(
        "triton/k", d2, local_sigstore.sign_statement({"image": d2.split(":")[1]})
    )
    v = _verify(registry, "triton/k:two", keyless, tmp_path)
    assert v.signature.startswith("referrer sha256:")
    # a bundle signed for another image, attached here, fails by name
    d3 = registry.push_image("triton/k", "three", b"three")
    registry.attach_bundle(
        "triton/k", d3, local_sigstore.sign_statement({"image": d2.split(":")[1]})
    )
    _fails(registry, "triton/k:three", keyless, tmp_path, "another artifact")


def test_key_signed_bundle_as_referrer(registry: LocalRegistry, tmp_path: Path) -> None:
    """cosign 3's key-signed bundle form, attached as a referrer: a message signature over the
    manifest's digest."""
    from test_signing_keybundle import Signer as BundleSigner

    s = BundleSigner()
    pub = s.write_pub(tmp_path / "k.pub")
    d = registry.push_image("triton/r", "v1", b"r")
    manifest = registry.manifest("triton/r", d)
    registry.attach_bundle("triton/r", d, json.dumps(s.message(manifest)))
    v = _verify(registry, "triton/r:v1", Signer(key=str(pub)), tmp_path)
    assert v.signature.startswith("referrer") and v.signer.startswith("key sha256:")


def test_registry_down_is_infrastructure(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    _, pub = _key(tmp_path)
    with pytest.raises(InfraError, match="not reachable"):
        verify_oci(parse_reference(f"127.0.0.1:{port}/x/y:v1"), Signer(key=str(pub)), tmp_path)


# --------------------------------------------------------------------------------------
# the real CLI: blocked before any container or server
# --------------------------------------------------------------------------------------


def _servers_started(names: set[str]) -> list[str]:
    """Servers among the executables the gate started (short helpers such as git are fine)."""
    return sorted(n for n in names if n in SERVERS or n.startswith(("tritonserver", "perf_an")))


def _docker_config(tmp: Path, image: str, pub: Path) -> Path:
    extra = f"""
launcher:
  kind: docker
  image: {image}
  docker_host: unix://{tmp}/no-such-docker.sock
  image_signature:
    key: {pub}
"""
    cfg = write_config(tmp / "gate.yaml", store=tmp / "store", reports=tmp / "r")
    text = cfg.read_text()
    start, end = text.index("launcher:"), text.index("traffic:")
    cfg.write_text(text[:start] + text[end:] + extra)
    return cfg


@pytest.mark.parametrize("case", ["unsigned", "wrong key"])
def test_gate_check_blocks_an_unproven_image_before_any_container(
    registry: LocalRegistry, tmp_path: Path, case: str
) -> None:
    key, _ = _key(tmp_path)
    _, wrong = _key(tmp_path, "wrong")
    digest = registry.push_image("triton/e2e", case.replace(" ", "-"), case.encode())
    if case == "wrong key":
        registry.cosign_sign_key("triton/e2e", digest, key)
    cfg = _docker_config(tmp_path, f"{registry.host}/triton/e2e:{case.replace(' ', '-')}", wrong)
    res = run_gate("check", str(cfg), timeout=120)
    assert res.returncode == 1, res.output  # exit 3 would mean the daemon was contacted
    assert not _servers_started(res.names)
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["verdict"] == "BLOCKED" and [s["name"] for s in run["stages"]][-1] == "signatures"
    (oci,) = run["signatures"]["oci"]
    assert oci["kind"] == "image" and oci["status"] == (
        "unsigned" if case == "unsigned" else "failed"
    )
    reason = run["checks"][0]["reason"]
    assert "\n" not in reason and len(reason) <= 200 and "triton/e2e" in reason


def test_gate_verify_pins_a_signed_image(registry: LocalRegistry, tmp_path: Path) -> None:
    key, pub = _key(tmp_path)
    digest = registry.push_image("triton/ok", "24.10", b"ok")
    registry.cosign_sign_key("triton/ok", digest, key)
    cfg = _docker_config(tmp_path, f"{registry.host}/triton/ok:24.10", pub)
    res = run_gate("verify", "--config", str(cfg), "--json", timeout=120)
    assert res.returncode == 0, res.output
    doc = json.loads(res.stdout)
    (oci,) = doc["oci"]
    assert oci["status"] == "verified" and oci["pinned"] == f"{registry.host}/triton/ok@{digest}"


# --------------------------------------------------------------------------------------
# oci:// models
# --------------------------------------------------------------------------------------


def _demo_files() -> dict[str, bytes]:
    root = FIXTURES / "models" / "v1" / "demo"
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".sig")
    }


def _model_config(tmp: Path, ref: str, signature: str) -> Path:
    cfg = write_config(tmp / "gate.yaml", store=tmp / "store", reports=tmp / "r")
    text = cfg.read_text()
    start = text.index("  repository:")
    end = text.index("\n", start)
    block = f"  repository: oci://{ref}\n  signature:\n{signature}"
    cfg.write_text(text[:start] + block + text[end + 1 :])
    return cfg


def _tar(entries: list[tuple[str, bytes | None, str | None]]) -> bytes:
    """A tar of (name, data, symlink target) entries, gzip-free."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                assert data is not None
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_oci_model_verified_then_unpacked(registry: LocalRegistry, tmp_path: Path) -> None:
    key, pub = _key(tmp_path)
    digest = registry.push_files("models/demo", "v1", _demo_files())
    registry.cosign_sign_key("models/demo", digest, key)
    cfg = _model_config(tmp_path, f"{registry.host}/models/demo:v1", f"    key: {pub}\n")
    res = run_gate("verify", "--config", str(cfg), "--json", timeout=120)
    assert res.returncode == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["oci"][0]["pinned"] == f"{registry.host}/models/demo@{digest}"
    assert {a["path"] for a in doc["artifacts"]} == set(_demo_files())
    assert {a["status"] for a in doc["artifacts"]} == {"verified"}


def test_oras_pushed_folder_is_unpacked(registry: LocalRegistry, tmp_path: Path) -> None:
    import shutil

    from gate.signing.artifact import fetch_model
    from gate.signing.registry import Registry

    folder = tmp_path / "demo"
    shutil.copytree(FIXTURES / "models" / "v1" / "demo", folder)
    digest = registry.push_folder_with_oras("models/oras", "v1", folder)
    key, pub = _key(tmp_path)
    registry.cosign_sign_key("models/oras", digest, key)
    v = _verify(registry, "models/oras:v1", Signer(key=str(pub)), tmp_path)
    repo = fetch_model(Registry(parse_reference(v.pinned)), v.manifest, "demo", label="m")
    assert (repo / "demo" / "config.pbtxt").read_bytes() == (folder / "config.pbtxt").read_bytes()


@pytest.mark.parametrize("case", ["unsigned", "traversal", "symlink", "tampered layer"])
def test_gate_check_blocks_an_unsafe_model_artifact(
    registry: LocalRegistry, tmp_path: Path, case: str
) -> None:
    key, pub = _key(tmp_path)
    repo = f"models/{case.replace(' ', '-')}"
    outside = tmp_path / "escaped.txt"
    files = _demo_files()
    if case == "traversal":
        files[f"../../../../../../..{outside}"] = b"owned"
    if case == "symlink":
        tar = _tar([("demo/config.pbtxt", files["config.pbtxt"], None), ("demo/x", None, "/etc")])
        digest = _push_tar(registry, repo, tar)
    else:
        digest = registry.push_files(repo, "v1", files)
    if case != "unsigned":
        registry.cosign_sign_key(repo, digest, key)  # signed: the content itself is unsafe
    if case == "tampered layer":
        layer = json.loads(registry.manifest(repo, digest))["layers"][0]["digest"]
        registry.blob_path(layer).write_bytes(b"something else")
    cfg = _model_config(tmp_path, f"{registry.host}/{repo}@{digest}", f"    key: {pub}\n")
    res = run_gate("check", str(cfg), timeout=120)
    assert res.returncode == 1, res.output
    assert not _servers_started(res.names)
    assert not outside.exists()
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["verdict"] == "BLOCKED"
    reason = run["checks"][0]["reason"]
    assert "\n" not in reason and len(reason) <= 200, reason
    expect = {
        "unsigned": "no signature",
        "traversal": "leaves the model folder",
        "symlink": "is a link",
        "tampered layer": "does not match the digest",
    }[case]
    assert expect in reason, reason


def _push_tar(reg: LocalRegistry, repo: str, tar: bytes) -> str:
    cfg = reg.put_blob(repo, b"{}", "application/vnd.oci.empty.v1+json")
    layer = reg.put_blob(repo, tar, "application/vnd.oci.image.layer.v1.tar")
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": cfg,
        "layers": [layer],
    }
    return reg.put_manifest(repo, "v1", doc)


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    cfg = _model_config(tmp_path, "no-registry-host/x:1", "    key: k.pub\n")
    res = run_gate("verify", "--config", str(cfg), timeout=60)
    assert res.returncode == 2 and "model" in res.stderr and "registry host" in res.stderr


@pytest.mark.server
def test_oci_model_is_served(registry: LocalRegistry, tmp_path: Path, tools_ready: None) -> None:
    """The verified, unpacked artifact is what tritonserver loads; its digest is recorded."""
    key, pub = _key(tmp_path)
    digest = registry.push_files("models/served", "v1", _demo_files())
    registry.cosign_sign_key("models/served", digest, key)
    cfg = _model_config(tmp_path, f"{registry.host}/models/served:v1", f"    key: {pub}\n")
    text = cfg.read_text().replace("runs: 4", "runs: 2")
    cfg.write_text(text)
    res = run_gate("baseline", "record", str(cfg), "-q", timeout=400)
    assert res.returncode == 0, res.output
    assert _servers_started(res.names)  # the detection the negative tests rely on works
    run = json.loads((tmp_path / "r" / "baseline" / "run.json").read_text())
    assert run["model"]["artifact_digest"] == f"{registry.host}/models/served@{digest}"
    assert run["model"]["digest"] and run["model"]["artifact"].startswith("oci://")
    summary = (tmp_path / "r" / "baseline" / "summary.md").read_text()
    assert f"{registry.host}/models/served@{digest}" in summary  # the report names the digest
    assert os.path.isdir(tmp_path / "store")


# --------------------------------------------------------------------------------------
# the docker launcher runs the verified image by its digest (a real engine)
# --------------------------------------------------------------------------------------


dockerd = test_docker.dockerd  # the docker tests' private engine and test image
image = test_docker.image


@pytest.mark.docker
@pytest.mark.server
def test_docker_runs_the_verified_image_by_digest(
    registry: LocalRegistry, tmp_path: Path, dockerd: str, image: str
) -> None:
    """The test image (tests/test_docker.py) is pushed into the local registry by the engine
    itself and signed; ``baseline record`` then verifies it, and every container is created
    from ``HOST/REPO@sha256:…``. A launcher opened with the signature rule but an unpinned
    tag refuses to start."""
    import docker

    client = docker.DockerClient(base_url=dockerd, timeout=600)
    target = f"{registry.host}/gate/triton"
    client.images.get(image).tag(target, "signed")
    for line in client.images.push(target, "signed", stream=True, decode=True):
        assert "error" not in line, line
    digest = "sha256:" + hashlib.sha256(registry.manifest("gate/triton", "signed")).hexdigest()
    key, pub = _key(tmp_path)
    registry.cosign_sign_key("gate/triton", digest, key)
    cfg = test_docker.docker_config(
        tmp_path / "gate.yaml",
        dockerd,
        image=f"{target}:signed",
        launcher=f"  image_signature:\n    key: {pub}\n",
        store=tmp_path / "store",
        reports=tmp_path / "r",
        runs=2,
    )
    cfg.write_text(cfg.read_text().replace("pull: never", "pull: missing"))
    res = run_gate("baseline", "record", str(cfg), "-q", timeout=600)
    assert res.returncode == 0, res.output
    run = json.loads((tmp_path / "r" / "baseline" / "run.json").read_text())
    pinned = f"{target}@{digest}"
    assert run["environment"]["image"] == pinned
    assert run["signatures"]["oci"][0]["pinned"] == pinned
    logs = list((tmp_path / "r" / "baseline" / "logs").glob("server-*.log"))
    assert logs and all(f"docker run {pinned} " in p.read_text() for p in logs)
    # the launcher itself refuses a tag when a signature is required
    from gate.config.config import load_config
    from gate.servers.docker import DockerError, DockerServer

    lc = load_config(cfg).launcher
    with pytest.raises(DockerError, match="not pinned"):
        DockerServer(lc, tmp_path, tmp_path / "x.log", run_id="t").start()


def test_image_and_artifact_signers_come_from_the_base_branch(tmp_path: Path) -> None:
    """``--trusted-config-from``: a change that swaps the image's trusted key (or the key
    file it names) is reported, and the run verifies with the base commit's key."""
    from trust_repo import branch, git, make_repo, replace

    from gate.app.trust import trusted_config

    def base(r: Path) -> None:
        replace(
            r / "models/demo/gate.yaml",
            "  kind: local\n",
            "  kind: docker\n  image: reg.example.com/triton:1\n"
            "  image_signature:\n    key: ../../keys/cosign.pub\n",
        )

    repo = make_repo(tmp_path / "repo", base)
    _, other = _key(tmp_path, "attacker")
    branch(repo, "swap", lambda r: (r / "keys" / "cosign.pub").write_bytes(other.read_bytes()))
    git(repo, "switch", "-q", "swap")
    trusted = trusted_config(repo / "models/demo/gate.yaml", "main")
    assert any("launcher.image_signature" in c and "keys/cosign.pub" in c for c in trusted.changes)
    rule = trusted.cfg.launcher.image_signature
    assert rule is not None and rule.key is not None
    assert Path(rule.key).read_bytes() == (FIXTURES / "keys" / "TEST-ONLY-cosign.pub").read_bytes()
    git(repo, "switch", "-q", "main")
    branch(
        repo,
        "loosen",
        lambda r: replace(r / "models/demo/gate.yaml", "key: ../../keys/cosign.pub", "key: x.pub"),
    )
    git(repo, "switch", "-q", "loosen")
    trusted = trusted_config(repo / "models/demo/gate.yaml", "main")
    assert any(
        c.startswith("models/demo/gate.yaml: launcher.image_signature") for c in trusted.changes
    )
