"""``gate policy show``: the policy a run would use, as YAML to read or to start one's own."""

from __future__ import annotations

from pathlib import Path

import click

from gate.cli import options
from gate.cli.group import GateGroup


@click.group(cls=GateGroup)
def policy() -> None:
    """Show the policy: tolerances, alpha, power and which checks run."""


@policy.command("show")
@options.config_file("Show the policy this gate.yaml uses (its policy: file, or the built-in one).")
def policy_show(config: Path | None) -> None:
    """Print the built-in policy (commented YAML), or the one a gate.yaml names.

    `gate policy show > policy.yaml` starts a policy of your own; name it in gate.yaml as
    `policy: policy.yaml`. Without `policy:` a run uses exactly what this prints."""
    from gate.config.policy import default_policy_path, load_policy

    path: Path | None = None
    if config is not None:
        from gate.config.config import load_config

        path = load_config(config).policy
    if path is None:
        click.echo(default_policy_path().read_text(encoding="utf-8"), nl=False)
        return
    load_policy(path)  # a policy that does not load is exit 2 here too, naming the field
    click.echo(f"# {path} (named by {config})")
    click.echo(path.read_text(encoding="utf-8"), nl=False)
