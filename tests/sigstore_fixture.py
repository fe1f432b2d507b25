"""A Sigstore instance on 127.0.0.1 for keyless tests, and signing helpers that use it.

``fixtures/local-sigstore/server.js`` serves Fulcio, Rekor and a timestamp authority built
from npm's ``@sigstore/mock`` (keys made at start) and writes the matching
``trusted_root.json``. Signing goes through sigstore-python's real client (``SigningContext``
from a client trust config): an OIDC token is the one thing that is made up here — the local
Fulcio, like a real one given a token, binds the token's ``sub`` and ``iss`` into the
certificate; it does not check the token's signature, which no test here needs. The server is
started once per test module and stopped by its PID. ``.ci/run`` installs the npm packages; a
missing ``node_modules`` skips locally and fails under CI=true.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

SERVER = FIXTURES / "local-sigstore"
GH_ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main"


@dataclass
class LocalSigstore:
    url: str
    folder: Path
    trusted_root: Path
    trust_config: Path

    def token(self, identity: str = WORKFLOW, issuer: str = GH_ISSUER) -> str:
        """An OIDC identity token for ``identity`` from ``issuer`` (unsigned: see module doc)."""
        now = int(time.time())
        claims = {"iss": issuer, "sub": identity, "aud": "sigstore", "iat": now, "exp": now + 600}
        if "@" in identity and "://" not in identity:
            claims["email"] = identity
            claims["email_verified"] = True
        head = {"alg": "none", "typ": "JWT"}
        return (
            ".".join(
                base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=")
                for p in (head, claims)
            )
            + "."
        )

    def _context(self, *, future: bool = False) -> Any:
        from sigstore.models import ClientTrustConfig
        from sigstore.sign import SigningContext

        doc = json.loads(self.trust_config.read_text())
        if future:  # the same log with its clock a day ahead (server.js)
            for svc in doc["signingConfig"]["rekorTlogUrls"]:
                svc["url"] += "/future"
            doc["signingConfig"]["tsaUrls"] = []
        return SigningContext.from_trust_config(ClientTrustConfig.from_json(json.dumps(doc)))

    def sign(
        self,
        data: bytes,
        *,
        identity: str = WORKFLOW,
        issuer: str = GH_ISSUER,
        future: bool = False,
    ) -> str:
        """A keyless Sigstore bundle (v0.3 JSON) for ``data``: certificate, log entry, TSA."""
        from sigstore.oidc import IdentityToken

        with self._context(future=future).signer(IdentityToken(self.token(identity, issuer))) as s:
            return str(s.sign_artifact(data).to_json())

    def sign_statement(self, subjects: dict[str, str], *, identity: str = WORKFLOW) -> str:
        """A keyless DSSE bundle over an in-toto statement naming ``{name: sha256 hex}``."""
        from sigstore.dsse import StatementBuilder, Subject
        from sigstore.oidc import IdentityToken

        stmt = (
            StatementBuilder()
            .subjects([Subject(name=n, digest={"sha256": d}) for n, d in subjects.items()])
            .predicate_type("https://sigstore.dev/cosign/sign/v1")
            .predicate({})
            .build()
        )
        with self._context().signer(IdentityToken(self.token(identity))) as s:
            return str(s.sign_dsse(stmt).to_json())

    def log_entry(self, body: dict[str, Any], *, future: bool = False) -> dict[str, Any]:
        """Put ``body`` (a Rekor entry) into the local log; the bundle form of the entry."""
        import requests
        from sigstore.models import TransparencyLogEntry

        url = self.url + ("/future" if future else "") + "/api/v1/log/entries"
        resp = requests.post(url, json=body, timeout=30)
        resp.raise_for_status()
        entry = TransparencyLogEntry._from_v1_response(resp.json())
        return dict(json.loads(entry._inner.to_json()))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the local Sigstore tests: {reason}")
    pytest.skip(reason)


def start_local_sigstore() -> Iterator[LocalSigstore]:
    """Run the local Sigstore while the generator is open; stopped by its PID at the end.

    A test module makes it a fixture: ``local_sigstore = pytest.fixture(scope="module")(
    start_local_sigstore)`` (it starts in about a second)."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (SERVER / "node_modules" / "@sigstore" / "mock").is_dir():
        _unavailable(f"run: npm ci --prefix {SERVER}")
    assert node is not None
    folder = Path(tempfile.mkdtemp(prefix="gate-sigstore-"))
    proc = subprocess.Popen(
        [node, str(SERVER / "server.js"), str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "READY <port>", or EOF when it failed
        if not line.startswith("READY "):
            err = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"the local Sigstore did not start: {line} {err[-500:]}")
        port = int(line.split()[1])
        yield LocalSigstore(
            url=f"http://127.0.0.1:{port}",
            folder=folder,
            trusted_root=folder / "trusted_root.json",
            trust_config=folder / "client_trust_config.json",
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
