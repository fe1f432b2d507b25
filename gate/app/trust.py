"""Trust from the base branch: a change under test never writes the rules it is judged by.

A pull request is gated by its own ``gate.yaml``. Read from the pull request, that file would
let the change switch the gate off: trust its own signing key, set ``signatures.required:
false``, raise a tolerance, point ``baseline.store`` at numbers of its choosing, or name its
own ``perf_analyzer``. ``gate check --trusted-config-from REF`` therefore reads the
**trust-bearing** parts of the config from the commit REF (the pull request's base) with
``git``, and takes only the rest (the model, its traffic, how to measure) from the change:

* ``TRUST_FIELDS`` of ``gate.yaml``: the ``signatures:`` section, ``policy`` (and the
  policy file's content, its own ``signatures:`` included), ``baseline.store`` /
  ``model_dir`` / ``ab_from_store``, and what the gate executes or talks to (the launcher's
  kind, url, image, binary, extra arguments and docker host, ``measure.perf_analyzer``,
  ``accuracy.custom_metrics``);
* the files those fields name inside the repository: key files, trusted roots and CA chains
  (a swapped ``cosign.pub`` is a new signer), a policy file, a local baseline store.

Those files are written from REF into a private folder at their repository paths, so every
relative path resolves as it would on the base branch. What the change edits in any of
them is listed (``Trusted.changes``); ``Trusted.apply`` then turns a PASS into
``NEEDS_REVIEW`` (exit 4): the model passed under the base branch's rules, and a person
must review the change to the rules. It never turns into a PASS of its own accord.

The comparison is against REF itself, so check out the change as GitHub's pull-request
merge commit (``actions/checkout`` does for ``pull_request``): a branch that is behind REF
shows REF's newer rule edits as its own, which needs a review too (it fails closed).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel

from gate.app.base_commit import BaseTree, resolve_commit
from gate.app.plan import changed_files, repo_root
from gate.config.config import GateConfig, load_config
from gate.config.policy import Policy, load_policy
from gate.config.signatures import SignaturePolicy
from gate.errors import ConfigError, GateError
from gate.result import CheckResult, CheckStatus, RunResult, TrustInfo, Verdict

#: gate.yaml fields that decide the rules of the verdict or what the gate runs.
TRUST_FIELDS: tuple[str, ...] = (
    "signatures",
    "policy",
    "baseline.store",
    "baseline.model_dir",
    "baseline.ab_from_store",
    "launcher.kind",
    "launcher.url",
    "launcher.image",
    "launcher.tritonserver",
    "launcher.extra_args",
    "launcher.docker_host",
    "launcher.image_signature",
    "model.signature",
    "measure.perf_analyzer",
    "accuracy.custom_metrics",
)
#: Signer rules outside ``signatures:`` (an image's, an ``oci://`` model's): their key and
#: trusted-root files are signature files too.
_SIGNERS = ("launcher.image_signature", "model.signature")
#: Of those, the paths whose files are read from the base commit (a model folder is not:
#: it is verified by the signature rules instead, and may live in Git LFS).
_FETCHED = ("policy", "baseline.store", "launcher.tritonserver", "measure.perf_analyzer")
_MAX_LISTED = 12


# --------------------------------------------------------------------------------------
# one side of the comparison: a config, its policy, the files they name
# --------------------------------------------------------------------------------------


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


def _default(parent: BaseModel, name: str) -> Any:
    info = type(parent).model_fields[name]
    return info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]


def _set(cfg: GateConfig, dotted: str, value: Any) -> GateConfig:
    """``cfg`` with the field at ``dotted`` replaced (left as is where its section is unset)."""
    head, _, name = dotted.rpartition(".")
    if not head:
        return cfg.model_copy(update={name: value})
    parent = getattr(cfg, head)
    if parent is None:
        return cfg
    if value is None and _get(cfg, dotted) is not None:
        value = _default(parent, name)
    return cfg.model_copy(update={head: parent.model_copy(update={name: value})})


def _is_pem(value: str) -> bool:
    return value.lstrip().startswith("-----BEGIN")


def _absolute(value: str, base: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def signature_files(sp: SignaturePolicy | None, base: Path) -> list[Path]:
    """The key, trusted-root and CA files a ``signatures:`` section names (absolute)."""
    out: list[Path] = []
    for rule in sp.rules if sp is not None else ():
        for name in ("key", "trusted_root"):
            value = getattr(rule, name, None)
            if isinstance(value, str) and not _is_pem(value):
                out.append(_absolute(value, base))
        out.extend(_absolute(c, base) for c in getattr(rule, "certificate_chain", ()))
    return out


def _signers_pinned(cfg: GateConfig, base: Path) -> GateConfig:
    """``cfg`` with the files of its image / ``oci://`` model signers made absolute."""
    for dotted in _SIGNERS:
        rule = _get(cfg, dotted)
        if rule is None:
            continue
        update = {
            name: str(_absolute(value, base))
            for name in ("key", "trusted_root")
            if isinstance(value := getattr(rule, name, None), str) and not _is_pem(value)
        }
        cfg = _set(cfg, dotted, rule.model_copy(update=update))
    return cfg


def _pinned(sp: SignaturePolicy, base: Path) -> SignaturePolicy:
    """The section with every file it names made absolute: it then means the same files
    whichever config file it is attached to."""
    rules = []
    for rule in sp.rules:
        update: dict[str, Any] = {}
        for name in ("key", "trusted_root"):
            value = getattr(rule, name, None)
            if isinstance(value, str) and not _is_pem(value):
                update[name] = str(_absolute(value, base))
        chain = getattr(rule, "certificate_chain", ())
        if chain:
            update["certificate_chain"] = tuple(str(_absolute(c, base)) for c in chain)
        rules.append(rule.model_copy(update=update))
    return sp.model_copy(update={"rules": tuple(rules)})


@dataclass
class Side:
    """A config as one side reads it: the config, its policy and the files both name."""

    cfg: GateConfig
    policy: Policy
    files: dict[str, str] = field(default_factory=dict)
    """repository-relative path -> what names it (``signatures key``, ``policy``…)"""


def _files(tree: BaseTree, cfg: GateConfig, config_file: Path, policy: Policy) -> dict[str, str]:
    named: dict[str, str] = {}
    for p in signature_files(cfg.signatures, config_file.parent):
        named[tree.rel(p) or str(p)] = "signature file (gate.yaml)"
    if cfg.policy is not None:
        for p in signature_files(policy.signatures, cfg.policy.parent):
            named[tree.rel(p) or str(p)] = "signature file (policy)"
    for dotted in _SIGNERS:
        rule = _get(cfg, dotted)
        for name in ("key", "trusted_root"):
            value = getattr(rule, name, None) if rule is not None else None
            if isinstance(value, str) and not _is_pem(value):
                path = _absolute(value, config_file.parent)
                named[tree.rel(path) or str(path)] = f"signature file ({dotted})"
    for dotted in ("baseline.store", "launcher.tritonserver", "measure.perf_analyzer"):
        value = _get(cfg, dotted)
        if value is not None and "://" not in str(value):
            named[tree.rel(value) or str(value)] = dotted
    return {k: v for k, v in named.items() if not Path(k).is_absolute()}


def load_side(tree: BaseTree, rel: str, overrides: Sequence[str], *, base: bool) -> Side:
    """The change's side (the work tree) or, with ``base``, the commit's (written under
    ``tree.workdir``: its policy and the files its rules name included)."""
    if not base:
        path = tree.root / rel
        cfg = load_config(path, overrides)
        policy = load_policy(cfg.policy)
        files = _files(tree, cfg, path, policy)
        if cfg.signatures is not None:
            cfg = cfg.model_copy(update={"signatures": _pinned(cfg.signatures, path.parent)})
        return Side(_signers_pinned(cfg, path.parent), policy, files)
    fetched = tree.fetch(rel)
    if fetched is None:
        raise ConfigError(f"{tree.ref}:{rel}: no such gate config on the base commit")
    try:
        return _load_base(tree, fetched, overrides)
    except GateError as e:
        e.message = tree.message(e.message)
        raise


def _load_base(tree: BaseTree, path: Path, overrides: Sequence[str]) -> Side:
    """The base commit's side: the config, its policy, tools and store written under
    ``tree.workdir``; a model folder is left in the work tree (signatures verify it)."""
    cfg = load_config(path, overrides)
    for dotted in _FETCHED:
        value = _get(cfg, dotted)
        if value is None or "://" in str(value):
            continue
        where = tree.rel(value)
        if where is None:
            continue  # outside the repository: not the change's to edit
        copy = tree.fetch(where)
        if copy is None:
            copy = tree.workdir / where
            if dotted == "baseline.store":
                copy.mkdir(parents=True, exist_ok=True)  # no baselines there yet
        cfg = _set(cfg, dotted, str(copy) if dotted == "baseline.store" else copy)
    model_dir = cfg.baseline.model_dir
    if model_dir is not None and (where := tree.rel(model_dir)) is not None:
        cfg = _set(cfg, "baseline.model_dir", tree.root / where)
    policy = load_policy(cfg.policy)
    files = _files(tree, cfg, path, policy)
    for rel_file, what in files.items():
        if what.startswith("signature") and tree.fetch(rel_file) is None:
            raise ConfigError(
                f"{tree.ref}:{rel_file}: named by the signature rules but not there",
                hint="fix the rules on the base branch first",
            )
    if cfg.signatures is not None:
        cfg = cfg.model_copy(update={"signatures": _pinned(cfg.signatures, path.parent)})
    return Side(_signers_pinned(cfg, path.parent), policy, files)


# --------------------------------------------------------------------------------------
# what the change edits
# --------------------------------------------------------------------------------------


def _plain(value: Any, tree: BaseTree) -> Any:
    if isinstance(value, BaseModel):
        return _plain(value.model_dump(mode="json"), tree)
    if isinstance(value, dict):
        return {str(k): _plain(v, tree) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, tree) for v in value]
    if isinstance(value, Path) or (isinstance(value, str) and value.startswith("/")):
        rel = tree.rel(value)
        return rel if rel is not None else str(value)
    return value


def _leaves(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, list) and value and any(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _short(value: Any) -> str:
    text = "-" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "…"


def diff(before: Any, after: Any, prefix: str, tree: BaseTree) -> list[str]:
    """``prefix.field: old → new`` for every leaf that differs."""
    old = dict(_leaves(_plain(before, tree), prefix))
    new = dict(_leaves(_plain(after, tree), prefix))
    keys = list(old) + [k for k in new if k not in old]
    return [
        f"{k}: {_short(old.get(k))} → {_short(new.get(k))}"
        for k in keys
        if old.get(k) != new.get(k)
    ]


def compare(tree: BaseTree, rel: str, base: Side, head: Side, changed: set[str]) -> list[str]:
    """What ``head`` (the change) edits in ``base``'s trust-bearing parts, one line each."""
    out: list[str] = []
    for dotted in TRUST_FIELDS:
        out += diff(_get(base.cfg, dotted), _get(head.cfg, dotted), dotted, tree)
    out += diff(base.policy, head.policy, "policy content", tree)
    for path in sorted(set(base.files) | set(head.files)):
        touched = sorted(f for f in changed if f == path or f.startswith(path + "/"))
        if touched:
            what = base.files.get(path) or head.files[path]
            out.append(f"{what} {path}: {len(touched)} file(s) differ from the base commit")
    return [f"{rel}: {line}" for line in out]


def listing(changes: Sequence[str], limit: int = _MAX_LISTED) -> list[str]:
    """At most ``limit`` lines, the rest counted."""
    shown = list(changes[:limit])
    if len(changes) > limit:
        shown.append(f"… and {len(changes) - limit} more")
    return shown


# --------------------------------------------------------------------------------------
# gate check --trusted-config-from REF
# --------------------------------------------------------------------------------------


@dataclass
class Trusted:
    """The config to run: the change's, with the base commit's trust-bearing parts."""

    cfg: GateConfig
    ref: str
    commit: str
    changes: list[str]
    workdir: tempfile.TemporaryDirectory[str] | None = None

    def info(self) -> TrustInfo:
        return TrustInfo(ref=self.ref, commit=self.commit, changes=list(self.changes))

    def apply(self, result: RunResult) -> None:
        """Record where the rules came from; a change to them makes a PASS NEEDS_REVIEW."""
        result.trust = self.info()
        if not self.changes:
            return
        result.checks.append(
            CheckResult(
                name="trust policy",
                metric="trust",
                status=CheckStatus.FAIL,
                mode="needs_review",
                reason=f"this change edits the gate's rules on {self.ref} "
                f"({len(self.changes)}): " + "; ".join(listing(self.changes, 3)),
                details={"changes": self.changes, "commit": self.commit},
            )
        )
        if result.error is None and result.verdict is Verdict.PASS:
            result.verdict = Verdict.NEEDS_REVIEW


def trusted_config(config: Path, ref: str, overrides: Sequence[str] = ()) -> Trusted:
    """The config ``gate check`` runs when trust comes from ``ref`` (see the module doc).

    A config that is not on the base commit has no rules to inherit: it runs as written,
    and being new is itself the change that needs a review.
    """
    root = repo_root(config.resolve().parent)
    commit = resolve_commit(root, ref)
    rel = PurePosixPath(config.resolve().relative_to(root)).as_posix()
    tmp = tempfile.TemporaryDirectory(prefix="gate-trust-")
    tree = BaseTree(root, ref, commit, Path(tmp.name).resolve())
    head = load_side(tree, rel, overrides, base=False)
    if tree.kind(rel) != "blob":
        new = f"{rel}: new gate config: {ref} has no rules to take from"
        return Trusted(head.cfg, ref, commit, [new], tmp)
    base = load_side(tree, rel, overrides, base=True)
    changes = compare(tree, rel, base, head, set(changed_files(root, commit)))
    cfg = head.cfg
    for dotted in TRUST_FIELDS:
        cfg = _set(cfg, dotted, _get(base.cfg, dotted))
    return Trusted(cfg, ref, commit, changes, tmp)


def with_base_model(cfg: GateConfig, config: Path, checkout: Path) -> tuple[GateConfig, str]:
    """Live A/B against the base branch: ``checkout``'s copy of the model becomes
    ``baseline.model_dir``. Returns the config and a note (why not, when it cannot)."""
    root = repo_root(config.resolve().parent)
    try:
        rel = cfg.model.repository.resolve().relative_to(root)
    except ValueError:
        return cfg, f"model.repository {cfg.model.repository} is outside the repository"
    model_dir = checkout.resolve() / rel / cfg.model.name
    if not (model_dir / "config.pbtxt").is_file():
        return cfg, f"{checkout} has no {rel / cfg.model.name}/config.pbtxt (a new model)"
    return _set(cfg, "baseline.model_dir", model_dir), ""


def trusted_run_config(
    cfg: GateConfig,
    config: Path,
    overrides: Sequence[str],
    *,
    trusted_from: str | None,
    base_checkout: Path | None,
) -> tuple[GateConfig, Trusted | None, list[str]]:
    """What ``gate check`` runs: ``cfg`` as loaded, or with the rules of ``trusted_from``
    and the model of ``base_checkout`` as the live A/B baseline; plus notes for stderr."""
    trusted = trusted_config(config, trusted_from, overrides) if trusted_from else None
    run_cfg = trusted.cfg if trusted is not None else cfg
    notes = [f"needs review: {line}" for line in trusted.changes] if trusted else []
    if base_checkout is not None:
        run_cfg, why = with_base_model(run_cfg, config, base_checkout)
        if why:
            notes.append(f"no live A/B against the base branch: {why}")
    return run_cfg, trusted, notes
