"""Plain-text rendering of a ``SignaturesResult`` for ``gate verify``."""

from __future__ import annotations

from gate.result import SignaturesResult
from gate.signing.stage import summary

_TAG = {"verified": "OK", "ignored": "IGNORED", "unsigned": "UNSIGNED", "failed": "FAILED"}


def render_signatures(res: SignaturesResult, warnings: list[str]) -> str:
    """One line per file, then the verdict; ends with a newline."""
    lines = []
    width = max(len(t) for t in _TAG.values())
    for o in res.oci:
        tag = _TAG[o.status].ljust(width)
        if o.status == "verified":
            what = f"{o.pinned} ({o.signature}): {o.signer} — trust: {o.trust_root}"
        else:
            what = f"{o.reference}: {o.reason}"
        lines.append(f"  {tag}  {o.kind} {what}")
    for a in res.artifacts:
        tag = _TAG[a.status].ljust(width)
        if a.status == "verified":
            what = f"{a.method}: {a.signer} — trust: {a.trust_root}"
        else:
            what = a.reason
        lines.append(f"  {tag}  {a.path}: {what}")
    lines += [f"warning: {w}" for w in warnings]
    verdict = "VERIFIED" if res.ok else "BLOCKED"
    where = res.model_dir or ", ".join(f"{o.kind} {o.reference}" for o in res.oci)
    lines.append(f"gate verify: {verdict} — {where} ({summary(res)}; policy: {res.policy_source})")
    if not res.ok:
        lines.append(f"reason: {res.reason}")
    return "\n".join(lines) + "\n"
