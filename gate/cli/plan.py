"""``gate plan``: which models a CI run should gate, as a GitHub Actions matrix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from gate.errors import ConfigError


@click.command()
@click.option(
    "--changed-since",
    "ref",
    metavar="REF",
    help="Plan the models whose inputs changed since the merge base of REF and HEAD.",
)
@click.option("--all", "everything", is_flag=True, help="Plan every model (nightly jobs).")
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=".",
    show_default=True,
    help="A folder inside the git repository to plan.",
)
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Plan file (default: gate-plan.yaml at the repository root, if present).",
)
@click.option(
    "--github-output",
    is_flag=True,
    help="Also append matrix=… and count=… to the file named by $GITHUB_OUTPUT.",
)
def plan(
    ref: str | None, everything: bool, root: Path, plan_path: Path | None, github_output: bool
) -> None:
    """Print a CI matrix (JSON) of the models to gate: {"include": [{"model", "config"}, …]}."""
    from gate.app.plan import GITHUB_MATRIX_LIMIT, make_plan, write_github_output

    result = make_plan(root, ref=ref, plan_path=plan_path, everything=everything)
    click.echo(result.summary(), err=True)
    if len(result.include) > GITHUB_MATRIX_LIMIT:
        click.echo(
            f"gate plan: warning: {len(result.include)} jobs exceed GitHub's matrix limit of "
            f"{GITHUB_MATRIX_LIMIT}; split the plan (gate-plan.yaml) into several workflows",
            err=True,
        )
    click.echo(json.dumps(result.matrix(), separators=(",", ":")))
    if github_output:
        out = os.environ.get("GITHUB_OUTPUT")
        if not out:
            raise ConfigError("--github-output: $GITHUB_OUTPUT is not set", hint="run in Actions")
        write_github_output(result, out)
