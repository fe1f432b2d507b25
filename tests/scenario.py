"""The scenario most end-to-end tests share: write a gate.yaml, run the real CLI, read run.json.

    r = gate_run(tmp_path, "check", store=store, policy=AA_POLICY)
    assert r.returncode == 0, r.output
    assert r.run["verdict"] == "PASS" and r.status["latency shift"] == "pass"

The config is ``conftest.write_config``'s (reports in ``tmp_path/r``, a store in
``tmp_path/store`` unless given); ``policy`` may be the text of a policy file, ``baseline``
lines added under ``baseline:`` (live A/B settings), ``extra`` whole sections.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from conftest import Completed, run_gate, write_config

#: A/A policy for real-machine tests: alpha 0.001 keeps the flake rate at most 1/1000, and
#: the latency checks that a noisy shared machine leaves INCONCLUSIVE pass with a warning.
AA_POLICY = "version: 1\nalpha: 0.001\ninconclusive: pass\n"

#: AA_POLICY with a short sampling budget, for tests whose subject is not the verdict
#: (faults, storage, notifications, signatures, parallel runs, the environment guard): an
#: unchanged model seldom decides every check on a shared machine, so under the default
#: budget (``ab.max_duration_s`` 120) each such test sat through two minutes of sampling.
#: 15 s still takes the first look (stored mode: after the configured runs); the checks it
#: leaves undecided pass with a warning (``inconclusive: pass``). Tests of the verdict
#: itself (``test_e2e.test_identical_model_passes``) keep the default budget.
SHORT_AA_POLICY = AA_POLICY + "ab: {max_duration_s: 15}\n"


def gate_yaml(
    tmp_path: Path,
    *,
    policy: str | Path | None = None,
    baseline: str = "",
    edit: Mapping[str, str] | None = None,
    name: str = "gate.yaml",
    **config: Any,
) -> Path:
    """Write ``tmp_path/<name>``: ``policy`` text goes to ``tmp_path/policy.yaml``;
    ``baseline`` lines (indented by two) go under ``baseline:``; each ``edit`` replaces every
    occurrence of a piece of the template's text (``{"retries: 2": "retries: 1"}``;
    ``timeout_s: 120`` is both the load and the measure timeout); ``config`` is passed to
    ``conftest.write_config`` (``store`` and ``reports`` default to ``tmp_path``'s)."""
    if isinstance(policy, str):
        path = tmp_path / "policy.yaml"
        path.write_text(policy)
        policy = path
    if policy is not None:
        config["policy"] = policy
    config.setdefault("store", tmp_path / "store")
    config.setdefault("reports", tmp_path / "r")
    cfg = write_config(tmp_path / name, **config)
    text = cfg.read_text()
    if baseline:
        lines = "".join(f"  {ln}\n" for ln in baseline.strip().splitlines())
        text = text.replace("baseline:\n", "baseline:\n" + lines, 1)
    for old, new in (edit or {}).items():
        assert old in text, f"{old!r} is not in the config template"
        text = text.replace(old, new)
    cfg.write_text(text)
    return cfg


@dataclass
class GateRun:
    """One finished gate command and what it left in its reports folder."""

    completed: Completed
    config: Path
    root: Path  # the config's reports.dir
    command: tuple[str, ...] = ("check",)

    @property
    def reports(self) -> Path:
        """Where this command wrote its reports (``baseline record``: a subfolder)."""
        return self.root / "baseline" if self.command[:2] == ("baseline", "record") else self.root

    @property
    def returncode(self) -> int:
        return self.completed.returncode

    @property
    def output(self) -> str:
        return self.completed.output

    @property
    def stdout(self) -> str:
        return self.completed.stdout

    @property
    def children(self) -> set[int]:
        return self.completed.children

    @cached_property
    def run(self) -> dict[str, Any]:
        """run.json, parsed."""
        return dict(json.loads((self.reports / "run.json").read_text()))

    @property
    def checks(self) -> dict[str, dict[str, Any]]:
        """The run's checks by name."""
        return {c["name"]: c for c in self.run["checks"]}

    @property
    def status(self) -> dict[str, str]:
        """Each check's status by name."""
        return {name: c["status"] for name, c in self.checks.items()}

    def junit_failures(self) -> list[str]:
        tree = ET.parse(self.reports / "junit.xml")
        return [f.get("message", "") for f in tree.iter("failure")]

    def again(
        self, *args: str, command: Sequence[str] = ("check",), timeout: float = 300
    ) -> GateRun:
        """Run another command on the same config (its reports replace these)."""
        return _run(self.config, self.root, command, args, timeout, None)


def gate_run(
    tmp_path: Path,
    *command: str,
    args: Sequence[str] = (),
    timeout: float = 300,
    env: dict[str, str] | None = None,
    **config: Any,
) -> GateRun:
    """Write the config (``gate_yaml``), run ``gate COMMAND CONFIG ARGS`` (default
    ``check``), and keep what it left."""
    cfg = gate_yaml(tmp_path, **config)
    reports = Path(config.get("reports", tmp_path / "r"))
    return _run(cfg, reports, command or ("check",), args, timeout, env)


def _run(
    cfg: Path,
    reports: Path,
    command: Sequence[str],
    args: Sequence[str],
    timeout: float,
    env: dict[str, str] | None,
) -> GateRun:
    res = run_gate(*command, str(cfg), *args, timeout=timeout, env=env)
    return GateRun(res, cfg, reports, tuple(command))
