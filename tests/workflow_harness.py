"""A local runner for the example workflows: jobs in order, steps for real, GitHub stubbed.

What is real: every ``run:`` step of the workflows and of the composite actions they use
(``./github-actions``, ``./gate-base/github-actions``) runs in bash as on a runner
(``bash --noprofile --norc -eo pipefail``), in order, with the ``GITHUB_*`` environment a
runner gives (``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_PATH``, ``GITHUB_STEP_SUMMARY``,
``GITHUB_EVENT_PATH`` holding the event payload, ``RUNNER_TEMP``…), in a workspace checked
out from a real bare git repository standing in for GitHub's copy (``origin``); ``gate``
is this repository's, run for real (servers, signatures, baselines). Expressions
(``if:``, ``env:``, ``with:``, ``runs-on:``, matrices, job and step outputs) are evaluated
by ``workflow_expr``.

What is stubbed, because it cannot exist here:

* the ``gh`` CLI and GitHub's API: a fake ``gh`` on PATH records each call (arguments and
  the token it was given) and answers what the workflows ask (no earlier comment, the
  repository's allowed merge methods);
* GitHub's own actions: ``checkout`` clones ``origin`` (and records whether credentials
  were asked to persist), ``upload-artifact``/``download-artifact`` copy folders,
  ``cache`` and ``setup-python`` record their inputs, ``create-github-app-token`` returns
  a fake token;
* installing the gate with pip (``scripts/install-gate.sh``): the step puts a ``gate`` that
  runs this checkout on PATH instead (the real script is tested on its own, in
  ``tests/test_actions.py``);
* GitHub's permission model: tokens, scopes, branch protection, required reviews and who
  may approve. Branch protection of ``main`` is imitated by a pre-receive hook in
  ``origin`` that refuses any push to it (merges are done by the test, as GitHub would).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml
from trust_repo import GIT_ENV
from workflow_expr import condition, interpolate, to_string

ROOT = Path(__file__).resolve().parent.parent

FAKE_GH = r"""#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_GH_LOG"], "a") as fh:
    fh.write(json.dumps({"args": args, "token": os.environ.get("GH_TOKEN", "")}) + "\n")
if args[:1] == ["api"] and "--jq" in args and "comments" not in args[1]:
    print(os.environ.get("FAKE_GH_ALLOWED", "squash merge"))
elif args[:2] == ["pr", "create"]:
    print("https://github.invalid/owner/repo/pull/99")
"""

PROTECT_MAIN = """#!/bin/sh
while read -r old new ref; do
  if [ "$ref" = "refs/heads/main" ]; then
    echo "refused: main is protected (a pull request is needed)" >&2
    exit 1
  fi
done
"""


@dataclass
class JobRun:
    name: str
    result: str  # success | failure | skipped
    runs_on: Any = None
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""
    summary: str = ""
    workspace: Path | None = None


@dataclass
class WorkflowRun:
    jobs: dict[str, list[JobRun]]
    gh_calls: list[dict[str, Any]]
    checkouts: list[dict[str, Any]]
    caches: list[dict[str, Any]]

    def result(self, job: str) -> str:
        runs = self.jobs[job]
        if all(r.result == "skipped" for r in runs):
            return "skipped"
        return "failure" if any(r.result == "failure" for r in runs) else "success"

    def gh(self, *prefix: str) -> list[dict[str, Any]]:
        return [c for c in self.gh_calls if c["args"][: len(prefix)] == list(prefix)]


class Harness:
    """One fake GitHub repository (``origin``) and the workflows run against it."""

    def __init__(self, tmp: Path, repo: Path, gate_cache: Path) -> None:
        self.tmp = tmp
        self.origin = tmp / "origin.git"
        subprocess.run(
            ["git", "clone", "-q", "--bare", str(repo), str(self.origin)],
            check=True,
            env=self._git_env(),
        )
        hook = self.origin / "hooks" / "pre-receive"
        hook.write_text(PROTECT_MAIN)
        hook.chmod(0o755)
        self.home = tmp / "home"
        self.home.mkdir()
        self.bin = tmp / "fake-bin"
        self.bin.mkdir()
        (self.bin / "gh").write_text(FAKE_GH.replace("/usr/bin/env python3", sys.executable))
        (self.bin / "gh").chmod(0o755)
        gate = self.bin / "gate-bin"
        gate.mkdir()
        (gate / "gate").write_text(
            f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m gate "$@"\n'
        )
        (gate / "gate").chmod(0o755)
        self.gate_cache = gate_cache
        self.artifacts = tmp / "artifacts"
        self.runs = 0
        self.vars: dict[str, str] = {}
        self.secrets: dict[str, str] = {}

    def _git_env(self) -> dict[str, str]:
        return {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}

    def git(self, *args: str) -> str:
        res = subprocess.run(
            ["git", "--git-dir", str(self.origin), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **GIT_ENV},
            check=True,
        )
        return res.stdout.strip()

    def merge(self, head: str, base: str = "main", ref: str | None = None) -> str:
        """GitHub's merge: a merge commit of ``head`` into ``base`` (written to ``ref``, or
        ``base`` itself as the merge button does, past the protection hook)."""
        tree = self.git("merge-tree", "--write-tree", base, head).splitlines()[0]
        parents = ["-p", self.git("rev-parse", base), "-p", self.git("rev-parse", head)]
        sha = self.git("commit-tree", tree, *parents, "-m", f"Merge {head} into {base}")
        self.git("update-ref", ref or f"refs/heads/{base}", sha)
        return sha

    # ----------------------------------------------------------------------------------
    # a workflow
    # ----------------------------------------------------------------------------------

    def run(
        self, workflow: Path, event_name: str, event: dict[str, Any], *, sha: str, ref: str
    ) -> WorkflowRun:
        self.runs += 1
        run_dir = self.tmp / f"run{self.runs}"
        run_dir.mkdir()
        event_path = run_dir / "event.json"
        event_path.write_text(json.dumps(event))
        self.artifacts = run_dir / "artifacts"
        self.artifacts.mkdir()
        wf = yaml.safe_load(workflow.read_text())
        self.gh_log = run_dir / "gh.jsonl"
        self.gh_log.write_text("")
        self.checkouts: list[dict[str, Any]] = []
        self.caches: list[dict[str, Any]] = []
        github = {
            "event": event,
            "event_name": event_name,
            "sha": sha,
            "ref": ref,
            "ref_name": ref.removeprefix("refs/heads/"),
            "repository": "owner/repo",
            "repository_owner": "owner",
            "server_url": "https://github.invalid",
            "run_id": str(self.runs),
            "token": "github-token",
            "base_ref": event.get("pull_request", {}).get("base", {}).get("ref", ""),
            "head_ref": event.get("pull_request", {}).get("head", {}).get("ref", ""),
        }
        self.base_env = {
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_SHA": sha,
            "GITHUB_REF": ref,
            "GITHUB_REF_NAME": github["ref_name"],
            "GITHUB_REPOSITORY": "owner/repo",
            "GITHUB_SERVER_URL": "https://github.invalid",
            "GITHUB_RUN_ID": str(self.runs),
            "GITHUB_BASE_REF": github["base_ref"],
            "GITHUB_HEAD_REF": github["head_ref"],
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
            "HOME": str(self.home),
            "GATE_CACHE_DIR": str(self.gate_cache),
            "FAKE_GH_LOG": str(self.gh_log),
            "GIT_CONFIG_NOSYSTEM": "1",
            "LANG": "C.UTF-8",
        }
        jobs: dict[str, list[JobRun]] = {}
        for name in _order(wf["jobs"]):
            jobs[name] = self._job(name, wf["jobs"][name], github, jobs, run_dir)
        calls = [json.loads(line) for line in self.gh_log.read_text().splitlines()]
        return WorkflowRun(jobs, calls, self.checkouts, self.caches)

    def _needs(self, job: dict[str, Any], jobs: dict[str, list[JobRun]]) -> dict[str, Any]:
        needs = job.get("needs") or []
        needs = [needs] if isinstance(needs, str) else needs
        out = {}
        for n in needs:
            runs = jobs[n]
            res = WorkflowRun(jobs, [], [], []).result(n)
            outputs: dict[str, str] = {}
            for r in runs:
                outputs.update({k: v for k, v in r.outputs.items() if v != ""})
            out[n] = {"result": res, "outputs": outputs}
        return out

    def _job(
        self,
        name: str,
        job: dict[str, Any],
        github: dict[str, Any],
        jobs: dict[str, list[JobRun]],
        run_dir: Path,
    ) -> list[JobRun]:
        needs = self._needs(job, jobs)
        status = "success" if all(n["result"] == "success" for n in needs.values()) else "failure"
        ctx = {
            "github": github,
            "needs": needs,
            "vars": self.vars,
            "secrets": self.secrets,
            "inputs": {},
        }
        if not condition(job.get("if"), ctx, status):
            return [JobRun(name, "skipped")]
        matrix_spec = (job.get("strategy") or {}).get("matrix")
        combos: list[dict[str, Any]] = [{}]
        if matrix_spec is not None:
            m = interpolate(matrix_spec, ctx)
            combos = list(m.get("include") or [])
        out = []
        for i, combo in enumerate(combos):
            jctx = {**ctx, "matrix": combo, "strategy": {}, "runner": {}}
            out.append(self._run_job(f"{name}-{i}", job, jctx, run_dir))
        return out

    def _run_job(
        self, ident: str, job: dict[str, Any], ctx: dict[str, Any], run_dir: Path
    ) -> JobRun:
        top = run_dir / ident
        work, temp = top / "work", top / "temp"
        work.mkdir(parents=True)
        temp.mkdir()
        ctx["runner"] = {"temp": str(temp), "os": "Linux", "arch": "X64"}
        ctx["github"] = {**ctx["github"], "workspace": str(work)}
        jr = JobRun(ident, "success", runs_on=interpolate(job.get("runs-on"), ctx), workspace=work)
        state = {
            "env": {**self.base_env, "GITHUB_WORKSPACE": str(work), "RUNNER_TEMP": str(temp)},
            "path": [str(self.bin)],
            "summary": top / "summary.md",
            "log": [],
        }
        state["summary"].write_text("")
        steps_ctx: dict[str, Any] = {}
        status = "success"
        for step in job.get("steps") or []:
            status = self._step(step, ctx, steps_ctx, state, work, status, action_path=None)
        ctx["steps"] = steps_ctx
        jr.outputs = {
            k: to_string(interpolate(v, ctx)) for k, v in (job.get("outputs") or {}).items()
        }
        jr.result = status
        jr.log = "\n".join(state["log"])
        jr.summary = state["summary"].read_text()
        return jr

    def _step(
        self,
        step: dict[str, Any],
        ctx: dict[str, Any],
        steps_ctx: dict[str, Any],
        state: dict[str, Any],
        work: Path,
        status: str,
        action_path: Path | None,
    ) -> str:
        sctx = {**ctx, "steps": steps_ctx, "env": state["env"]}
        if not condition(step.get("if"), sctx, status):
            if step.get("id"):
                steps_ctx[step["id"]] = {
                    "outputs": {},
                    "outcome": "skipped",
                    "conclusion": "skipped",
                }
            return status
        env = {k: to_string(interpolate(v, sctx)) for k, v in (step.get("env") or {}).items()}
        ok, outputs = True, {}
        if "uses" in step:
            with_ = {
                k: to_string(interpolate(v, sctx)) for k, v in (step.get("with") or {}).items()
            }
            ok, outputs = self._uses(step["uses"], with_, env, ctx, state, work)
        else:
            ok, outputs = self._bash(step["run"], env, state, work, action_path)
        outcome = "success" if ok else "failure"
        if step.get("id"):
            steps_ctx[step["id"]] = {"outputs": outputs, "outcome": outcome, "conclusion": outcome}
        if not ok and not step.get("continue-on-error"):
            return "failure"
        return status

    def _bash(
        self,
        script: str,
        env: dict[str, str],
        state: dict[str, Any],
        work: Path,
        action_path: Path | None,
    ) -> tuple[bool, dict[str, str]]:
        tmp = Path(state["env"]["RUNNER_TEMP"])
        n = len(list(tmp.glob("step-*.script"))) + 1
        files = {k: tmp / f"step-{n}.{k}" for k in ("script", "output", "env", "path")}
        for f in files.values():
            f.write_text("")
        files["script"].write_text(script)
        full = {
            **state["env"],
            **env,
            "GITHUB_OUTPUT": str(files["output"]),
            "GITHUB_ENV": str(files["env"]),
            "GITHUB_PATH": str(files["path"]),
            "GITHUB_STEP_SUMMARY": str(state["summary"]),
            "PATH": os.pathsep.join([*state["path"], os.environ["PATH"]]),
        }
        if action_path is not None:
            full["GITHUB_ACTION_PATH"] = str(action_path)
        if "scripts/install-gate.sh" in script:  # pip install stands in (module doc)
            files["path"].write_text(str(self.bin / "gate-bin") + "\n")
            files["output"].write_text("version=harness\n")
            res = subprocess.CompletedProcess([], 0, "installed (harness)", "")
        else:
            res = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(files["script"])],
                cwd=work,
                env=full,
                capture_output=True,
                text=True,
                timeout=900,
            )
        state["log"].append(f"$ {script.strip()}\n{res.stdout}{res.stderr}[exit {res.returncode}]")
        state["path"] = [p for p in files["path"].read_text().splitlines() if p] + state["path"]
        state["env"].update(_read_kv(files["env"]))
        return res.returncode == 0, _read_kv(files["output"])

    # ----------------------------------------------------------------------------------
    # uses:
    # ----------------------------------------------------------------------------------

    def _uses(
        self,
        uses: str,
        with_: dict[str, str],
        env: dict[str, str],
        ctx: dict[str, Any],
        state: dict[str, Any],
        work: Path,
    ) -> tuple[bool, dict[str, str]]:
        if uses.startswith("./"):
            return self._composite(work / uses, with_, env, ctx, state, work)
        name = uses.split("@")[0]
        stub = {
            "actions/checkout": self._checkout,
            "actions/upload-artifact": self._upload,
            "actions/download-artifact": self._download,
            "actions/cache": self._cache,
            "actions/setup-python": self._cache,
            "actions/create-github-app-token": self._app_token,
        }.get(name)
        if stub is None:
            raise AssertionError(f"the harness has no stand-in for {uses}")
        if name in ("actions/cache", "actions/setup-python"):
            self.caches.append({"uses": name, **with_})
        try:
            return True, stub(with_, ctx, work)
        except subprocess.CalledProcessError as e:
            state["log"].append(f"{uses}: {e.stderr}")
            return False, {}

    def _composite(
        self,
        path: Path,
        with_: dict[str, str],
        env: dict[str, str],
        ctx: dict[str, Any],
        state: dict[str, Any],
        work: Path,
    ) -> tuple[bool, dict[str, str]]:
        action = yaml.safe_load((path / "action.yml").read_text())
        inputs = {
            k: with_.get(k, to_string(spec.get("default", "")))
            for k, spec in (action.get("inputs") or {}).items()
        }
        unknown = set(with_) - set(inputs)
        assert not unknown, f"{path}: unknown inputs {unknown}"
        actx = {**ctx, "inputs": inputs, "github": {**ctx["github"], "action_path": str(path)}}
        steps_ctx: dict[str, Any] = {}
        status = "success"
        saved = dict(state["env"])
        state["env"].update(env)
        for step in action["runs"]["steps"]:
            status = self._step(step, actx, steps_ctx, state, work, status, action_path=path)
        state["env"] = {**saved, **{k: v for k, v in state["env"].items() if k not in env}}
        actx["steps"] = steps_ctx
        outputs = {
            k: to_string(interpolate(spec["value"], actx))
            for k, spec in (action.get("outputs") or {}).items()
        }
        return status == "success", outputs

    def _checkout(self, w: dict[str, str], ctx: dict[str, Any], work: Path) -> dict[str, str]:
        dest = work / w.get("path", "")
        self.checkouts.append(
            {
                "ref": w.get("ref", ""),
                "path": w.get("path", ""),
                "persist-credentials": w.get("persist-credentials", "true"),
            }
        )
        if dest.exists():
            shutil.rmtree(dest)
        env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(self.home)}
        subprocess.run(
            ["git", "clone", "-q", "--no-checkout", str(self.origin), str(dest)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        ref = w.get("ref") or ctx["github"]["sha"]
        subprocess.run(
            ["git", "-C", str(dest), "fetch", "-q", "origin", "+refs/*:refs/remotes/origin/all/*"],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        target = ref if len(ref) == 40 else f"origin/{ref}"
        subprocess.run(
            ["git", "-C", str(dest), "checkout", "-q", "--detach", target],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        return {}

    def _upload(self, w: dict[str, str], ctx: dict[str, Any], work: Path) -> dict[str, str]:
        src = work / w["path"]
        dest = self.artifacts / w["name"]
        assert not dest.exists(), f"artifact {w['name']} uploaded twice"
        if not src.exists():
            assert w.get("if-no-files-found", "warn") in ("warn", "ignore"), f"{src} missing"
            return {}
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            dest.mkdir(parents=True)
            shutil.copy(src, dest / src.name)
        return {}

    def _download(self, w: dict[str, str], ctx: dict[str, Any], work: Path) -> dict[str, str]:
        dest = Path(w.get("path") or ".")
        dest = dest if dest.is_absolute() else work / dest
        names = sorted(p.name for p in self.artifacts.iterdir())
        if w.get("name"):
            shutil.copytree(self.artifacts / w["name"], dest, dirs_exist_ok=True)
            return {}
        for n in names:
            if fnmatch(n, w.get("pattern", "*")):
                target = dest if w.get("merge-multiple") == "true" else dest / n
                shutil.copytree(self.artifacts / n, target, dirs_exist_ok=True)
        return {}

    def _cache(self, w: dict[str, str], ctx: dict[str, Any], work: Path) -> dict[str, str]:
        return {}

    def _app_token(self, w: dict[str, str], ctx: dict[str, Any], work: Path) -> dict[str, str]:
        assert w.get("app-id") and w.get("private-key"), "create-github-app-token needs the App"
        return {"token": "app-token", "app-slug": "gate-app"}


def _read_kv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[key] = "\n".join(lines[i + 1 : j])
            i = j + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        i += 1
    return out


def _order(jobs: dict[str, Any]) -> list[str]:
    done: list[str] = []
    while len(done) < len(jobs):
        for name, job in jobs.items():
            needs = job.get("needs") or []
            needs = [needs] if isinstance(needs, str) else needs
            if name not in done and all(n in done for n in needs):
                done.append(name)
    return done
