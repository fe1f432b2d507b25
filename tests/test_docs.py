"""The README is a front door and the docs hold together.

* every relative link in README.md and docs/*.md points at a file that exists, and every
  ``#anchor`` at a heading of that file (GitHub's anchor rules);
* the README's first screen is the first hour: install, doctor, init, check, and the two
  repository commands (``scripts/demo.sh`` for the main job, ``scripts/test.sh`` for the
  tests) — and it stays short;
* no passage is written twice (the old README repeated whole paragraphs);
* every command the docs show exists in the CLI.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1", re.S | re.M)


def _prose(text: str) -> str:
    return _FENCE.sub("", text)


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(path.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"^#{1,6} (.+)$", line)
        if not m:
            continue
        a = _anchor(m.group(1))
        n = seen.get(a, 0)
        seen[a] = n + 1
        out.add(a if n == 0 else f"{a}-{n}")
    return out


def test_every_relative_link_resolves() -> None:
    assert len(PAGES) >= 8
    broken = []
    for page in PAGES:
        for target in _LINK.findall(_prose(page.read_text(encoding="utf-8"))):
            if re.match(r"^[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                broken.append(f"{page.name}: {target} (no file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.name}: {target} (no heading)")
    assert not broken, broken


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in PAGES[1:]:
        assert f"(docs/{page.name})" in readme, page.name


def test_first_screen_is_the_first_hour() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    first = "\n".join(lines[:40])
    first = first[first.index("```bash") :]  # the commands, in the order a newcomer runs them
    order = [
        "pip install 'triton-gate[embedded]'",
        "gate doctor --install",
        "gate init",
        "gate check",
        "bash scripts/demo.sh",
        "bash scripts/test.sh",
    ]
    at = [first.find(s) for s in order]
    assert all(i >= 0 for i in at) and at == sorted(at), dict(zip(order, at, strict=True))
    assert len(lines) < 70, "the README is a front door: long text belongs in docs/"


def test_no_passage_is_written_twice() -> None:
    seen: dict[str, str] = {}
    repeated = []
    for page in PAGES:
        if page.name == "configuration.md":  # generated, tables by design
            continue
        for para in re.split(r"\n\s*\n", _prose(page.read_text(encoding="utf-8"))):
            text = " ".join(para.split())
            if len(text) < 120 or text.startswith(("|", "#")):
                continue
            if text in seen:
                repeated.append(f"{page.name} repeats {seen[text]}: {text[:60]}…")
            seen[text] = page.name
    assert not repeated, repeated


def test_the_commands_the_docs_show_exist() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in PAGES)
    commands = sorted(set(re.findall(r"^\s*gate ((?:[a-z]+)(?: [a-z]+)?)", text, re.M)))
    assert "init" in {c.split()[0] for c in commands}
    for command in commands:
        words = command.split()
        done = subprocess.run(
            [sys.executable, "-m", "gate", *words, "--help"], capture_output=True, text=True
        )
        if done.returncode != 0 and len(words) == 2:  # "gate check gate.yaml": one word
            done = subprocess.run(
                [sys.executable, "-m", "gate", words[0], "--help"], capture_output=True, text=True
            )
        assert done.returncode == 0, (command, done.stderr)


def test_sample_configs_in_the_docs_are_valid() -> None:
    """A ``yaml`` block that says it is a gate.yaml validates against the models (paths
    are not looked up: they are the reader's)."""
    import yaml

    from gate.config.config import GateConfig

    samples = []
    for page in PAGES:
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            if block.lstrip().startswith("# gate.yaml"):
                samples.append(block)
                GateConfig.model_validate(yaml.safe_load(block))
    assert samples, "no gate.yaml sample found in the docs"
