"""``gate plan --trusted-config-from REF``: everything a change edits in the gate's rules.

``gate check --trusted-config-from`` guards one config while it runs. A change can also
edit the rules around every config, and then no ``gate check`` may run at all: remove a
``gate.yaml`` (its model is no longer planned), edit ``gate-plan.yaml`` (which configs are
found), change a local baseline store (an output, so it plans no model), or edit the
workflows that run the gate. This report looks at the whole repository, reading the plan
from the base commit REF (never from the change):

* ``gate-plan.yaml`` itself, and every file matching its ``trust:`` globs (by default the
  workflows and CODEOWNERS);
* every gate config REF has: removed by the change, or its trust-bearing parts edited
  (``gate.app.trust.compare``: signatures, policy, baseline store, tools, the files they
  name);
* every gate config the change adds (no rules on REF to take from).

Any line here means the change needs a person's review: the pre-merge workflow never
auto-merges it, whatever the model checks say.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gate.app.base_commit import BaseTree, git_output, resolve_commit
from gate.app.plan import (
    PLAN_FILE,
    PlanFile,
    changed_files,
    known_files,
    load_plan_file,
    matches,
    repo_root,
)
from gate.app.trust import compare, listing, load_side
from gate.errors import GateError


@dataclass(frozen=True)
class TrustReport:
    """What a change edits in the gate's rules, against the base commit."""

    ref: str
    commit: str
    changes: list[str]

    def markdown(self, limit: int = 40) -> str:
        """A short section for the pull-request comment (at most ``limit`` lines listed)."""
        if not self.changes:
            return ""
        lines = [
            "### 🔏 This change edits the gate's rules (needs a review)",
            "",
            f"Compared with `{self.ref}` ({self.commit[:12]}); the models were gated by the "
            "base branch's rules, and this pull request is never merged automatically:",
            "",
        ]
        lines += [f"- `{line.replace('`', chr(39))}`" for line in listing(self.changes, limit)]
        return "\n".join(lines) + "\n"


def _base_plan(tree: BaseTree) -> PlanFile:
    path = tree.fetch(PLAN_FILE)
    if path is None:
        return PlanFile()
    try:
        return load_plan_file(path)
    except GateError as e:
        e.message = tree.message(e.message)
        raise


def _configs(files: Sequence[str], plan: PlanFile) -> set[str]:
    globs = [entry.path for entry in plan.entries()]
    return {f for f in files if any(matches(g, f) for g in globs)}


def trust_report(start: Path, ref: str, overrides: Sequence[str] = ()) -> TrustReport:
    """Every edit of the gate's rules between ``ref`` and the work tree (see module doc)."""
    root = repo_root(start)
    commit = resolve_commit(root, ref)
    changed = changed_files(root, commit)
    with tempfile.TemporaryDirectory(prefix="gate-trust-") as tmp:
        tree = BaseTree(root, ref, commit, Path(tmp).resolve())
        plan = _base_plan(tree)
        out: list[str] = []
        if PLAN_FILE in changed:
            out.append(f"{PLAN_FILE}: changed (which configs are gated, runners, trust paths)")
        out += [
            f"{f}: changed (a trust path of {PLAN_FILE})"
            for f in changed
            if f != PLAN_FILE and any(matches(g, f) for g in plan.trust)
        ]
        listed = (git_output(root, "ls-tree", "-r", "-z", "--name-only", commit) or b"").decode()
        before = _configs([f for f in listed.split("\0") if f], plan)
        after = _configs([f for f in known_files(root) if (root / f).is_file()], plan)
        out += [f"{f}: gate config removed" for f in sorted(before - after)]
        out += [
            f"{f}: new gate config: {ref} has no rules to take from" for f in sorted(after - before)
        ]
        changed_set = set(changed)
        for rel in sorted(before & after):
            base = load_side(tree, rel, overrides, base=True)
            head = load_side(tree, rel, overrides, base=False)
            out += compare(tree, rel, base, head, changed_set)
    return TrustReport(ref, commit, out)
