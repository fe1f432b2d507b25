"""Signature verification of a model directory before any server reads it (fail closed).

``policy.py`` is the ``signatures:`` section; ``verify.py`` applies it to a directory;
``cosign.py`` (cosign key signatures), ``bundle.py`` (Sigstore bundles v0.1–v0.3, via
sigstore-python) and ``oms.py`` (OpenSSF model signing) each verify one method. The heavy
libraries (cryptography, sigstore, model_signing) are imported only when a rule needs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gate.config.signatures import SignaturePolicy
from gate.signing.interface import Proof, SignatureFailure, SignaturesBlocked

if TYPE_CHECKING:
    from gate.config.config import GateConfig
    from gate.config.policy import Policy

__all__ = [
    "Proof",
    "SignatureFailure",
    "SignaturePolicy",
    "SignaturesBlocked",
    "effective_policy",
]


def effective_policy(
    cfg: GateConfig | None,
    config_path: Path | None,
    policy: Policy | None,
    policy_path: Path | None,
) -> tuple[SignaturePolicy, Path, str]:
    """The ``signatures:`` section that applies, the folder its paths are relative to, and
    the file it came from: ``gate.yaml``'s if it has one, else the policy's, else the
    built-in default (which trusts no one)."""
    if cfg is not None and cfg.signatures is not None and config_path is not None:
        return cfg.signatures, config_path.resolve().parent, str(config_path)
    if policy is not None and policy.signatures is not None:
        if policy_path is not None:
            return policy.signatures, policy_path.resolve().parent, str(policy_path)
        return policy.signatures, Path.cwd(), "policy"
    return SignaturePolicy(), Path.cwd(), "built-in default (trusts no signer)"
