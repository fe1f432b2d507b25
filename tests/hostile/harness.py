"""Runs the hostile corpus: one case = a fresh workspace, a few edits, one real gate process.

A case (one line of ``cases.jsonl``, written by ``generate.py``) names its ``input`` (a list
of edits to a known-good workspace), the ``command``, the ``exit`` code it must end with and
``words`` the one error line must contain. ``run_case`` builds the workspace from a template,
applies the edits, runs gate under ``audited.py`` (a Python audit hook logging every file it
touches) while watching its process tree, and reports every way the run misbehaved:

* ``traceback``: a Python traceback in its output;
* ``data lost``: the store, or anything outside the workspace, changed;
* ``leaked``: a planted secret or the decoy file's contents in its output or in a file it
  wrote; or it read or wrote a file outside the workspace and the store that the command
  line did not name;
* ``other``: a wrong exit code, not exactly one line on stderr, a missing word, a server or
  perf_analyzer started, a process left behind.

A case with none of these is "exit 2 clean" (or clean with its expected exit code).

Workspace layout (``{ws}`` in a case): ``gate.yaml``, ``policy.yaml`` (memory and throughput
off, so a synthetic baseline suffices), ``repo/demo`` (the signed fixture model), ``key.pub``,
``traffic.jsonl``, ``eval.jsonl`` (200 labelled samples), ``store/`` (one valid baseline of
``demo`` recorded on this traffic), ``run.json`` (a sealed PASS run), ``run-blocked.json``,
``tools/tritonserver`` (a sentinel: it records that it ran and fails). ``{outside}`` is a
folder beside the workspace holding ``secret.txt`` (the decoy) that no case may read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = ROOT / "fixtures"

#: what no output and no written file may ever contain
DECOY = "DECOY-contents-of-a-private-file-7f3a"
SECRET_URL = "https://hooks.slack.com/services/T0000/B0000/PLANTEDslackSECRET99"
SECRET_CRED_URL = "https://gateuser:PLANTEDpassw0rd@store.example.com/bucket"
#: a store URL with credentials that needs no network (fsspec's in-memory filesystem)
SECRET_STORE_URL = "memory://gateuser:PLANTEDpassw0rd@store.example.com/bucket"
SECRET_TOKEN = "ghp_PLANTEDtoken0123456789abcdefghijABCD"
ENV_SECRETS = {
    "GATE_SLACK_WEBHOOK": "https://hooks.slack.com/services/T1/B1/PLANTEDenvWEBHOOK77",
    "DEPLOY_API_TOKEN": "PLANTED-env-token-5e6f7a8b",
}
PLANTED = (
    "PLANTEDslackSECRET99",
    "PLANTEDpassw0rd",
    "PLANTEDtoken0123456789",
    "PLANTEDenvWEBHOOK77",
    "PLANTED-env-token",
    DECOY,
)
SERVER_TOOLS = ("tritonserver", "perf_analyzer", "triton_python_backend_stub", "docker", "dockerd")

GATE_YAML = """\
version: 1
model:
  name: demo
  repository: repo
launcher:
  kind: local
  tritonserver: tools/tritonserver
traffic:
  path: traffic.jsonl
  warmup_requests: 5
baseline:
  store: store
policy: policy.yaml
signatures:
  required: false
  rules:
    - method: cosign-key
      key: key.pub
reports:
  dir: reports
"""
POLICY_YAML = "version: 1\nmemory: {enabled: false}\nthroughput: {enabled: false}\n"
SENTINEL = '#!/bin/sh\necho "$0 $*" >> "$(dirname "$0")/../SERVER_STARTED"\nexit 1\n'


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    input: list[list[Any]]
    command: list[str]
    exit: int
    words: list[str]
    env: dict[str, str] = field(default_factory=dict)
    #: files outside the workspace the case's own config names: reading them is allowed,
    #: echoing their contents is not
    reads: list[str] = field(default_factory=list)

    @classmethod
    def from_line(cls, line: str) -> Case:
        return cls(**json.loads(line))


def load_cases(path: Path = HERE / "cases.jsonl") -> list[Case]:
    return [Case.from_line(x) for x in path.read_text().splitlines() if x.strip()]


# --------------------------------------------------------------------------------------
# The template workspace
# --------------------------------------------------------------------------------------


def eval_lines(n: int = 200, mutate: dict[str, Any] | None = None) -> list[str]:
    """A gate-eval/1 JSONL set of ``n`` labelled samples (``mutate``: one sample's field)."""
    rng = np.random.default_rng(5)
    head = {
        "format": "gate-eval/1",
        "model": "demo",
        "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [16]}],
    }
    lines = [json.dumps(head)]
    for i in range(n):
        sample: dict[str, Any] = {
            "inputs": {"INPUT0": {"data": [round(float(x), 4) for x in rng.normal(size=16)]}},
            "label": int(i % 4),
        }
        if mutate and mutate.get("index") == i:
            if mutate["field"] == "input":
                sample["inputs"]["INPUT0"]["data"][0] = mutate["value"]
            elif mutate["field"] == "raw":
                lines.append(mutate["value"])
                continue
            else:
                sample.pop("label")
                sample[mutate["field"]] = mutate["value"]
        lines.append(json.dumps(sample))
    return lines


def build_template(dest: Path) -> None:
    """The known-good workspace every case starts from (built once per session)."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    from lifecycle_helpers import ENV, baseline, run_result

    from gate.baselines.store import save_baseline
    from gate.inputs.traffic import read_traffic
    from gate.result import Verdict

    ws = dest / "ws"
    (ws / "tools").mkdir(parents=True)
    (ws / "tmp").mkdir()
    (ws / "gate.yaml").write_text(GATE_YAML)
    (ws / "policy.yaml").write_text(POLICY_YAML)
    shutil.copytree(FIXTURES / "models" / "v1", ws / "repo")
    shutil.copy(FIXTURES / "keys" / "TEST-ONLY-cosign.pub", ws / "key.pub")
    shutil.copy(FIXTURES / "traffic" / "demo-small.jsonl", ws / "traffic.jsonl")
    (ws / "eval.jsonl").write_text("\n".join(eval_lines()) + "\n")
    tool = ws / "tools" / "tritonserver"
    tool.write_text(SENTINEL)
    tool.chmod(0o755)
    digest = read_traffic(ws / "traffic.jsonl").digest()
    b = baseline("template").model_copy(update={"traffic_digest": digest})
    save_baseline(ws / "store", b)
    (ws / "run.json").write_text(run_result().to_json())
    (ws / "run-blocked.json").write_text(run_result(Verdict.BLOCKED).to_json())
    (ws / "envkey").write_text(_envkey(ENV))
    outside = dest / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(DECOY + "\n")
    (outside / "baseline-0.json.gz").write_bytes(gzip.compress(DECOY.encode()))


def _envkey(env: dict[str, str]) -> str:
    from gate.baselines.store import env_key

    return env_key(env)


# --------------------------------------------------------------------------------------
# Edits
# --------------------------------------------------------------------------------------


@dataclass
class Places:
    root: Path  # the case's sandbox: ws/ and outside/ live here
    ws: Path  # the workspace as the case names it (maybe through a symlink and '..')
    real_ws: Path
    envkey: str

    def sub(self, text: str) -> str:
        for key, value in (
            ("{ws}", str(self.ws)),
            ("{cfg}", str(self.ws / "gate.yaml")),
            ("{store}", str(self.ws / "store")),
            ("{run}", str(self.ws / "run.json")),
            ("{outside}", str(self.root / "outside")),
            ("{envkey}", self.envkey),
            ("{secret_url}", SECRET_URL),
            ("{cred_url}", SECRET_CRED_URL),
            ("{store_url}", SECRET_STORE_URL),
            ("{token}", SECRET_TOKEN),
        ):
            text = text.replace(key, value)
        return text

    def value(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.sub(v)
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        return v

    def path(self, rel: str) -> Path:
        p = Path(self.sub(rel))
        return p if p.is_absolute() else self.real_ws / p


def _set(doc: Any, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = doc
    for part in parents:
        key: Any = int(part) if isinstance(node, list) else part
        if isinstance(node, dict) and key not in node:
            node[key] = {}
        node = node[key]
    if isinstance(node, list):
        node[int(last)] = value
    elif value == "<delete>":
        node.pop(last, None)
    else:
        node[last] = value


def _npz(path: Path, arrays: dict[str, dict[str, Any]]) -> None:
    out: dict[str, Any] = {}
    rng = np.random.default_rng(3)
    for name, spec in arrays.items():
        shape = tuple(spec.get("shape", ()))
        dtype = spec.get("dtype", "float32")
        if "value" in spec:
            a = (
                np.full(shape, spec["value"], dtype=dtype)
                if shape
                else np.array(spec["value"], dtype=dtype)
            )
        else:
            a = (rng.normal(size=shape) * 3).astype(dtype)
        if "set" in spec:
            idx, v = spec["set"]
            a.reshape(-1)[idx] = v
        out[name] = a
    with open(path, "wb") as fh:
        np.savez(fh, **out)


def _plant_baseline(path: Path, overrides: dict[str, Any]) -> None:
    """A baseline file whose payload differs from the template's, checksum recomputed (what
    a person with write access to the store can do)."""
    doc = json.loads(gzip.decompress(next(path.parent.glob("baseline-*.json.gz")).read_bytes()))
    payload = doc["payload"]
    for k, v in overrides.items():
        _set(payload, k, v)
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    doc["sha256"] = hashlib.sha256(body.encode()).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))


def _reseal(path: Path, key: str | None) -> None:
    """Recompute a run.json's integrity after edits, as anyone without the key can."""
    try:
        from gate.result import RunResult, seal
    except ImportError:  # a gate from before run.json had an integrity block
        return
    r = RunResult.model_validate_json(path.read_bytes())
    r.integrity = seal(r, key.encode() if key else None)
    r._sealable = False
    path.write_text(r.to_json())


def apply(op: list[Any], at: Places) -> None:
    kind, *args = op
    args = [at.value(a) for a in args]
    if kind == "yaml":
        p = at.path(args[0])
        doc = yaml.safe_load(p.read_text()) or {}
        _set(doc, args[1], args[2])
        p.write_text(yaml.safe_dump(doc, sort_keys=False))
    elif kind == "json":
        p = at.path(args[0])
        doc = json.loads(p.read_text())
        _set(doc, args[1], args[2])
        p.write_text(json.dumps(doc, indent=2))
    elif kind == "write":
        at.path(args[0]).parent.mkdir(parents=True, exist_ok=True)
        at.path(args[0]).write_text(textwrap.dedent(args[1]))
    elif kind == "fill":  # head + unit * count + tail: large inputs without a large corpus
        at.path(args[0]).write_text(args[1] + args[2] * int(args[3]) + args[4])
    elif kind == "append":
        with at.path(args[0]).open("a") as fh:
            fh.write(textwrap.dedent(args[1]))
    elif kind == "bytes":
        at.path(args[0]).parent.mkdir(parents=True, exist_ok=True)
        at.path(args[0]).write_bytes(bytes.fromhex(args[1]))
    elif kind == "truncate":
        p = at.path(args[0])
        p.write_bytes(p.read_bytes()[: int(args[1])])
    elif kind == "rm":
        p = at.path(args[0])
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    elif kind == "mkdir":
        at.path(args[0]).mkdir(parents=True, exist_ok=True)
    elif kind == "symlink":
        at.path(args[0]).parent.mkdir(parents=True, exist_ok=True)
        at.path(args[0]).symlink_to(args[1])
    elif kind == "fifo":
        os.mkfifo(at.path(args[0]))
    elif kind == "chmod":
        at.path(args[0]).chmod(int(args[1], 8))
    elif kind == "eval_jsonl":
        at.path(args[0]).write_text("\n".join(eval_lines(**args[1])) + "\n")
    elif kind == "npz":
        _npz(at.path(args[0]), args[1])
    elif kind == "baseline":
        _plant_baseline(at.path(args[0]), args[1])
    elif kind == "reseal":
        _reseal(at.path(args[0]), args[1] if len(args) > 1 else None)
    elif kind == "copy":
        shutil.copy(at.path(args[0]), at.path(args[1]))
    else:
        raise ValueError(f"unknown edit {kind!r}")


# --------------------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------------------


def _tree(root: Path, skip: Path | None = None) -> dict[str, str]:
    """Every entry under ``root`` (not following symlinks): kind, mode and content hash."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if skip is not None and (d == skip or skip in d.parents):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = d / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if p.is_symlink():
                out[rel] = f"link {os.readlink(p)}"
            elif p.is_file():
                out[rel] = f"{st.st_mode:o} {hashlib.sha256(p.read_bytes()).hexdigest()}"
            elif p.is_dir():
                out[rel] = f"dir {st.st_mode:o}"
            else:
                out[rel] = f"other {st.st_mode:o}"
    return out


@dataclass
class Outcome:
    case: Case
    returncode: int
    stdout: str
    stderr: str
    traceback: list[str] = field(default_factory=list)
    data_lost: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    @property
    def category(self) -> str:
        for name in ("traceback", "data_lost", "leaked", "other"):
            if getattr(self, name):
                return name
        return "clean"

    def explain(self) -> str:
        problems = self.traceback + self.data_lost + self.leaked + self.other
        return f"{self.case.id}: " + "; ".join(problems) + f"\n--- stderr:\n{self.stderr[-2000:]}"


def _resolve(cwd: str, p: str) -> Path:
    q = Path(p)
    q = q if q.is_absolute() else Path(cwd) / q
    try:
        return q.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(q))


def _audit(log: Path, places: Places, named: list[Path]) -> list[str]:
    """Files touched outside the workspace (and the store inside it), unless named on the
    command line; writes anywhere but the workspace and the gate cache."""
    root = places.root.resolve()
    ws = places.real_ws.resolve()
    cache = Path(os.environ.get("GATE_CACHE_DIR") or Path.home() / ".cache" / "triton-gate")
    home = Path.home()
    libs = (home / ".cache" / "matplotlib", home / ".config" / "matplotlib")  # font caches
    allowed_writes = (ws, cache.resolve(), Path("/dev").resolve(), *libs)
    found: list[str] = []
    if not log.exists():
        return ["the audit log is missing"]
    for line in log.read_text().splitlines():
        cwd, kind, *rest = json.loads(line)
        if kind == "exec":
            name = Path(rest[0]).name
            if name in SERVER_TOOLS:
                found.append(f"started {name}")
            continue
        for p in rest[:2]:
            if not isinstance(p, str):
                continue
            real = _resolve(cwd, p)
            writes = kind not in ("read", "os.listdir", "os.scandir")
            if any(real == n or n in real.parents for n in named):
                continue
            in_root = real == root or root in real.parents
            in_ws = real == ws or ws in real.parents
            if in_root and not in_ws:
                found.append(f"{kind} {real} (outside the workspace)")
            elif writes and not any(real == a or a in real.parents for a in allowed_writes):
                found.append(f"{kind} {real} (a write outside the workspace)")
    return sorted(set(found))


def case_env(extra: dict[str, str], tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "GATE_"))}
    if os.environ.get("GATE_CACHE_DIR"):
        env["GATE_CACHE_DIR"] = os.environ["GATE_CACHE_DIR"]
    env.update(ENV_SECRETS)
    env.update(PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(tmp), NO_COLOR="1")
    env.update(extra)
    return env


def prepare(case: Case, template: Path, sandbox: Path, layout: str) -> Places:
    """A fresh copy of the template in ``sandbox``; ``layout`` 'aliased' reaches the
    workspace through a symlink and a '..' (``sandbox/alias/sub/../ws``)."""
    shutil.copytree(template, sandbox, symlinks=True)
    real_ws = sandbox / "ws"
    ws = real_ws
    if layout == "aliased":
        (sandbox / "sub").mkdir()
        (sandbox / "alias").symlink_to(sandbox)
        ws = sandbox / "alias" / "sub" / ".." / "ws"
    places = Places(sandbox, ws, real_ws, (real_ws / "envkey").read_text().strip())
    for op in case.input:
        apply(op, places)
    return places


def run_case(case: Case, template: Path, sandbox: Path, layout: str = "plain") -> Outcome:
    from conftest import alive, watch_children

    places = prepare(case, template, sandbox, layout)
    store = places.real_ws / "store"
    before_store = _tree(store)
    before_ws = _tree(places.real_ws)
    before_out = _tree(sandbox, skip=places.real_ws)
    log = sandbox / "audit.log"
    args = [places.sub(a) for a in case.command]
    named = [_resolve(str(places.real_ws), a) for a in args if "/" in a or Path(a).suffix]
    named += [_resolve(str(places.real_ws), places.sub(r)) for r in case.reads]
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "audited.py"), str(log), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        cwd=places.ws,
        env=case_env({k: places.sub(v) for k, v in case.env.items()}, places.real_ws / "tmp"),
    )
    names: dict[int, str] = {}
    try:
        kids = watch_children(proc, 120, names=names)  # type: ignore[arg-type]
        out, err = proc.communicate(timeout=30)
    except (AssertionError, subprocess.TimeoutExpired):
        proc.kill()
        out, err = proc.communicate()
        kids = set()
        err += "\n[hostile harness: gate did not finish in time]"
    res = Outcome(case, proc.returncode, out, err)
    text = out + err
    if "Traceback (most recent call last)" in text:
        res.traceback.append("a traceback")
    if _tree(store) != before_store:
        res.data_lost.append("the store changed")
    after_out = _tree(sandbox, skip=places.real_ws)
    after_out.pop("audit.log", None)
    before_out.pop("audit.log", None)
    if after_out != before_out:
        changed = sorted(set(after_out.items()) ^ set(before_out.items()))
        res.data_lost.append(f"outside the workspace changed: {changed[:3]}")
    for secret in PLANTED:
        if secret in text:
            res.leaked.append(f"planted secret {secret[:16]}… in the output")
    after_ws = _tree(places.real_ws)
    for rel, sig in after_ws.items():
        if before_ws.get(rel) != sig and not sig.startswith(("dir", "link", "other")):
            body = (places.real_ws / rel).read_bytes()
            for secret in PLANTED:
                if secret.encode() in body:
                    res.leaked.append(f"planted secret {secret[:16]}… written to {rel}")
    res.leaked += _audit(log, places, named)
    if proc.returncode != case.exit:
        res.other.append(f"exit {proc.returncode}, expected {case.exit}")
    # the one error line; "the run result was kept in …" says where an unwritable run went
    lines = [x for x in err.splitlines() if x.strip() and "run result was kept in" not in x]
    if case.exit == 2 and len(lines) != 1:
        res.other.append(f"{len(lines)} lines on stderr, expected 1")
    for w in case.words:
        if w not in err:
            res.other.append(f"the message lacks {w!r}")
    if (places.real_ws / "SERVER_STARTED").exists():
        res.other.append("the (sentinel) tritonserver was started")
    started = sorted({n for n in names.values() if n in SERVER_TOOLS})
    if started:
        res.other.append(f"started {', '.join(started)}")
    left = alive(kids)
    if left:
        res.other.append(f"left running: {left}")
    return res


TABLE_COLUMNS = ("tried", "exit 2 clean", "other", "traceback", "data lost", "leaked")


def table(outcomes: list[Outcome]) -> str:
    """The corpus table: one row per family and a total (a case counts in its worst column)."""
    fams: dict[str, list[Outcome]] = {}
    for o in outcomes:
        fams.setdefault(o.case.family, []).append(o)
    rows = [("family", *TABLE_COLUMNS)]

    def row(name: str, os_: list[Outcome]) -> tuple[str, ...]:
        cat = [o.category for o in os_]
        return (
            name,
            str(len(os_)),
            str(cat.count("clean")),
            str(cat.count("other")),
            str(cat.count("traceback")),
            str(cat.count("data_lost")),
            str(cat.count("leaked")),
        )

    for fam in sorted(fams):
        rows.append(row(fam, fams[fam]))
    rows.append(row("total", outcomes))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(" | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
