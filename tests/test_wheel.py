"""The first hour, from the built wheel: the README's quick start in a fresh virtualenv.

The wheel is built from this checkout and installed with its ``[embedded]`` extra into a new
``python -m venv`` (no system site-packages, so a data file missing from the wheel fails
here) in a temporary folder outside the repository. A copy of the demo model, stripped of
its signatures, is the user's model; nothing else from the checkout is used. The commands
are the lines of the README's quick-start block, run as written (the install line installs
the wheel instead of the index's release, and ``gate init`` gets the model's folder), plus
the signing commands ``gate init`` printed. The last one, ``gate check``, must PASS.

Needs the network or a warm pip cache for the dependencies (as any pip install does) and
starts real tritonservers: marked ``server``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.server


def quick_start() -> list[str]:
    """The commands of the README's quick-start block, comments stripped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- quick-start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def _run(cmd: str, cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run(
        ["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{cmd} → exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_readme_quick_start_from_the_wheel_reaches_pass(tmp_path: Path) -> None:
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("triton_gate-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    shutil.copytree(
        ROOT / "fixtures" / "models" / "v1" / "demo",
        work / "models" / "demo",
        ignore=shutil.ignore_patterns("*.sig", "__pycache__"),
    )
    commands = quick_start()
    assert [c.split()[:2] for c in commands][:3] == [
        ["pip", "install"],
        ["gate", "doctor"],
        ["gate", "init"],
    ]
    for command in commands:
        if command.startswith("pip install"):
            command = command.replace("'triton-gate[embedded]'", f"'{wheel}[embedded]'")
        command = command.replace("path/to/model_repository", "models")
        out = _run(command, work, env)
        if command.startswith("gate init"):
            # the installed gate, not this checkout's
            where = _run("python -c 'import gate; print(gate.__file__)'", work, env)
            assert str(venv) in where and str(ROOT) not in where, where
            signing = out.split("Sign the model", 1)[1].split("\nThen:", 1)[0].splitlines()[1:]
            for line in signing:
                _run(line.split("   #")[0].strip(), work, env)
    summary = (work / "reports" / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## ✅ PASS — `demo`"), summary[:400]
    assert re.search(r"^\d+ checks: \d+ passed", summary.splitlines()[2]), summary[:400]
    assert str(tmp_path) not in summary  # no runner paths in what goes into a PR comment
    packaged = _run("gate policy show", work, env)
    assert packaged.startswith("# gate's built-in policy")
