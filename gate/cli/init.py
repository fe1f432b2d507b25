"""``gate init``: start gating a model in one command."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from gate.cli import options

if TYPE_CHECKING:
    from gate.app.init import SigningMethod


@click.command("init")
@click.argument("model_repository", type=options.FOLDER, default=".", required=False)
@options.MODEL_FOLDER
@options.SERVER_URL
@options.folder_here("--dir", "out_dir", help="Where gate.yaml, policy.yaml and .gate/schema/ go.")
@click.option(
    "--signing",
    type=click.Choice(["model-signing", "cosign-key", "sigstore-bundle", "none"]),
    default="model-signing",
    show_default=True,
    help="How your model's files are signed.",
)
@options.file_option("--key", help="The signer's public key (model-signing, cosign-key).")
@click.option("--identity", help="sigstore-bundle: who signs (email or workflow URI).")
@click.option("--issuer", help="sigstore-bundle: the OIDC issuer vouching for --identity.")
@options.file_option(
    "--eval-set", help="A labelled eval set (gate-eval/1) for the accuracy checks."
)
@click.option(
    "--inconclusive",
    type=click.Choice(["pass", "block"]),
    default="block",
    show_default=True,
    help="What an INCONCLUSIVE check does in the written policy (pass: with a warning).",
)
@click.option(
    "--github-workflow",
    is_flag=True,
    help="Also write .github/workflows/gate-MODEL.yml (gate check on pull requests).",
)
@options.force("Overwrite files that exist.")
def init(
    model_repository: Path,
    name: str | None,
    url: str | None,
    out_dir: Path,
    signing: SigningMethod,
    key: Path | None,
    identity: str | None,
    issuer: str | None,
    eval_set: Path | None,
    inconclusive: Literal["block", "pass"],
    github_workflow: bool,
    force: bool,
) -> None:
    """Write a commented gate.yaml and policy.yaml for the model in MODEL_REPOSITORY.

    Reads the model's config.pbtxt (or --url's served metadata), writes the config with a
    signatures: section for --signing, the JSON Schemas for your editor under .gate/schema/,
    and prints the commands that sign the model and run the gate. Refuses to overwrite
    without --force."""
    from gate.app.init import InitOptions, plan_init
    from gate.files import atomic_write
    from gate.inputs.model_config import find_model_dir, read_model_config, read_served_model

    model_dir = find_model_dir(model_repository, name)
    spec = read_served_model(url, model_dir.name) if url else read_model_config(model_dir)
    opts = InitOptions(
        out_dir=out_dir,
        model_dir=model_dir,
        signing=signing,
        key=key,
        identity=identity,
        issuer=issuer,
        eval_set=eval_set,
        inconclusive=inconclusive,
        github_workflow=github_workflow,
    )
    plan = plan_init(spec, opts)
    existing = [p for p in plan.files if p.exists()]
    options.refuse_overwrite(existing, force, hint="pass --force to overwrite")
    for path, text in plan.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)
        click.echo(f"written: {path}")
    if plan.sign_commands:
        click.echo("\nSign the model (the gate blocks unsigned files; re-sign after each change):")
        click.echo("".join(f"  {c}\n" for c in plan.sign_commands), nl=False)
    click.echo("\nThen:")
    click.echo("".join(f"  {c}\n" for c in plan.next_commands), nl=False)
