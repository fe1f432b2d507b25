"""Apply a ``signatures:`` policy to one model directory, before any server reads it.

The chain, step by step:

1. Walk the model directory without following links. A symlink (file or folder) whose
   target lies outside the directory fails at once: Triton would read it, and nobody signed
   what it points to. Anything that is not a regular file or folder fails too.
2. Classify every file: ignored by the policy's ``ignore`` globs; signature material of a rule
   (``F.sig`` next to ``F``, ``F.sigstore.json``, the model-signing ``model.sig``); or a file
   that must be signed, by the first rule whose ``files`` globs match it.
3. Verify per rule: cosign key signatures and Sigstore bundles per file; one model-signing
   signature per directory, whose manifest must list every file the rule covers (an extra
   file is a failure, not merely "unsigned").
4. Decide: any failure blocks; an unsigned file blocks unless ``required: false`` (then it is
   a warning). With no rule at all nothing is trusted, so every file is unsigned.

Globs: ``*`` and ``?`` stay inside one folder, ``**`` crosses folders; a pattern without
``/`` matches a file's name in any folder (``*.pyc``), as in ``.gitignore``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from gate.config.globs import glob_to_regex
from gate.config.signatures import (
    CosignKeyRule,
    ModelSigningRule,
    SignaturePolicy,
    SigstoreBundleRule,
)
from gate.result import SignaturesResult, SignedArtifact
from gate.signing.explain import MAX_LINE, one_line
from gate.signing.interface import Proof, SignatureFailure

_NO_RULE = (
    "no signature rule trusts any signer for it (the default trusts no one: add "
    "signatures.rules naming your key or identity)"
)
_NOT_VERIFIED = "not verified: the model signature"
_BYTECODE = "; Python may load this unsigned bytecode instead of the source: delete __pycache__"


@lru_cache(maxsize=256)
def _glob_re(pattern: str) -> re.Pattern[str]:
    return re.compile(glob_to_regex(pattern))


def glob_match(pattern: str, rel: str) -> bool:
    """Whether the model-relative POSIX path ``rel`` matches ``pattern`` (see module doc)."""
    rx = _glob_re(pattern)
    if rx.fullmatch(rel):
        return True
    return "/" not in pattern and rx.fullmatch(rel.rsplit("/", 1)[-1]) is not None


def _any(patterns: tuple[str, ...], rel: str) -> bool:
    return any(glob_match(p, rel) for p in patterns)


def _inside(root: Path, target: str) -> bool:
    return target == str(root) or target.startswith(str(root) + os.sep)


def scan(model_dir: Path) -> tuple[list[str], list[SignedArtifact]]:
    """The files of ``model_dir`` (relative POSIX paths, sorted) and what fails on sight."""
    root = model_dir.resolve()
    files: list[str] = []
    bad: list[SignedArtifact] = []

    def rel_of(p: str) -> str:
        return Path(p).relative_to(root).as_posix()

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                dirnames.remove(d)  # never descend through a link
                target = os.path.realpath(full)
                if not _inside(root, target):
                    bad.append(_escape(rel_of(full), target))
                else:
                    bad.append(
                        SignedArtifact(
                            path=rel_of(full),
                            status="failed",
                            reason=f"symlinked folder (→ {os.path.relpath(target, root)}) "
                            "inside the model: replace it by the folder itself",
                        )
                    )
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = rel_of(full)
            if os.path.islink(full):
                target = os.path.realpath(full)
                if not _inside(root, target):
                    bad.append(_escape(rel, target))
                    continue
                if not os.path.isfile(target):
                    bad.append(SignedArtifact(path=rel, status="failed", reason="broken symlink"))
                    continue
            else:
                mode = os.lstat(full).st_mode
                if not stat.S_ISREG(mode):
                    bad.append(
                        SignedArtifact(path=rel, status="failed", reason="not a regular file")
                    )
                    continue
            files.append(rel)
    return sorted(files), bad


def _escape(rel: str, target: str) -> SignedArtifact:
    return SignedArtifact(
        path=rel,
        status="failed",
        reason=f"symlink leaves the model directory (→ {target}); nothing outside it is signed",
    )


def _signature_files(policy: SignaturePolicy, files: list[str]) -> set[str]:
    present = set(files)
    out: set[str] = set()
    for rule in policy.rules:
        if isinstance(rule, ModelSigningRule):
            out.add(Path(rule.signature).as_posix())
            continue
        suffix = rule.signature_suffix if isinstance(rule, CosignKeyRule) else rule.bundle_suffix
        for f in files:
            if f.endswith(suffix) and f[: -len(suffix)] in present:
                out.add(f)
    return out


def verify_model_dir(
    model_dir: Path,
    policy: SignaturePolicy,
    *,
    base: Path,
    source: str = "",
    progress: Callable[[str], None] | None = None,
) -> SignaturesResult:
    """Verify ``model_dir`` under ``policy`` (paths in the policy are relative to ``base``).

    Never raises for a bad signature: the result says what failed and why, per file.
    May raise ``InfraError`` when a public Sigstore trusted root cannot be fetched.
    """
    files, bad = scan(model_dir)
    root = model_dir.resolve()
    sig_files = _signature_files(policy, files)
    artifacts: list[SignedArtifact] = list(bad)
    oms_cache: dict[int, tuple[Proof, set[str]] | SignatureFailure] = {}

    for rel in files:
        if rel in sig_files:
            continue
        if _any(policy.ignore, rel):
            artifacts.append(SignedArtifact(path=rel, status="ignored", reason="policy ignore"))
            continue
        index, rule = next(
            ((i, r) for i, r in enumerate(policy.rules) if _any(r.files, rel)), (-1, None)
        )
        if rule is None:
            artifacts.append(_unsigned(rel, None, None, _NO_RULE))
            continue
        if progress is not None:
            progress(rel)
        if isinstance(rule, ModelSigningRule):
            artifacts.append(_oms_file(root, rel, index, rule, base, oms_cache))
            continue
        if isinstance(rule, CosignKeyRule):
            sig_rel = rel + rule.signature_suffix
        else:
            sig_rel = rel + rule.bundle_suffix
        if sig_rel not in files:
            artifacts.append(_unsigned(rel, rule.method, sig_rel, f"missing signature {sig_rel}"))
            continue
        try:
            if isinstance(rule, CosignKeyRule):
                proof = _cosign(root / rel, root / sig_rel, rule, base)
            else:
                proof = _bundle(root / rel, root / sig_rel, rule, base)
        except SignatureFailure as e:
            artifacts.append(_failed(rel, rule.method, sig_rel, e.reason, e.details))
            continue
        artifacts.append(_verified(rel, rule.method, sig_rel, proof))

    artifacts.sort(key=lambda a: a.path)
    failed = [a for a in artifacts if a.status == "failed"]
    unsigned = [a for a in artifacts if a.status == "unsigned"]
    blocking = failed + (unsigned if policy.required else [])
    # the file at fault first, files that merely share its failed signature last
    blocking.sort(key=lambda a: a.reason.startswith(_NOT_VERIFIED))
    reason = ""
    if blocking:
        first = blocking[0]
        more = len(blocking) - 1
        tail = f" (and {more} more file{'s' if more > 1 else ''})" if more else ""
        head = f"{root.name}/{first.path}: "  # the full folder is in model_dir
        reason = head + one_line(first.reason, max(60, MAX_LINE - len(head) - len(tail))) + tail
    return SignaturesResult(
        ok=not blocking,
        model_dir=str(root),
        policy_source=source,
        required=policy.required,
        reason=reason,
        artifacts=artifacts,
    )


def _bytecode_hint(rel: str, why: str) -> str:
    """``why``, plus the hint that Python may load ``rel`` when it is unsigned bytecode."""
    return why + _BYTECODE if "__pycache__/" in rel or rel.endswith(".pyc") else why


def _unsigned(rel: str, method: str | None, sig: str | None, why: str) -> SignedArtifact:
    reason = _bytecode_hint(rel, why)
    return SignedArtifact(path=rel, status="unsigned", method=method, signature=sig, reason=reason)


def _failed(
    rel: str, method: str, sig: str, reason: str, details: str | None = None
) -> SignedArtifact:
    return SignedArtifact(
        path=rel,
        status="failed",
        method=method,
        signature=sig,
        reason=reason,
        details=details or "",
    )


def _verified(rel: str, method: str, sig: str, proof: Proof) -> SignedArtifact:
    return SignedArtifact(
        path=rel,
        status="verified",
        method=method,
        signature=sig,
        signer=proof.signer,
        trust_root=proof.trust_root,
    )


def _cosign(artifact: Path, sig: Path, rule: CosignKeyRule, base: Path) -> Proof:
    from gate.signing.cosign import verify_blob

    return verify_blob(artifact, sig, rule.key, base)


def _bundle(artifact: Path, sig: Path, rule: SigstoreBundleRule, base: Path) -> Proof:
    from gate.signing.bundle import verify_bundle

    return verify_bundle(artifact, sig, rule, base)


def _oms_file(
    root: Path,
    rel: str,
    index: int,
    rule: ModelSigningRule,
    base: Path,
    cache: dict[int, tuple[Proof, set[str]] | SignatureFailure],
) -> SignedArtifact:
    if index not in cache:
        from gate.signing.oms import verify_model

        try:
            proof, names = verify_model(root, rule, base)
            cache[index] = (proof, set(names))
        except SignatureFailure as e:
            cache[index] = e
    got = cache[index]
    sig = Path(rule.signature).as_posix()
    if isinstance(got, SignatureFailure):
        if got.reason.startswith("missing model signature"):
            return _unsigned(rel, rule.method, sig, got.reason)
        reason = got.reason
        if got.path is not None and got.path != rel:
            reason = f"{_NOT_VERIFIED} {sig} did not verify ({got.path} changed)"
        return _failed(rel, rule.method, sig, reason, got.details)
    proof, covered = got
    if rel not in covered:
        why = f"extra file not in the model signature {sig}: sign the model again or ignore it"
        return _failed(rel, rule.method, sig, _bytecode_hint(rel, why))
    return _verified(rel, rule.method, sig, proof)
