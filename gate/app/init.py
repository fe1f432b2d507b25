"""``gate init``: a commented ``gate.yaml``, a policy and the schema files for one model.

What it writes is a plan (file -> text) and the commands to run next; the CLI writes the
files (refusing to overwrite without ``--force``) and prints the commands. The model's
interface comes from its ``config.pbtxt`` or a running server's metadata
(``gate.inputs.model_config``); the policy is the built-in one (``gate/data/policy.yaml``)
with its ``inconclusive:`` line set; the ``signatures:`` stanza fits the signing method the
user chose and comes with the exact commands that sign the model for it, since the gate
blocks every unsigned file by default.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from gate.errors import ConfigError
from gate.inputs.model_config import ModelSpec

SigningMethod = Literal["cosign-key", "sigstore-bundle", "model-signing", "none"]
SIGNING_METHODS: Final[tuple[str, ...]] = ("cosign-key", "sigstore-bundle", "model-signing", "none")
SCHEMA_DIR: Final = ".gate/schema"
GITHUB_ISSUER: Final = "https://token.actions.githubusercontent.com"


@dataclass(frozen=True)
class InitOptions:
    """What ``gate init`` was asked for. Paths are as the user gave them (cwd-relative)."""

    out_dir: Path
    model_dir: Path
    signing: SigningMethod = "model-signing"
    key: Path | None = None
    identity: str | None = None
    issuer: str | None = None
    eval_set: Path | None = None
    inconclusive: Literal["block", "pass"] = "block"
    github_workflow: bool = False


@dataclass
class InitPlan:
    """Files to write (path -> text) and the commands to run next, in order."""

    files: dict[Path, str] = field(default_factory=dict)
    sign_commands: list[str] = field(default_factory=list)
    next_commands: list[str] = field(default_factory=list)


def _rel(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` (the config's folder), as the config stores it."""
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def _signing_stanza(opts: InitOptions, model_rel: str) -> tuple[str, list[str]]:
    """The ``signatures:`` section and the commands that sign the model for it."""
    default_key = {"cosign-key": "keys/cosign.pub", "model-signing": "keys/model-signing.pub"}
    given = opts.key
    key_path = given if given is not None else opts.out_dir / default_key.get(opts.signing, "")
    key = _rel(key_path, opts.out_dir)  # in the config: relative to it
    key_cmd = _rel(key_path, Path.cwd())  # in the commands: relative to where they run
    files = f"find {model_rel} -type f ! -name '*.sig' ! -name '*.sigstore.json'"
    if opts.signing == "cosign-key":
        stanza = f"""\
signatures:
  required: true
  rules:
    - method: cosign-key          # FILE.sig beside every file of the model
      key: {key}"""
        cmds = [
            "cosign generate-key-pair   # once: cosign.key (keep it secret) and cosign.pub",
            f"mkdir -p {Path(key_cmd).parent} && mv cosign.pub {key_cmd}",
            f"{files} -exec cosign sign-blob --yes --key cosign.key "
            "--output-signature {}.sig {} \\;",
        ]
        return stanza, cmds if given is None else cmds[2:]
    if opts.signing == "sigstore-bundle":
        stanza = f"""\
signatures:
  required: true
  rules:
    - method: sigstore-bundle     # FILE.sigstore.json beside every file (keyless)
      identity: {opts.identity}
      issuer: {opts.issuer}"""
        cmds = [f"{files} -exec sigstore sign --bundle {{}}.sigstore.json {{}} \\;"]
        return stanza, cmds
    if opts.signing == "model-signing":
        stanza = f"""\
signatures:
  required: true
  rules:
    - method: model-signing       # one model.sig over the whole model folder (OpenSSF)
      mode: key
      key: {key}"""
        cmds = [
            "openssl ecparam -name prime256v1 -genkey -noout -out model-signing.key"
            "   # once; keep it secret, outside the repository",
            f"mkdir -p {Path(key_cmd).parent} && "
            f"openssl ec -in model-signing.key -pubout -out {key_cmd}",
            f"model_signing sign key {model_rel} --private_key model-signing.key "
            f"--signature {model_rel}/model.sig",
        ]
        return stanza, cmds if given is None else cmds[2:]
    stanza = """\
signatures:
  # NOT SIGNED: unsigned files pass with a warning on every run. A python-backend model.py is
  # code: sign the model (gate init --signing model-signing) and set required: true.
  required: false"""
    return stanza, []


def _accuracy_stanza(opts: InitOptions) -> str:
    if opts.eval_set is None:
        return """\
# Accuracy on a labelled eval set (gate-eval/1 JSONL or .npz), judged per sample against the
# baseline's scores (the policy's accuracy: section says how):
# accuracy:
#   eval_set: eval/my-model.jsonl.gz"""
    return f"""\
# Accuracy on this labelled eval set, judged per sample against the baseline's scores.
accuracy:
  eval_set: {_rel(opts.eval_set, opts.out_dir)}"""


def gate_yaml(model: ModelSpec, opts: InitOptions) -> tuple[str, list[str]]:
    """The commented ``gate.yaml`` and the commands that sign the model for it."""
    repo_rel = _rel(opts.model_dir.parent, opts.out_dir)
    model_rel = _rel(opts.model_dir, Path.cwd())
    signing, commands = _signing_stanza(opts, model_rel)
    inputs = ", ".join(f"{t.name} {t.datatype} {list(t.shape)}" for t in model.inputs)
    text = f"""\
# yaml-language-server: $schema={SCHEMA_DIR}/gate.schema.json
# The gate for model '{model.name}' (inputs: {inputs}; max_batch_size {model.max_batch_size}).
# Written by `gate init`; every key is in docs/configuration.md (`gate schema --markdown`).
# Relative paths are relative to this file.
version: 1
model:
  name: {model.name}
{f"  repository: {repo_rel}".ljust(33)} # the Triton repository holding {model.name}/config.pbtxt
launcher:
  kind: local                     # the embedded tritonserver (pip install 'triton-gate[embedded]')
traffic:
  # The requests to replay. Real traffic is the point: `gate traffic import` turns Triton
  # traces or perf_analyzer input files into this format. Until you have some,
  # `gate traffic synth` writes synthetic requests here (a stop-gap).
  path: traffic/{model.name}.jsonl.gz
  warmup_requests: 50
measure:
  protocol: http
baseline:
  store: .gate/baselines          # `gate baseline record` writes here (a folder or s3://…)
  runs: 3                         # replays on fresh servers: the run-to-run noise
  # Live A/B: the baseline model beside the candidate in one server, every check paired and
  # sampled until it decides (stored runs of other server starts rarely can). Until you set
  # model_dir, the folder the stored baseline was recorded from is the baseline model while
  # its files are unchanged (after you edit the model in place, the stored runs are used).
  ab_from_store: true
  # The target branch's model folder (in CI: its checkout), the baseline model of every check:
  # model_dir: ../main/models/{model.name}
policy: policy.yaml               # leave out for the built-in policy (`gate policy show`)
reports:
  dir: reports
{_accuracy_stanza(opts)}
{signing}
"""
    return text, commands


def policy_yaml(inconclusive: str) -> str:
    """The built-in policy with ``inconclusive:`` set and a header saying so."""
    from gate.config.policy import default_policy_path

    base = default_policy_path().read_text(encoding="utf-8")
    base = base[base.index("version:") :]  # its own header speaks of the built-in policy
    header = f"""\
# yaml-language-server: $schema={SCHEMA_DIR}/policy.schema.json
# The policy of this gate, written by `gate init` from the built-in one (`gate policy show`).
"""
    if inconclusive == "pass":
        header += """\
# It lets an INCONCLUSIVE check pass (still undecided when the sampling budget `ab:` was
# spent): the verdict is PASS with a warning and every report counts those checks as
# inconclusive, never as passed. The built-in `inconclusive: block` is the safe choice.
"""
    text, n = re.subn(r"^inconclusive: block$", f"inconclusive: {inconclusive}", base, flags=re.M)
    if n != 1:
        raise RuntimeError("the built-in policy has no 'inconclusive: block' line")
    return header + text


def workflow_yaml(model: ModelSpec, config_rel: str) -> str:
    """A GitHub Actions workflow that gates pull requests with this config."""
    return f"""\
# Gate every pull request that touches the model, its traffic or the gate's files.
# Written by `gate init`; docs/ci.md has the full templates (live A/B against the target
# branch, promote on merge, nightly runs). Baselines: record them on the accepted model
# (`gate baseline record {config_rel}`) and commit .gate/baselines, or use an object store.
name: gate {model.name}
on:
  pull_request:
permissions:
  contents: read
jobs:
  gate:
    runs-on: ubuntu-24.04
    timeout-minutes: 60
    steps:
      - uses: actions/checkout@v6
        with:
          persist-credentials: false
      - uses: actions/setup-python@v6
        with:
          python-version: "3.11"
      - name: Install the gate
        run: |
          python -m pip install 'triton-gate[embedded]'
          gate doctor --install
      - name: Gate
        run: gate check {config_rel}
      - name: Keep the reports
        if: always()
        uses: actions/upload-artifact@v6
        with:
          name: gate-{model.name}
          path: reports/
"""


def plan_init(model: ModelSpec, opts: InitOptions) -> InitPlan:
    """Everything ``gate init`` writes, and the commands to run next."""
    from gate.config.reference import SCHEMA_FILES, schema_text

    if opts.signing in ("sigstore-bundle",) and not (opts.identity and opts.issuer):
        raise ConfigError(
            f"--signing {opts.signing} needs --identity and --issuer (who signs, and the "
            "OIDC issuer that vouches for them)",
            hint=f"e.g. --identity you@example.com --issuer https://accounts.google.com, or "
            f"--issuer {GITHUB_ISSUER} for a GitHub workflow",
        )
    plan = InitPlan()
    config, plan.sign_commands = gate_yaml(model, opts)
    out = opts.out_dir
    plan.files[out / "gate.yaml"] = config
    plan.files[out / "policy.yaml"] = policy_yaml(opts.inconclusive)
    for kind, name in SCHEMA_FILES.items():
        plan.files[out / SCHEMA_DIR / name] = schema_text(kind)
    config_rel = _rel(out / "gate.yaml", Path.cwd())
    if opts.github_workflow:
        plan.files[out / ".github" / "workflows" / f"gate-{model.name}.yml"] = workflow_yaml(
            model, config_rel
        )
    plan.next_commands = [
        f"gate traffic synth --config {config_rel}    # or: gate traffic import TRACE …",
        f"gate baseline record {config_rel}",
        f"gate check {config_rel}",
    ]
    return plan
