"""Trust from the base branch (``gate.app.trust``), on real temporary git repositories.

Each test commits a base on ``main``, checks out a change, and asks what the change edits in
the gate's rules and which rules a run would apply. No server is started here; the
workflows that run ``gate check --trusted-config-from`` for real are in
``tests/test_workflows.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, run_gate
from trust_repo import branch, git, make_repo, replace

from gate.app.trust import trusted_config, with_base_model
from gate.app.trust_report import trust_report
from gate.config.policy import load_policy
from gate.result import CheckResult, CheckStatus, RunResult, Verdict

CFG = "models/demo/gate.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def _on(repo: Path, name: str, edit: object) -> Path:
    branch(repo, name, edit)  # type: ignore[arg-type]
    git(repo, "switch", "-q", name)
    return repo / CFG


def test_a_clean_change_edits_no_rule(repo: Path) -> None:
    """A model edit (re-signed) and a new traffic file are not rule changes."""

    def edit(r: Path) -> None:
        (r / "models" / "repo" / "demo" / "config.pbtxt").write_text(
            (r / "models" / "repo" / "demo" / "config.pbtxt").read_text() + "\n"
        )

    cfg = _on(repo, "clean", edit)
    trusted = trusted_config(cfg, "main")
    assert trusted.changes == []
    assert trusted.commit == git(repo, "rev-parse", "main")
    assert trust_report(repo, "main").changes == []


def test_loosened_signatures_are_reported_and_not_applied(repo: Path) -> None:
    cfg = _on(
        repo,
        "unsigned",
        lambda r: replace(r / CFG, "signatures:\n", "signatures:\n  required: false\n"),
    )
    trusted = trusted_config(cfg, "main")
    assert trusted.changes == [f"{CFG}: signatures.required: True → False"]
    assert trusted.cfg.signatures is not None and trusted.cfg.signatures.required is True
    assert trust_report(repo, "main").changes == trusted.changes


def test_a_swapped_key_file_is_a_new_signer(repo: Path) -> None:
    """Same gate.yaml, other key in the file it names: reported, and the run verifies with
    the base commit's key (a copy of it, never the change's file)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cfg = _on(repo, "key", lambda r: (r / "keys" / "cosign.pub").write_bytes(pem))
    trusted = trusted_config(cfg, "main")
    assert trusted.changes == [
        f"{CFG}: signature file (gate.yaml) keys/cosign.pub: 1 file(s) differ from the base commit"
    ]
    assert trusted.cfg.signatures is not None
    key = Path(trusted.cfg.signatures.rules[0].key)  # type: ignore[union-attr]
    assert key.is_absolute() and not key.is_relative_to(repo)
    assert key.read_bytes() == (FIXTURES / "keys" / "TEST-ONLY-cosign.pub").read_bytes()


def test_loosened_policy_is_reported_and_the_base_policy_applies(repo: Path) -> None:
    def edit(r: Path) -> None:
        replace(r / "policies" / "ci.yaml", "shift: {tolerance: 0.5}", "shift: {tolerance: 9}")
        replace(r / "policies" / "ci.yaml", "alpha: 0.01", "alpha: 0.01 # a comment")

    cfg = _on(repo, "policy", edit)
    trusted = trusted_config(cfg, "main")
    assert trusted.changes == [f"{CFG}: policy content.latency.shift.tolerance: 0.5 → 9.0"]
    assert trusted.cfg.policy is not None and not trusted.cfg.policy.is_relative_to(repo)
    assert load_policy(trusted.cfg.policy).latency.shift.tolerance == 0.5


def test_pointing_at_another_policy_or_tool_is_reported(repo: Path) -> None:
    def edit(r: Path) -> None:
        (r / "policies" / "lax.yaml").write_text("version: 1\ninconclusive: pass\n")
        replace(r / CFG, "policy: ../../policies/ci.yaml", "policy: ../../policies/lax.yaml")
        replace(r / CFG, "measure:\n", "measure:\n  perf_analyzer: ../../fake-pa\n")

    trusted = trusted_config(_on(repo, "other", edit), "main")
    text = "\n".join(trusted.changes)
    assert "policy: policies/ci.yaml → policies/lax.yaml" in text
    assert "measure.perf_analyzer: - → fake-pa" in text
    assert "policy content.latency.shift.tolerance: 0.5 → 0.05" in text
    assert trusted.cfg.measure.perf_analyzer is None
    assert load_policy(trusted.cfg.policy).latency.shift.tolerance == 0.5


def test_a_baseline_store_edit_is_reported_and_the_base_store_is_read(repo: Path) -> None:
    def seed(r: Path) -> None:
        (r / ".gate" / "baselines" / "demo").mkdir(parents=True)
        (r / ".gate" / "baselines" / "demo" / "baseline-x.json.gz").write_bytes(b"base")

    repo2 = make_repo(repo.parent / "repo2", seed)
    cfg = _on(
        repo2,
        "store",
        lambda r: (r / ".gate" / "baselines" / "demo" / "baseline-x.json.gz").write_bytes(b"pr"),
    )
    trusted = trusted_config(cfg, "main")
    assert trusted.changes == [
        f"{CFG}: baseline.store .gate/baselines: 1 file(s) differ from the base commit"
    ]
    store = Path(trusted.cfg.baseline.store)
    assert (store / "demo" / "baseline-x.json.gz").read_bytes() == b"base"
    assert trust_report(repo2, "main").changes == trusted.changes


def test_repository_level_edits(repo: Path) -> None:
    """A removed config, a new one, the plan file and a workflow: each needs a review."""

    def edit(r: Path) -> None:
        shutil.copytree(r / "models" / "demo", r / "models" / "new")
        (r / CFG).unlink()
        (r / "gate-plan.yaml").write_text("version: 1\nconfigs: [models/new/gate.yaml]\n")
        (r / ".github" / "workflows").mkdir(parents=True)
        (r / ".github" / "workflows" / "x.yml").write_text("on: push\n")

    _on(repo, "repo-level", edit)
    assert trust_report(repo, "main").changes == [
        "gate-plan.yaml: changed (which configs are gated, runners, trust paths)",
        ".github/workflows/x.yml: changed (a trust path of gate-plan.yaml)",
        f"{CFG}: gate config removed",
        "models/new/gate.yaml: new gate config: main has no rules to take from",
    ]
    trusted = trusted_config(repo / "models" / "new" / "gate.yaml", "main")
    assert trusted.changes == [
        "models/new/gate.yaml: new gate config: main has no rules to take from"
    ]


def test_overrides_on_both_sides_and_paths_in_the_repository_come_from_base(repo: Path) -> None:
    """``--set policy=<path in the work tree>`` (the action's policy input) reads the base
    commit's copy of that file; the same override on both sides is no change."""
    cfg = _on(
        repo,
        "strict",
        lambda r: replace(r / "policies" / "ci.yaml", "alpha: 0.01", "alpha: 0.2"),
    )
    trusted = trusted_config(cfg, "main", [f"policy={repo / 'policies' / 'ci.yaml'}"])
    assert trusted.changes == [f"{CFG}: policy content.alpha: 0.01 → 0.2"]
    assert load_policy(trusted.cfg.policy).alpha == 0.01


def test_unknown_ref_and_bad_base_config_are_exit_2(repo: Path) -> None:
    cfg = repo / CFG
    res = run_gate("check", str(cfg), "--trusted-config-from", "nope", cwd=repo)
    assert res.returncode == 2 and "no such commit" in res.stderr
    branch(repo, "broken", lambda r: replace(r / CFG, "version: 1", "version: 1\nbogus: 1"))
    git(repo, "switch", "-q", "broken")
    branch(repo, "child", lambda r: replace(r / CFG, "bogus: 1\n", ""), base="broken")
    git(repo, "switch", "-q", "child")
    res = run_gate("check", str(cfg), "--trusted-config-from", "broken", cwd=repo)
    assert res.returncode == 2 and "broken:models/demo/gate.yaml" in res.stderr, res.stderr


def test_apply_makes_a_pass_need_review_and_leaves_worse_verdicts(repo: Path) -> None:
    cfg = _on(
        repo,
        "unsigned2",
        lambda r: replace(r / CFG, "signatures:\n", "signatures:\n  required: false\n"),
    )
    trusted = trusted_config(cfg, "main")

    def run(verdict: Verdict) -> RunResult:
        r = RunResult(run_id="x", command="check", gate_version="0", started_at="now")
        r.verdict = verdict
        r.checks = [
            CheckResult(name="shift", metric="latency.shift", status=CheckStatus.PASS, mode="r")
        ]
        trusted.apply(r)
        return r

    passed = run(Verdict.PASS)
    assert passed.verdict is Verdict.NEEDS_REVIEW and passed.exit_code == 4
    assert passed.trust is not None and passed.trust.changes == trusted.changes
    assert passed.checks[-1].name == "trust policy" and passed.checks[-1].status is CheckStatus.FAIL
    assert json.loads(passed.to_json())["trust"]["commit"] == trusted.commit
    assert run(Verdict.BLOCKED).verdict is Verdict.BLOCKED
    assert run(Verdict.INCONCLUSIVE).verdict is Verdict.INCONCLUSIVE
    from gate.report.merge import merge_runs

    merged = merge_runs([passed, run(Verdict.PASS)], ["a", "b"])
    assert merged.verdict is Verdict.NEEDS_REVIEW and merged.exit_code == 4
    merged = merge_runs([passed, run(Verdict.INCONCLUSIVE)], ["a", "b"])
    assert merged.verdict is Verdict.INCONCLUSIVE


def test_base_checkout_becomes_the_live_ab_baseline(repo: Path, tmp_path: Path) -> None:
    checkout = tmp_path / "base"
    git(repo, "worktree", "add", "-q", "--detach", str(checkout), "main")
    trusted = trusted_config(repo / CFG, "main")
    cfg, note = with_base_model(trusted.cfg, repo / CFG, checkout)
    assert note == "" and cfg.baseline.model_dir == checkout / "models" / "repo" / "demo"
    shutil.rmtree(checkout / "models" / "repo")
    cfg, note = with_base_model(trusted.cfg, repo / CFG, checkout)
    assert "a new model" in note and cfg.baseline.model_dir is None


def test_lfs_pointer_is_refused(repo: Path) -> None:
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 1\n"

    def edit(r: Path) -> None:
        (r / "keys" / "cosign.pub").write_text(pointer)

    branch(repo, "lfs", edit)
    git(repo, "switch", "-q", "-c", "on-lfs", "lfs")
    with pytest.raises(Exception, match="Git LFS pointer"):
        trusted_config(repo / CFG, "lfs")
