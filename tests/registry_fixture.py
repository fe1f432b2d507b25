"""A real OCI registry on 127.0.0.1 for tests, and what publishers put into one.

Debian's ``docker-registry`` (the CNCF distribution registry, 2.8) is started with its own
storage folder and stopped by its PID. Artifacts are pushed with oras-py (``oras push`` of a
folder) or, where a test needs exact control over manifests and annotations, with the
distribution API itself (blob upload, manifest PUT). Signatures are made here in cosign's
formats with the libraries (no cosign binary is available): the ``sha256-<hex>.sig`` tag
with simple-signing payloads (ECDSA via ``cryptography``; keyless through the local Sigstore,
whose Fulcio certificate and Rekor signed entry timestamp go into cosign's annotations), and
Sigstore bundles attached as OCI referrers. Distribution 2.8 has no referrers API, so a
referrer is also listed in the referrers tag schema (``sha256-<hex>``), as clients do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
EMPTY = "application/vnd.oci.empty.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class LocalRegistry:
    host: str
    storage: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}/v2"

    # -- the distribution API --------------------------------------------------------

    def put_blob(self, repo: str, data: bytes, media_type: str) -> dict[str, Any]:
        r = requests.post(f"{self.url}/{repo}/blobs/uploads/", timeout=30)
        r.raise_for_status()
        loc = r.headers["Location"]
        loc = loc if loc.startswith("http") else f"http://{self.host}{loc}"
        sep = "&" if "?" in loc else "?"
        r = requests.put(
            f"{loc}{sep}digest={sha(data)}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=30,
        )
        r.raise_for_status()
        return {"mediaType": media_type, "digest": sha(data), "size": len(data)}

    def put_manifest(
        self, repo: str, ref: str, doc: dict[str, Any], media_type: str = OCI_MANIFEST
    ) -> str:
        body = json.dumps(doc, separators=(",", ":")).encode()
        r = requests.put(
            f"{self.url}/{repo}/manifests/{ref}",
            data=body,
            headers={"Content-Type": media_type},
            timeout=30,
        )
        assert r.status_code in (200, 201), r.text
        return sha(body)

    def manifest(self, repo: str, ref: str) -> bytes:
        r = requests.get(
            f"{self.url}/{repo}/manifests/{ref}",
            headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}"},
            timeout=30,
        )
        r.raise_for_status()
        return bytes(r.content)

    def push_files(
        self, repo: str, tag: str, files: dict[str, bytes], *, artifact_type: str | None = None
    ) -> str:
        """An ORAS-style artifact: one layer per file, its path in the title annotation."""
        cfg = self.put_blob(repo, b"{}", EMPTY)
        layers = []
        for name, data in files.items():
            desc = self.put_blob(repo, data, "application/vnd.oci.image.layer.v1.tar")
            desc["annotations"] = {"org.opencontainers.image.title": name}
            layers.append(desc)
        doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type or "application/vnd.gate.model.v1",
            "config": cfg,
            "layers": layers,
        }
        return self.put_manifest(repo, tag, doc)

    def push_folder_with_oras(self, repo: str, tag: str, folder: Path) -> str:
        """``oras push`` of a folder (oras-py): one gzipped tar layer, unpack annotation."""
        import oras.client

        client = oras.client.OrasClient(hostname=self.host, insecure=True)
        cwd = os.getcwd()
        os.chdir(folder.parent)
        try:
            client.push(target=f"{self.host}/{repo}:{tag}", files=[folder.name])
        finally:
            os.chdir(cwd)
        return sha(self.manifest(repo, tag))

    def push_image(self, repo: str, tag: str, content: bytes = b"layer") -> str:
        """A minimal OCI image (config + one layer), as a registry sees any image."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.put_blob(repo, config, "application/vnd.oci.image.config.v1+json"),
            "layers": [self.put_blob(repo, content, "application/vnd.oci.image.layer.v1.tar")],
        }
        return self.put_manifest(repo, tag, doc)

    # -- signatures in cosign's formats ----------------------------------------------

    def simple_signing(self, repo: str, digest: str) -> bytes:
        doc = {
            "critical": {
                "identity": {"docker-reference": f"{self.host}/{repo}"},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    def cosign_sign_key(
        self, repo: str, digest: str, key: Any, *, payload_for: str | None = None
    ) -> str:
        """``cosign sign --key``: the .sig tag of ``digest`` (payload naming ``payload_for``)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        payload = self.simple_signing(repo, payload_for or digest)
        sig = key.sign(payload, ec.ECDSA(hashes.SHA256()))
        ann = {"dev.cosignproject.cosign/signature": base64.b64encode(sig).decode()}
        return self._sig_manifest(repo, digest, payload, ann)

    def cosign_sign_keyless(self, repo: str, digest: str, sigstore: Any, **kw: Any) -> str:
        """``cosign sign`` keyless: certificate and Rekor SET of a local Sigstore signature."""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        payload = self.simple_signing(repo, digest)
        bundle = json.loads(sigstore.sign(payload, **kw))
        vm = bundle["verificationMaterial"]
        cert = x509.load_der_x509_certificate(base64.b64decode(vm["certificate"]["rawBytes"]))
        e = vm["tlogEntries"][0]
        rekor = {
            "SignedEntryTimestamp": e["inclusionPromise"]["signedEntryTimestamp"],
            "Payload": {
                "body": e["canonicalizedBody"],
                "integratedTime": int(e["integratedTime"]),
                "logIndex": int(e["logIndex"]),
                "logID": base64.b64decode(e["logId"]["keyId"]).hex(),
            },
        }
        ann = {
            "dev.cosignproject.cosign/signature": bundle["messageSignature"]["signature"],
            "dev.sigstore.cosign/certificate": cert.public_bytes(Encoding.PEM).decode(),
            "dev.sigstore.cosign/chain": "",
            "dev.sigstore.cosign/bundle": json.dumps(rekor),
        }
        return self._sig_manifest(repo, digest, payload, ann)

    def _sig_manifest(self, repo: str, digest: str, payload: bytes, ann: dict[str, str]) -> str:
        layer = self.put_blob(repo, payload, SIMPLE_SIGNING)
        layer["annotations"] = ann
        cfg = self.put_blob(repo, b"{}", "application/vnd.oci.image.config.v1+json")
        doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": [layer]}
        return self.put_manifest(repo, digest.replace(":", "-") + ".sig", doc)

    def attach_bundle(self, repo: str, digest: str, bundle: str) -> str:
        """A Sigstore bundle as an OCI 1.1 referrer of ``digest`` (+ the tag schema index)."""
        subject = self.manifest(repo, digest)
        layer = self.put_blob(repo, bundle.encode(), BUNDLE_V03)
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03,
            "config": self.put_blob(repo, b"{}", EMPTY),
            "layers": [layer],
            "subject": {"mediaType": _media(subject), "digest": digest, "size": len(subject)},
        }
        ref_digest = self.put_manifest(
            repo, sha(json.dumps(doc, separators=(",", ":")).encode()), doc
        )
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": ref_digest,
                    "size": len(json.dumps(doc, separators=(",", ":"))),
                    "artifactType": BUNDLE_V03,
                }
            ],
        }
        self.put_manifest(repo, digest.replace(":", "-"), index, OCI_INDEX)
        return ref_digest

    def blob_path(self, digest: str) -> Path:
        """Where the registry stores a blob (for tampering tests)."""
        hexd = digest.split(":")[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


def _media(manifest: bytes) -> str:
    return str(json.loads(manifest).get("mediaType") or OCI_MANIFEST)


def start_registry() -> Iterator[LocalRegistry]:
    """Run a registry while the generator is open; stopped by its PID at the end.

    A test module makes it a fixture with ``pytest.fixture(scope="module")(start_registry)``.
    """
    exe = shutil.which("docker-registry")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the registry tests: apt-get install docker-registry")
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    assert exe is not None
    base = Path(tempfile.mkdtemp(prefix="gate-registry-"))
    port = _free_port()
    cfg = base / "config.yml"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {base / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [exe, "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("docker-registry did not start")
            time.sleep(0.1)
        yield LocalRegistry(host=f"127.0.0.1:{port}", storage=base / "data")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)
