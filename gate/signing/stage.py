"""The ``signatures`` stage of ``gate check`` / ``baseline record`` and ``gate verify``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gate.result import CheckResult, CheckStatus, SignaturesResult
from gate.signing import effective_policy
from gate.signing.interface import SignaturesBlocked
from gate.signing.verify import verify_model_dir

if TYPE_CHECKING:
    from gate.config.config import GateConfig
    from gate.config.policy import Policy

HINT = (
    "sign the model's files with a trusted key or identity (see the signatures: section of "
    "the policy), or restore the signed files"
)


def summary(res: SignaturesResult) -> str:
    """``4 verified, 1 ignored, 0 unsigned, 0 failed`` for stage details and the console."""
    counts = {s: 0 for s in ("verified", "ignored", "unsigned", "failed")}
    for a in res.artifacts:
        counts[a.status] += 1
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def verify_for_run(
    cfg: GateConfig | None,
    config_path: Path | None,
    policy: Policy | None,
    policy_path: Path | None,
    model_dir: Path,
    progress: Callable[[str], None] | None = None,
) -> tuple[SignaturesResult | None, list[str], str]:
    """Verify before anything reads the model: (result, warnings, stage detail).

    Raises ``SignaturesBlocked`` (verdict BLOCKED, exit 1) when the model may not be loaded.
    """
    sp, base, source = effective_policy(cfg, config_path, policy, policy_path)
    if not sp.enabled:
        return (
            None,
            [
                f"signature verification is disabled (signatures.enabled: false in {source}): "
                "the model was loaded without proof of where it came from"
            ],
            "disabled",
        )
    res = verify_model_dir(model_dir, sp, base=base, source=source, progress=progress)
    warnings = []
    unsigned = [a for a in res.artifacts if a.status == "unsigned"]
    if unsigned and not sp.required:
        warnings.append(
            f"{len(unsigned)} unsigned file(s) loaded because signatures.required is false in "
            f"{source}: {', '.join(a.path for a in unsigned[:5])}"
            + (" …" if len(unsigned) > 5 else "")
        )
    detail = f"{summary(res)} (policy: {source})"
    if not res.ok:
        raise SignaturesBlocked(res.reason, hint=HINT, details=detail, result=res)
    return res, warnings, detail


def blocked_check(reason: str) -> CheckResult:
    """The failed critical check that carries a signature block into every report."""
    return CheckResult(
        name="signatures",
        metric="signatures",
        status=CheckStatus.FAIL,
        mode="fail_closed",
        critical=True,
        reason=reason,
    )
