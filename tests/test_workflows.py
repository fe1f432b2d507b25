"""The example workflows run end to end in the local harness (``tests/workflow_harness.py``).

A real repository (``tests/trust_repo.py``) is pushed to a bare ``origin``; pull requests are
branches and GitHub's merge commits of them; each workflow's ``run:`` steps and the composite
actions run in order with a fake ``GITHUB_*`` environment, and ``gate`` runs for real (the
embedded tritonserver, the signed fixture model, live A/B, baselines on disk). Stubbed, as
the harness's docstring says: ``gh`` and GitHub's API, GitHub's own actions, the pip install
of the gate, and GitHub's permission model.

The questions asked: which pull requests reach auto-merge (only a clean one: one that
loosens ``signatures:`` or the policy is gated by the base branch's rules and never
auto-merged); do fork pull requests stay off self-hosted runners; does post-merge record and
propose baselines without pushing to ``main``; and does the nightly's traffic refresh come
with re-recorded baselines, so that the next night's check is green.
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, ROOT
from trust_repo import branch, make_repo, replace
from workflow_harness import Harness, WorkflowRun

pytestmark = pytest.mark.server

WORKFLOWS = ROOT / "github-actions" / "workflows"
CFG = "models/demo/gate.yaml"


def _sign(model_dir: Path) -> None:
    sys.path.insert(0, str(FIXTURES))
    try:
        from sign_models import sign_model_dir
    finally:
        sys.path.remove(str(FIXTURES))
    sign_model_dir(model_dir)


def _with_action(repo: Path) -> None:
    import shutil

    shutil.copytree(ROOT / "github-actions", repo / "github-actions")
    (repo / ".github" / "workflows").mkdir(parents=True)
    for wf in WORKFLOWS.glob("*.yml"):
        shutil.copy(wf, repo / ".github" / "workflows" / wf.name)


@pytest.fixture(scope="module")
def gh(tmp_path_factory: pytest.TempPathFactory, tools_ready: None) -> Iterator[Harness]:
    from gate.tools import cache_dir

    tmp = tmp_path_factory.mktemp("workflows")
    repo = make_repo(tmp / "repo", _with_action)

    def clean(r: Path) -> None:  # a model edit, re-signed by the trusted key
        model = r / "models" / "repo" / "demo"
        (model / "config.pbtxt").write_text((model / "config.pbtxt").read_text() + "# v2\n")
        _sign(model)

    branch(repo, "clean", clean)
    branch(
        repo,
        "unsigned",
        lambda r: replace(r / CFG, "signatures:\n", "signatures:\n  required: false\n"),
    )
    branch(
        repo,
        "lax-policy",
        lambda r: replace(
            r / "policies" / "ci.yaml", "shift: {tolerance: 0.5}", "shift: {tolerance: 9}"
        ),
    )
    harness = Harness(tmp, repo, cache_dir())
    harness.vars.update({"GATE_AUTO_MERGE": "true", "GATE_APP_ID": "123"})
    harness.secrets.update({"GATE_APP_PRIVATE_KEY": "not-a-key"})
    yield harness


def _pull_request(gh: Harness, head: str, number: int, fork: bool = False) -> WorkflowRun:
    base_sha = gh.git("rev-parse", "main")
    head_sha = gh.git("rev-parse", head)
    merge = gh.merge(head, ref=f"refs/pull/{number}/merge")
    repo = "attacker/repo" if fork else "owner/repo"
    event = {
        "number": number,
        "pull_request": {
            "number": number,
            "html_url": f"https://github.invalid/owner/repo/pull/{number}",
            "base": {"ref": "main", "sha": base_sha, "repo": {"full_name": "owner/repo"}},
            "head": {"ref": head, "sha": head_sha, "repo": {"full_name": repo}},
        },
    }
    return gh.run(
        WORKFLOWS / "pre-merge.yml",
        "pull_request",
        event,
        sha=merge,
        ref=f"refs/pull/{number}/merge",
    )


def _explain(run: WorkflowRun) -> str:
    return "\n\n".join(
        f"== {r.name} ({r.result})\n{r.log[-6000:]}" for rs in run.jobs.values() for r in rs
    )


def _automerged(run: WorkflowRun) -> bool:
    return any("--auto" in c["args"] for c in run.gh("pr", "merge"))


def _run_json(run: WorkflowRun, job: str = "gate") -> dict[str, Any]:
    ws = run.jobs[job][0].workspace
    assert ws is not None
    return json.loads((ws / "gate-reports" / "demo" / "run.json").read_text())


def test_clean_pull_request_passes_and_reaches_auto_merge(gh: Harness) -> None:
    run = _pull_request(gh, "clean", 1)
    assert run.result("summary") == "success", _explain(run)
    assert run.jobs["summary"][0].outputs["verdict"] == "PASS"
    assert run.result("gate-fork") == "skipped"
    assert run.jobs["gate"][0].runs_on == ["self-hosted", "linux", "x64", "gpu"]
    res = _run_json(run)
    assert res["verdict"] == "PASS" and res["trust"]["changes"] == []
    assert res["ab"] is not None, "live A/B against the base branch's model"
    assert res["trust"]["commit"] == gh.git("rev-parse", "main")
    (merge,) = run.gh("pr", "merge")
    assert merge["token"] == "app-token" and "--admin" not in merge["args"]
    assert merge["args"][2:] == [
        "--auto",
        "--squash",
        "--match-head-commit",
        gh.git("rev-parse", "clean"),
        "1",
    ]
    assert run.gh("api", "--method", "POST"), "the sticky comment"
    assert all(c["persist-credentials"] == "false" for c in run.checkouts)


@pytest.mark.parametrize(
    ("head", "change"),
    [
        ("unsigned", f"{CFG}: signatures.required: True → False"),
        ("lax-policy", f"{CFG}: policy content.latency.shift.tolerance: 0.5 → 9.0"),
    ],
)
def test_a_pull_request_loosening_the_rules_needs_review(
    gh: Harness, head: str, change: str
) -> None:
    """Gated by main's rules (it would pass them), reported, never auto-merged."""
    run = _pull_request(gh, head, 2)
    assert run.jobs["summary"][0].outputs["verdict"] == "NEEDS_REVIEW", _explain(run)
    assert run.result("summary") == "failure"
    assert run.jobs["plan"][0].outputs["trust-changes"] == "1"
    res = _run_json(run)
    assert res["verdict"] == "NEEDS_REVIEW" and res["trust"]["changes"] == [change]
    assert not _automerged(run)
    assert run.gh("pr", "merge", "--disable-auto")
    comment = (run.jobs["summary"][0].workspace / "comment.md").read_text()  # type: ignore[operator]
    assert "edits the gate's rules" in comment and change in comment


def test_a_fork_pull_request_never_reaches_a_self_hosted_runner(gh: Harness) -> None:
    run = _pull_request(gh, "clean", 3, fork=True)
    assert run.result("gate") == "skipped"
    assert run.jobs["gate-fork"][0].runs_on == "ubuntu-latest"
    assert run.jobs["summary"][0].outputs["verdict"] == "PASS", _explain(run)
    assert run.result("auto-merge") == "skipped" and not run.gh_calls


def test_post_merge_records_baselines_and_proposes_them(gh: Harness) -> None:
    before = gh.git("rev-parse", "main")
    after = gh.merge("clean")
    run = gh.run(
        WORKFLOWS / "post-merge.yml",
        "push",
        {"before": before, "after": after},
        sha=after,
        ref="refs/heads/main",
    )
    assert run.result("record") == "success", _explain(run)
    assert run.result("pull-request") == "success", _explain(run)
    assert gh.git("rev-parse", "main") == after, "nothing pushed to main"
    branch = f"gate/baselines-{after[:12]}"
    files = gh.git("diff", "--name-only", after, branch).splitlines()
    assert files and all(f.startswith(".gate/baselines/demo/baseline-") for f in files)
    (create,) = run.gh("pr", "create")
    assert create["token"] == "app-token" and branch in create["args"]
    gh.merge(branch)  # a person reviewed the store change


def _trace(path: Path, every_us: int, count: int) -> None:
    """A Triton trace file (the JSON a 2.51 server writes) of ``count`` demo requests."""
    events: list[dict[str, Any]] = []
    with gzip.open(FIXTURES / "traffic" / "demo.jsonl.gz", "rt") as fh:
        lines = fh.read().splitlines()[1:]
    import numpy as np

    for i, line in enumerate(lines[:count]):
        x = np.frombuffer(base64.b64decode(json.loads(line)["inputs"]["INPUT0"]["b64"]), "<f4")
        t = 1_000_000 + i * every_us * 1000
        events += [
            {"id": i + 1, "timestamps": [{"name": "HTTP_RECV_START", "ns": t}]},
            {"id": i + 1, "model_name": "demo", "model_version": 1},
            {
                "id": i + 1,
                "activity": "TENSOR_QUEUE_INPUT",
                "tensor": {
                    "name": "INPUT0",
                    "data": ",".join(f"{v:.6g}" for v in x),
                    "shape": "1,16",
                    "dtype": "FP32",
                },
            },
        ]
    path.write_text(json.dumps(events))


def test_nightly_refresh_rerecords_and_the_next_night_is_green(gh: Harness, tmp_path: Path) -> None:
    """The refresh pull request carries the traffic and its baselines; once merged, the
    nightly check compares against baselines of the new traffic and passes."""
    _trace(tmp_path / "trace.json", every_us=7000, count=300)
    gh.vars.update(
        {
            "GATE_TRACE_URL": (tmp_path / "trace.json").as_uri(),
            "GATE_TRAFFIC_MODEL": "demo",
            "GATE_TRAFFIC_PATH": "traffic/demo.jsonl.gz",
            "GATE_TRAFFIC_REQUESTS": "250",
        }
    )
    main = gh.git("rev-parse", "main")
    night = gh.run(WORKFLOWS / "nightly.yml", "schedule", {}, sha=main, ref="refs/heads/main")
    assert night.result("gate") == "success", _explain(night)
    assert night.result("trend") == "success", _explain(night)
    assert gh.git("rev-parse", "gate-history")
    assert night.result("rerecord") == "success", _explain(night)
    assert night.result("refresh-pr") == "success", _explain(night)
    (create,) = night.gh("pr", "create")
    head = next(a for a in create["args"] if a.startswith("gate/traffic-refresh-"))
    changed = gh.git("diff", "--name-only", main, head).splitlines()
    assert "traffic/demo.jsonl.gz" in changed
    assert any(f.startswith(".gate/baselines/demo/") for f in changed)
    assert gh.git("rev-parse", "main") == main
    gh.merge(head)
    gh.vars.pop("GATE_TRACE_URL")
    later = gh.run(
        WORKFLOWS / "nightly.yml",
        "schedule",
        {},
        sha=gh.git("rev-parse", "main"),
        ref="refs/heads/main",
    )
    assert later.result("gate") == "success", _explain(later)
    res = _run_json(later)
    assert res["verdict"] == "PASS", _explain(later)
    assert res["baseline"]["traffic_digest"] == res["traffic"]["digest"]
