"""Errors of the signature stage, shared by every verification method.

Verification either returns what it proved (who signed, against which trust root) or raises
``SignatureFailure`` with one line that names the file: a missing signature, an unreadable
key, a tampered file are all the same outcome for the gate (BLOCKED), only the reason differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gate.errors import ExitCode, GateError

if TYPE_CHECKING:
    from gate.result import SignaturesResult


class SignatureFailure(Exception):
    """A signature that is missing, malformed, untrusted or does not match (→ BLOCKED)."""

    def __init__(self, reason: str, *, path: str | None = None, details: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path  # the model-relative file at fault, when one is known
        self.details = details  # the library's full text (run.json), when it said more


def read_material(path: Path, what: str) -> bytes:
    """The bytes of a signature file (``what``: "signature", "bundle"); a missing or
    unreadable one is a ``SignatureFailure`` naming it, the same for every method."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SignatureFailure(f"missing {what} {path.name}") from None
    except OSError as e:
        raise SignatureFailure(f"cannot read {what} {path.name}: {e.strerror}") from None


@dataclass(frozen=True)
class Proof:
    """What a successful verification established."""

    signer: str
    trust_root: str


class SignaturesBlocked(GateError):
    """Raised by the pipeline's signature stage: a verdict (exit 1), not an error.

    ``gate.app.run.record_error`` turns it into verdict BLOCKED with a failed critical
    ``signatures`` check, so nothing after it (server start, replay) runs.
    """

    exit_code = ExitCode.BLOCKED

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: str | None = None,
        result: SignaturesResult | None = None,
    ) -> None:
        super().__init__(message, hint=hint, details=details)
        self.result = result
