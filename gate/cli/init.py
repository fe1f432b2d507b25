"""``gate init``: start gating a model in one command."""

from __future__ import annotations

from pathlib import Path

import click

from gate.cli import options
from gate.errors import ConfigError


@click.command("init")
@click.argument("model_repository", type=options.FOLDER, default=".", required=False)
@options.MODEL_FOLDER
@options.SERVER_URL
@click.option(
    "--dir",
    "out_dir",
    type=options.FOLDER,
    default=".",
    show_default=True,
    help="Where gate.yaml, policy.yaml and .gate/schema/ go.",
)
@click.option(
    "--signing",
    type=click.Choice(["model-signing", "cosign-key", "sigstore-bundle", "none"]),
    default="model-signing",
    show_default=True,
    help="How your model's files are signed.",
)
@click.option(
    "--key", type=options.FILE, help="The signer's public key (model-signing, cosign-key)."
)
@click.option("--identity", help="sigstore-bundle: who signs (email or workflow URI).")
@click.option("--issuer", help="sigstore-bundle: the OIDC issuer vouching for --identity.")
@click.option(
    "--eval-set",
    type=options.FILE,
    help="A labelled eval set (gate-eval/1) for the accuracy checks.",
)
@click.option(
    "--inconclusive",
    type=click.Choice(["pass", "block"]),
    default="pass",
    show_default=True,
    help="What an INCONCLUSIVE check does in the written policy (pass: with a warning).",
)
@click.option(
    "--github-workflow",
    is_flag=True,
    help="Also write .github/workflows/gate-MODEL.yml (gate check on pull requests).",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(
    model_repository: Path,
    name: str | None,
    url: str | None,
    out_dir: Path,
    signing: str,
    key: Path | None,
    identity: str | None,
    issuer: str | None,
    eval_set: Path | None,
    inconclusive: str,
    github_workflow: bool,
    force: bool,
) -> None:
    """Write a commented gate.yaml and policy.yaml for the model in MODEL_REPOSITORY.

    Reads the model's config.pbtxt (or --url's served metadata), writes the config with a
    signatures: section for --signing, the JSON Schemas for your editor under .gate/schema/,
    and prints the commands that sign the model and run the gate. Refuses to overwrite
    without --force."""
    from typing import Any

    from gate.app.init import InitOptions, plan_init
    from gate.files import atomic_write
    from gate.inputs.model_config import find_model_dir, read_model_config, read_served_model

    model_dir = find_model_dir(model_repository, name)
    spec = read_served_model(url, model_dir.name) if url else read_model_config(model_dir)
    method: Any = signing
    policy: Any = inconclusive
    opts = InitOptions(
        out_dir=out_dir,
        model_dir=model_dir,
        signing=method,
        key=key,
        identity=identity,
        issuer=issuer,
        eval_set=eval_set,
        inconclusive=policy,
        github_workflow=github_workflow,
    )
    plan = plan_init(spec, opts)
    existing = [p for p in plan.files if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise ConfigError(f"{names}: already exists", hint="pass --force to overwrite")
    for path, text in plan.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)
        click.echo(f"written: {path}")
    if plan.sign_commands:
        click.echo("\nSign the model (the gate blocks unsigned files; re-sign after each change):")
        click.echo("".join(f"  {c}\n" for c in plan.sign_commands), nl=False)
    click.echo("\nThen:")
    click.echo("".join(f"  {c}\n" for c in plan.next_commands), nl=False)
