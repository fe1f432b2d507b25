"""``gate plan``: which models a CI run should gate, as a GitHub Actions matrix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from gate.cli import options
from gate.errors import ConfigError


@click.command()
@click.option(
    "--changed-since",
    "ref",
    metavar="REF",
    help="Plan the models whose inputs changed since the merge base of REF and HEAD.",
)
@click.option("--all", "everything", is_flag=True, help="Plan every model (nightly jobs).")
@options.folder_here("--root", help="A folder inside the git repository to plan.")
@options.file_option(
    "--plan",
    "plan_path",
    help="Plan file (default: gate-plan.yaml at the repository root, if present).",
)
@click.option(
    "--github-output",
    is_flag=True,
    help="Also append matrix=… and count=… to the file named by $GITHUB_OUTPUT.",
)
@click.option(
    "--trusted-config-from",
    "trusted_from",
    metavar="REF",
    help="Also list what the change edits in the gate's rules since this commit (plan file, "
    "configs, policies, keys, baseline store, trust paths); with --github-output also "
    "trust-changes=N and trust-report (Markdown).",
)
def plan(
    ref: str | None,
    everything: bool,
    root: Path,
    plan_path: Path | None,
    github_output: bool,
    trusted_from: str | None,
) -> None:
    """Print a CI matrix (JSON) of the models to gate: {"include": [{"model", "config"}, …]}."""
    from gate.app.plan import GITHUB_MATRIX_LIMIT, make_plan, write_github_output
    from gate.app.trust_report import trust_report

    result = make_plan(root, ref=ref, plan_path=plan_path, everything=everything)
    trust = trust_report(root, trusted_from) if trusted_from else None
    for line in trust.changes if trust is not None else ():
        click.echo(f"gate plan: needs review: {line}", err=True)
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
        if trust is not None:
            from gate.report.github import write_outputs

            values = {"trust-changes": str(len(trust.changes)), "trust-report": trust.markdown()}
            write_outputs(values, out)
