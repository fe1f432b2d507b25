"""Reading an OCI registry: references, manifests and blobs by digest, signatures' places.

The gate only reads registries, and trusts nothing it reads until its digest is checked:
every manifest and blob fetched by digest is hashed and compared, and a tag is resolved to a
digest once, after which only the digest is used (a tag that moves later changes nothing).
Authentication (anonymous bearer tokens, ``docker login`` credentials) is oras-py's
(imported lazily); its retry loop is bypassed so a registry that is down fails at once
(exit 3) instead of after minutes of back-off. Plain HTTP is used for loopback registries
only, as docker does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from gate.config.oci import LOOPBACK, Reference
from gate.errors import InfraError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)


class RegistryError(InfraError):
    """The registry could not be reached or answered with an error (exit 3)."""


class DigestMismatch(RegistryError):
    """Content that does not hash to the digest it was fetched by (altered on the way)."""


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """One repository of one registry, read with bounded timeouts."""

    def __init__(self, ref: Reference, *, timeout_s: float = 30) -> None:
        import oras.provider

        self.ref = ref
        self.timeout_s = timeout_s
        insecure = bool(LOOPBACK.match(ref.registry))
        self._oras = oras.provider.Registry(hostname=ref.registry, insecure=insecure)
        self.base = f"{'http' if insecure else 'https'}://{ref.registry}/v2/{ref.repository}"

    def _get(self, url: str, accept: str | None = None, *, stream: bool = False) -> Any:
        import requests

        headers = {"Accept": accept} if accept else {}
        session = self._oras.session
        try:
            resp = session.get(url, headers=headers, timeout=self.timeout_s, stream=stream)
            if resp.status_code in (401, 403):
                self._oras.auth.load_configs(self._oras.get_container(str(self.ref)))
                headers, changed = self._oras.auth.authenticate_request(resp, headers)
                if changed:
                    resp = session.get(url, headers=headers, timeout=self.timeout_s, stream=stream)
        except (requests.RequestException, ValueError) as e:
            raise RegistryError(
                f"registry {self.ref.registry} is not reachable: {type(e).__name__}",
                hint="check the registry address and that it runs; credentials come from "
                "docker login (~/.docker/config.json)",
                details=str(e),
            ) from None
        if resp.status_code >= 500 or resp.status_code in (401, 403):
            raise RegistryError(
                f"registry {self.ref.registry} answered {resp.status_code} for {url}",
                hint="check credentials (docker login) and the registry's health",
                details=resp.text[:2000],
            )
        return resp

    def manifest(self, reference: str) -> tuple[bytes, str, str] | None:
        """(bytes, media type, digest) of a manifest by tag or digest; None when absent.

        By digest, the bytes must hash to it; by tag, the digest is computed from the bytes
        (the registry's Docker-Content-Digest header is not trusted)."""
        resp = self._get(f"{self.base}/manifests/{reference}", ", ".join(MANIFEST_TYPES))
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise RegistryError(
                f"registry {self.ref.registry} answered {resp.status_code} for manifest "
                f"{self.ref.repository}:{reference}",
                details=resp.text[:2000],
            )
        body = bytes(resp.content)
        digest = sha256_of(body)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(
                f"registry {self.ref.registry} served manifest bytes that do not hash to "
                f"{reference}",
                hint="the registry or something between it and this runner is altering content",
            )
        media = str(resp.headers.get("Content-Type", "")).split(";")[0].strip()
        return body, media, digest

    def blob(self, digest: str, *, max_bytes: int = 64 << 20) -> bytes:
        """A blob, checked against its digest (signature payloads, bundles: small)."""
        resp = self._get(f"{self.base}/blobs/{digest}")
        if resp.status_code != 200:
            raise RegistryError(
                f"registry {self.ref.registry} answered {resp.status_code} for blob {digest}"
            )
        data = bytes(resp.content[: max_bytes + 1])
        if len(data) > max_bytes or sha256_of(data) != digest:
            raise RegistryError(
                f"blob {digest} from {self.ref.registry} does not match its digest",
                hint="the registry or something between it and this runner is altering content",
            )
        return data

    def referrers(self, digest: str) -> list[dict[str, Any]]:
        """Descriptors of manifests whose ``subject`` is ``digest``: the OCI 1.1 referrers
        API, or the referrers tag schema (``sha256-<hex>``) of registries without it."""
        resp = self._get(f"{self.base}/referrers/{digest}", OCI_INDEX)
        if resp.status_code == 200:
            try:
                return list(resp.json().get("manifests") or [])
            except ValueError:
                return []
        got = self.manifest(digest.replace(":", "-"))
        if got is None:
            return []
        import json

        try:
            index = json.loads(got[0])
        except ValueError:
            return []
        return list(index.get("manifests") or []) if isinstance(index, dict) else []


def download_blob(reg: Registry, digest: str, dest: Path) -> None:
    """Stream a blob into ``dest`` (created new, mode 0600), checking it against its digest;
    a blob that does not match is deleted and is a RegistryError."""
    import os

    resp = reg._get(f"{reg.base}/blobs/{digest}", stream=True)
    if resp.status_code != 200:
        raise RegistryError(
            f"registry {reg.ref.registry} answered {resp.status_code} for blob {digest}"
        )
    h = hashlib.sha256()
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        for chunk in resp.iter_content(1 << 20):
            h.update(chunk)
            fh.write(chunk)
    if "sha256:" + h.hexdigest() != digest:
        dest.unlink()
        raise DigestMismatch(
            f"blob {digest} from {reg.ref.registry} does not match its digest",
            hint="the registry or something between it and this runner is altering content",
        )
