"""OCI references: ``HOST[:PORT]/REPO[:TAG][@sha256:…]`` (images, ``oci://`` models).

Part of the configuration grammar (a malformed reference is exit 2 naming the field); the
registry client that reads them is ``gate.signing.registry``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REF = re.compile(
    r"^(?P<registry>[A-Za-z0-9.-]+(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)/"
    r"(?P<repo>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
LOOPBACK = re.compile(r"^(localhost|127\.[0-9.]+|\[::1\])(:[0-9]+)?$")


@dataclass(frozen=True)
class Reference:
    """``HOST[:PORT]/REPO[:TAG][@sha256:…]``: where an image or artifact lives."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return self._text(self.digest)

    def short(self) -> str:
        """For messages: the digest cut to 12 hex digits (the full one is in run.json)."""
        return self._text(f"{self.digest[:19]}…" if self.digest else None)

    def _text(self, digest: str | None) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if digest:
            out += f"@{digest}"
        return out

    def pinned(self, digest: str) -> str:
        """The reference by digest only: what is pulled and run after verification."""
        return f"{self.registry}/{self.repository}@{digest}"


def parse_reference(text: str) -> Reference:
    """Parse ``[oci://]HOST/REPO[:TAG][@sha256:HEX]``; ValueError says what is wrong.

    The registry host must be explicit (no implied Docker Hub): the gate verifies what it
    names, so the name must say where it comes from.
    """
    body = text.removeprefix("oci://")
    m = _REF.match(body)
    if not m or (
        "." not in m["registry"] and ":" not in m["registry"] and not LOOPBACK.match(m["registry"])
    ):
        raise ValueError(
            f"{text!r} is not HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST] "
            "(lower-case repository; the registry host must be given)"
        )
    if not m["tag"] and not m["digest"]:
        raise ValueError(f"{text!r} names neither a tag nor a digest: add :TAG or @sha256:…")
    return Reference(m["registry"], m["repo"], m["tag"], m["digest"])
