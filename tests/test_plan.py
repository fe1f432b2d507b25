"""``gate plan`` against real temporary git repositories (real git, real merge bases)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, gate_cmd

from gate.app.plan import make_plan, matches
from gate.errors import ConfigError

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout


def write(repo: Path, rel: str, text: str = "x\n") -> None:
    p = repo / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def gate_yaml(model: str, *, extra: str = "") -> str:
    return (
        "version: 1\n"
        f"model: {{name: {model}, repository: ../../repo}}\n"
        f"traffic: {{path: ../../traffic/{model}.jsonl.gz}}\n"
        "policy: ../../policies/default.yaml\n"
        "baseline: {store: ../../.gate/baselines}\n"
        "reports: {dir: ../../reports}\n" + extra
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Three models on main: resnet and bert with their own configs, and a broken-out
    ensemble whose config watches a shared folder through gate-plan.yaml."""
    r = tmp_path / "repo-root"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    for m in ("resnet", "bert", "ens"):
        write(r, f"models/{m}/gate.yaml", gate_yaml(m))
        write(r, f"repo/{m}/config.pbtxt", f"name: '{m}'\n")
        write(r, f"repo/{m}/1/model.py", "# v1\n")
        write(r, f"traffic/{m}.jsonl.gz", "t\n")
    write(r, "policies/default.yaml", "version: 1\n")
    write(r, "policies/strict.yaml", "version: 1\n")
    write(r, "shared/preprocess.py", "# v1\n")
    write(r, "README.md", "hello\n")
    write(r, ".gitignore", "/venv/\n")
    write(r, "venv/lib/gate.yaml", "ignored: true\n")  # git-ignored: never discovered
    write(
        r,
        "gate-plan.yaml",
        "version: 1\n"
        "configs:\n"
        "  - models/*/gate.yaml\n"
        "  - path: models/ens/gate.yaml\n"
        "    watch: [shared/**]\n"
        "always: [ci/image.txt]\n",
    )
    git(r, "add", "-A")
    git(r, "commit", "-qm", "main")
    git(r, "checkout", "-qb", "feature")
    return r


def plan(repo: Path, ref: str = "main") -> dict[str, list[str]]:
    p = make_plan(repo, ref=ref)
    return {e["model"]: e["reasons"] for e in p.include}


def commit(repo: Path, msg: str = "change") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", msg)


def test_nothing_changed(repo: Path) -> None:
    assert plan(repo) == {}
    write(repo, "README.md", "docs only\n")
    commit(repo)
    assert plan(repo) == {}


def test_model_directory_change(repo: Path) -> None:
    write(repo, "repo/resnet/1/model.py", "# v2\n")
    commit(repo)
    assert plan(repo) == {"resnet": ["model"]}


def test_traffic_policy_and_config_changes(repo: Path) -> None:
    write(repo, "traffic/bert.jsonl.gz", "new\n")
    write(repo, "policies/default.yaml", "version: 1\nalpha: 0.01\n")
    commit(repo)
    got = plan(repo)
    assert got["bert"] == ["traffic.path", "policy"]
    assert got["resnet"] == ["policy"] and got["ens"] == ["policy"]
    git(repo, "reset", "-q", "--hard", "main")
    write(repo, "models/bert/gate.yaml", gate_yaml("bert", extra="measure: {runs: 2}\n"))
    commit(repo)
    assert plan(repo) == {"bert": ["config"]}


def test_other_path_fields_are_inputs(repo: Path) -> None:
    """A path anywhere in the config (here the tritonserver binary) counts, so sections
    added later (eval sets, signatures) are covered without changing gate plan."""
    write(repo, "tools/tritonserver", "#!/bin/sh\n")
    write(
        repo,
        "models/bert/gate.yaml",
        gate_yaml(
            "bert", extra="launcher: {kind: local, tritonserver: ../../tools/tritonserver}\n"
        ),
    )
    commit(repo, "add tool")
    git(repo, "branch", "-f", "main", "HEAD")
    write(repo, "tools/tritonserver", "#!/bin/sh\necho 2\n")
    commit(repo)
    assert plan(repo) == {"bert": ["launcher.tritonserver"]}


def test_outputs_are_not_inputs(repo: Path) -> None:
    write(repo, ".gate/baselines/resnet/b.json.gz", "b\n")
    write(repo, "reports/run.json", "{}\n")
    commit(repo)
    assert plan(repo) == {}


def test_watch_always_and_plan_file(repo: Path) -> None:
    write(repo, "shared/preprocess.py", "# v2\n")
    commit(repo)
    assert plan(repo) == {"ens": ["watch"]}
    write(repo, "ci/image.txt", "tritonserver:24.10\n")
    commit(repo)
    assert plan(repo) == {"resnet": ["always"], "bert": ["always"], "ens": ["watch", "always"]}


def test_merge_base_not_tip_of_main(repo: Path) -> None:
    """Work merged to main after the branch point is not this branch's change."""
    git(repo, "checkout", "-q", "main")
    write(repo, "repo/bert/1/model.py", "# v2 on main\n")
    commit(repo, "main moves on")
    git(repo, "checkout", "-q", "feature")
    write(repo, "repo/resnet/1/model.py", "# v2\n")
    commit(repo)
    assert plan(repo) == {"resnet": ["model"]}


def test_uncommitted_and_untracked_changes_count(repo: Path) -> None:
    write(repo, "repo/bert/1/model.py", "# edited, not committed\n")
    write(repo, "repo/resnet/1/weights.bin", "new, untracked\n")
    assert plan(repo) == {"bert": ["model"], "resnet": ["model"]}


def test_renamed_out_of_a_model_folder(repo: Path) -> None:
    git(repo, "mv", "repo/resnet/1/model.py", "shared/old_model.py")
    commit(repo)
    assert plan(repo) == {"resnet": ["model"], "ens": ["watch"]}


def test_new_and_deleted_configs(repo: Path) -> None:
    write(repo, "models/vit/gate.yaml", gate_yaml("vit"))
    write(repo, "repo/vit/config.pbtxt", "name: 'vit'\n")
    git(repo, "rm", "-rq", "models/bert", "repo/bert")
    commit(repo)
    assert plan(repo) == {"vit": ["config", "model"]}


def test_default_discovery_without_plan_file(repo: Path) -> None:
    git(repo, "rm", "-q", "gate-plan.yaml")
    commit(repo)
    git(repo, "branch", "-f", "main", "HEAD")
    write(repo, "shared/preprocess.py", "# v2\n")  # no watch list without the plan file
    write(repo, "repo/ens/1/model.py", "# v2\n")
    commit(repo)
    p = make_plan(repo, ref="main")
    assert [(e["model"], e["config"]) for e in p.include] == [("ens", "models/ens/gate.yaml")]
    assert make_plan(repo, ref=None, everything=True).targets == 3  # venv/ is ignored


def test_broken_config_fails_closed(repo: Path) -> None:
    write(repo, "models/bert/gate.yaml", "version: 1\nmodel: {name: bert}\n")
    with pytest.raises(ConfigError, match=r"models/bert/gate.yaml.*model.repository"):
        make_plan(repo, ref="main")


def test_unknown_ref_and_shallow_history_are_exit_2(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such commit"):
        make_plan(repo, ref="origin/nope")
    with pytest.raises(ConfigError, match="--changed-since REF or --all"):
        make_plan(repo, ref=None)
    with pytest.raises(ConfigError, match="not inside a git repository"):
        make_plan(tmp_path, ref="main")
    # an orphan branch has no merge base, as in a shallow clone
    git(repo, "checkout", "-q", "--orphan", "lonely")
    commit(repo, "orphan")
    with pytest.raises(ConfigError, match="no common ancestor") as info:
        make_plan(repo, ref="main")
    assert "fetch-depth: 0" in info.value.diagnostics()


def test_duplicate_model_names_get_distinct_ids(repo: Path) -> None:
    write(repo, "models/resnet-gpu/gate.yaml", gate_yaml("resnet", extra="measure: {runs: 2}\n"))
    commit(repo)
    p = make_plan(repo, ref=None, everything=True)
    ids = [e["id"] for e in p.include]
    assert len(ids) == len(set(ids)) == 4
    assert all(set(i) <= set("abcdefghijklmnopqrstuvwxyz0123456789._-") for i in ids)


def test_globs() -> None:
    assert matches("**/gate.yaml", "gate.yaml")
    assert matches("**/gate.yaml", "a/b/gate.yaml")
    assert matches("models/*/gate.yaml", "models/x/gate.yaml")
    assert not matches("models/*/gate.yaml", "models/x/y/gate.yaml")
    assert matches("shared/**", "shared/a/b.py")
    assert matches("shared", "shared/a/b.py")  # a folder covers what is below it
    assert not matches("shared", "shared2/a.py")
    assert matches(".github/workflows/*.yml", ".github/workflows/x.yml")


def test_cli_prints_matrix_and_github_output(repo: Path, tmp_path: Path) -> None:
    write(repo, "repo/bert/1/model.py", "# v2\n")
    commit(repo)
    out_file = tmp_path / "github_output"
    res = subprocess.run(
        gate_cmd("plan", "--changed-since", "main", "--root", str(repo), "--github-output"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "GITHUB_OUTPUT": str(out_file)},
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    matrix = json.loads(res.stdout)
    assert matrix == {
        "include": [
            {
                "model": "bert",
                "config": "models/bert/gate.yaml",
                "id": "bert",
                "reasons": ["model"],
                "store": ".gate/baselines",
            }
        ]
    }
    assert "1 of 3 model(s) changed since main" in res.stderr
    lines = out_file.read_text().splitlines()
    assert lines[0] == "matrix=" + res.stdout.strip()
    assert lines[1] == "count=1"
    bad = subprocess.run(
        gate_cmd("plan", "--root", str(repo)), capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert bad.returncode == 2 and "--changed-since REF or --all" in bad.stderr


def test_string_typed_paths_are_inputs_too(tmp_path: Path) -> None:
    """A path field typed as a plain string (as a new section may have: an eval set) is
    still found: any string in the config naming an existing file or folder counts."""
    from gate.app.plan import _existing_paths

    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "set.jsonl").write_text("{}\n")
    cfg = tmp_path / "gate.yaml"
    cfg.write_text(
        "accuracy:\n  eval_set: evals/set.jsonl\n  metric: top1\n"
        "model: {name: evals}\nnotes: [nothing/here, evals]\n"
    )
    found = dict(_existing_paths(cfg))
    assert found["accuracy.eval_set"] == tmp_path / "evals" / "set.jsonl"
    assert found["notes[1]"] == tmp_path / "evals"
    assert "accuracy.metric" not in found and "notes[0]" not in found


def test_runner_labels_per_model(repo: Path) -> None:
    write(
        repo,
        "gate-plan.yaml",
        "version: 1\n"
        "runner: [self-hosted, gpu]\n"
        "configs:\n"
        "  - models/*/gate.yaml\n"
        "  - path: models/bert/gate.yaml\n"
        "    runner: [self-hosted, gpu, a100]\n",
    )
    commit(repo)
    got = {e["model"]: e["runner"] for e in make_plan(repo, ref=None, everything=True).include}
    assert got == {
        "bert": ["self-hosted", "gpu", "a100"],
        "ens": ["self-hosted", "gpu"],
        "resnet": ["self-hosted", "gpu"],
    }
