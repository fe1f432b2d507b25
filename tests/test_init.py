"""``gate init``: what it writes loads, validates against its own schema, and refuses to
overwrite; the workflow it writes passes actionlint; the signing commands it prints work.

The commands for OpenSSF model signing are run here as printed (openssl and the
``model_signing`` CLI the gate depends on) and the result is verified by ``gate verify``, so
a wrong flag in them fails this test. cosign is not installable on these machines, so the
cosign commands are checked for form only. The whole path to a PASS (init → traffic synth
→ baseline record → check, from the built wheel) is ``tests/test_wheel.py``.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import FIXTURES, run_gate

from gate.config.config import load_config
from gate.config.policy import Policy, load_policy

V1 = FIXTURES / "models" / "v1"


def _unsigned_copy(tmp: Path) -> Path:
    repo = tmp / "models"
    shutil.copytree(V1 / "demo", repo / "demo", ignore=shutil.ignore_patterns("*.sig"))
    return repo


def _init(tmp: Path, *args: str) -> tuple[int, str, str]:
    done = run_gate("init", *args, cwd=tmp, timeout=60)
    return done.returncode, done.stdout, done.stderr


def _commands(out: str) -> list[str]:
    lines = out.split("Sign the model", 1)[1].split("\nThen:", 1)[0].splitlines()[1:]
    return [line.split("   #")[0].strip() for line in lines if line.strip()]


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        ((), {"method": "model-signing", "mode": "key", "key": "keys/model-signing.pub"}),
        (
            ("--signing", "cosign-key", "--key", "k/c.pub"),
            {"method": "cosign-key", "key": "k/c.pub"},
        ),
        (
            (
                "--signing",
                "sigstore-bundle",
                "--identity",
                "me@example.com",
                "--issuer",
                "https://accounts.google.com",
            ),
            {"method": "sigstore-bundle", "identity": "me@example.com"},
        ),
    ],
)
def test_written_config_loads_and_validates(
    tmp_path: Path, args: tuple[str, ...], rule: dict[str, str]
) -> None:
    _unsigned_copy(tmp_path)
    code, out, err = _init(tmp_path, "models", *args)
    assert code == 0, err
    text = (tmp_path / "gate.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=.gate/schema/gate.schema.json\n")
    cfg = load_config(tmp_path / "gate.yaml")
    assert cfg.model.name == "demo" and cfg.model.repository == (tmp_path / "models").resolve()
    assert cfg.traffic.path == (tmp_path / "traffic" / "demo.jsonl.gz").resolve()
    assert cfg.signatures is not None and cfg.signatures.required
    got = cfg.signatures.rules[0].model_dump()
    assert all(got[k] == v for k, v in rule.items()), got
    policy = load_policy(cfg.policy)
    assert policy == Policy()  # the built-in policy: an undecided check blocks
    assert cfg.baseline.ab_from_store  # live A/B against the recorded model while unchanged
    for name, doc in (("gate", text), ("policy", (tmp_path / "policy.yaml").read_text())):
        schema = (tmp_path / ".gate" / "schema" / f"{name}.schema.json").read_text()
        jsonschema.validate(yaml.safe_load(doc), yaml.safe_load(schema))
    assert "gate traffic synth --config gate.yaml" in out and "gate check gate.yaml" in out


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    _unsigned_copy(tmp_path)
    assert _init(tmp_path, "models")[0] == 0
    (tmp_path / "gate.yaml").write_text("# mine\n")
    code, _, err = _init(tmp_path, "models", "--inconclusive", "pass")
    assert code == 2 and "gate.yaml" in err and "--force" in err
    assert (tmp_path / "gate.yaml").read_text() == "# mine\n"
    assert _init(tmp_path, "models", "--inconclusive", "pass", "--force")[0] == 0
    assert load_policy(tmp_path / "policy.yaml") == Policy(inconclusive="pass")


def test_bad_input_is_exit_2_with_one_line(tmp_path: Path) -> None:
    code, _, err = _init(tmp_path, "nowhere")
    assert code == 2 and "nowhere: folder not found" in err
    _unsigned_copy(tmp_path)
    code, _, err = _init(tmp_path, "models", "--signing", "sigstore-bundle")
    assert code == 2 and "--identity and --issuer" in err and len(err.strip().splitlines()) == 1


def test_model_signing_commands_sign_what_the_gate_verifies(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to run the printed key commands (apt-get install openssl)")
    _unsigned_copy(tmp_path)
    code, out, err = _init(tmp_path, "models")
    assert code == 0, err
    commands = _commands(out)
    assert [c.split()[0] for c in commands] == ["openssl", "mkdir", "model_signing"]
    bindir = Path(sys.executable).parent
    env_path = f"{bindir}:{subprocess.os.environ.get('PATH', '')}"
    for command in commands:
        subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            check=True,
            env={**subprocess.os.environ, "PATH": env_path},
            capture_output=True,
        )
    verified = run_gate("verify", "--config", "gate.yaml", cwd=tmp_path, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    (tmp_path / "models" / "demo" / "1" / "model.py").write_text("# changed\n")
    tampered = run_gate("verify", "--config", "gate.yaml", cwd=tmp_path, timeout=120)
    assert tampered.returncode == 1


def test_cosign_commands_cover_every_file(tmp_path: Path) -> None:
    _unsigned_copy(tmp_path)
    code, out, _ = _init(tmp_path, "models", "--signing", "cosign-key")
    assert code == 0
    commands = _commands(out)
    sign = shlex.split(commands[-1])
    assert sign[:4] == ["find", "models/demo", "-type", "f"]
    assert "sign-blob" in sign and "--output-signature" in sign and "{}.sig" in sign


def test_workflow_passes_actionlint(tmp_path: Path) -> None:
    from test_actions import actionlint_bin

    _unsigned_copy(tmp_path)
    code, _, err = _init(tmp_path, "models", "--github-workflow")
    assert code == 0, err
    wf = tmp_path / ".github" / "workflows" / "gate-demo.yml"
    assert "gate check gate.yaml" in wf.read_text()
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shellcheck = shutil.which("shellcheck") or ""
    lint = subprocess.run(
        [
            str(actionlint_bin()),
            "-oneline",
            "-no-color",
            f"-shellcheck={shellcheck}",
            "-pyflakes=",
            str(wf.relative_to(tmp_path)),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
